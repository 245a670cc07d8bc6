"""The U-Net is drawn as a U: encoder down the left, decoder up the right, skip wires across."""

from __future__ import annotations

import importlib

import pytest

from ncdl import architectures
from ncdl.compiler.diagram.page import layout, measure

ushape = importlib.import_module("ncdl.compiler.diagram.ushape")


@pytest.fixture(scope="module")
def unet() -> dict:
    """The default diagram of the bundled UNetSmall (depth 2), as Graphviz draws it."""
    return layout(architectures.load("unet").render("UNetSmall"))


def _boxes(drawn: dict) -> dict[str, tuple[float, float]]:
    """Box label path (``down``, ``conv``) and level -> centre, from the drawn boxes' tooltips."""
    out = {}
    for obj in drawn["objects"]:
        tip = obj.get("tooltip", "")
        if tip.startswith("DoubleConv unet"):
            x, y = (float(v) for v in obj["pos"].split(","))
            out[tip.split(" ", 1)[1]] = (x, y)
    return out


def test_the_recursion_is_found_and_a_plain_model_has_none() -> None:
    assert ushape.chain(architectures.load("unet").graph("UNetSmall")) == ("unet", "unet.inner", "unet.inner.inner")
    assert ushape.chain(architectures.load("gpt").graph("GPT")) == ()


def test_encoder_goes_down_the_left_and_decoder_comes_up_the_right(unet: dict) -> None:
    at = _boxes(unet)
    downs = [at["unet.down"], at["unet.inner.down"], at["unet.inner.inner.down"]]
    assert downs[0][1] > downs[1][1] > downs[2][1]  # y grows upwards: each level lower
    for level in ("unet", "unet.inner"):
        down, conv = at[f"{level}.down"], at[f"{level}.conv"]
        assert conv[1] == pytest.approx(down[1])  # a level's two sides on one rank
        assert conv[0] > down[0]  # the decoder on the right


def test_each_skip_wire_runs_straight_across(unet: dict) -> None:
    by_id = {o["_gvid"]: o for o in unet["objects"] if "pos" in o}
    concats = [o for o in by_id.values() if " concat " in o.get("tooltip", "")]
    assert len(concats) == 2
    for concat in concats:
        y = float(concat["pos"].split(",")[1])
        copies = [
            by_id[e["tail"]]
            for e in unet["edges"]
            if by_id.get(e["head"]) is concat and by_id.get(e["tail"], {}).get("shape") == "point"
        ]
        assert copies and all(float(c["pos"].split(",")[1]) == pytest.approx(y) for c in copies)


def test_the_u_fits_a_page_and_can_be_turned_off() -> None:
    program = architectures.load("unet")
    assert measure(program.render("UNet")).fits
    rows = program.render("UNetSmall", u=False).source
    assert "UNetLevel(depth=2) =" in rows  # the nested level panels instead
    assert "UNetLevel(depth=2) =" not in program.render("UNetSmall").source  # the U opens every level
