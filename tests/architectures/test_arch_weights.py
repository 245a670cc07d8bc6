"""ncdl.weights: copying a torch state dict into a compiled module by name."""

from __future__ import annotations

import pytest
import torch

import ncdl
from ncdl.weights import load_torch_state_dict

SOURCE = """
axis batch
axis vocab = 5, model = 8, heads = 2, head = 4
model M(ids: int[batch] of vocab) -> [batch, vocab] {
    x = embed[vocab -> model](ids) as tok
    h = linear[model -> heads head](x) as q
    y = linear[heads head -> model](h) as block_out
    return linear[model -> vocab](y, bias=false, tie=tok) as head
}
"""


def _module() -> torch.fx.GraphModule:
    return ncdl.loads(SOURCE).to_torch()


def _source() -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return {
        "tok.weight": torch.randn(5, 8, generator=gen),
        "q.weight": torch.randn(8, 8, generator=gen),
        "q.bias": torch.randn(8, generator=gen),
        "out.weight": torch.randn(8, 8, generator=gen),
        "out.bias": torch.randn(8, generator=gen),
    }


def test_tensors_are_copied_by_name_and_reshaped() -> None:
    gm, sd = _module(), _source()
    unused = load_torch_state_dict(gm, sd, {"block_out": "out"})
    assert unused == []
    assert gm.get_parameter("q.weight").shape == (2, 4, 8)
    torch.testing.assert_close(gm.get_parameter("q.weight").flatten(0, 1), sd["q.weight"])
    torch.testing.assert_close(gm.get_parameter("block_out.bias"), sd["out.bias"])


def test_a_tied_copy_needs_no_source_of_its_own() -> None:
    gm, sd = _module(), _source()
    load_torch_state_dict(gm, sd, {"block_out": "out"})
    torch.testing.assert_close(gm.state_dict()["head.weight"], sd["tok.weight"])


def test_the_longest_prefix_wins_and_an_exact_name_beats_a_prefix() -> None:
    gm, sd = _module(), _source()
    sd["special"] = torch.zeros(8)
    load_torch_state_dict(gm, sd, {"block": "unused", "block_out": "out", "block_out.bias": "special"})
    assert torch.count_nonzero(gm.get_parameter("block_out.bias")) == 0
    torch.testing.assert_close(gm.get_parameter("block_out.weight").flatten(1), sd["out.weight"])


def test_an_empty_prefix_key_prefixes_every_name() -> None:
    gm = _module()
    sd = {f"model.{k}": v for k, v in _source().items()}
    unused = load_torch_state_dict(gm, sd, {"": "model", "block_out": "model.out"})
    assert unused == []


def test_chunks_of_a_fused_tensor_and_functions_are_sources() -> None:
    gm, sd = _module(), _source()
    fused = torch.randn(24, 8)
    sd["fused"] = fused
    mapping = {"q.weight": ("fused", 1, 3), "block_out.weight": lambda s: s["out.weight"].t(), "block_out": "out"}
    unused = load_torch_state_dict(gm, sd, mapping)
    torch.testing.assert_close(gm.get_parameter("q.weight").flatten(0, 1), fused[8:16])
    torch.testing.assert_close(gm.get_parameter("block_out.weight").flatten(1), sd["out.weight"].t())
    assert unused == ["q.weight"]  # the fused tensor replaced it


def test_unread_source_tensors_are_returned() -> None:
    gm, sd = _module(), _source()
    sd["extra"] = torch.zeros(1)
    assert load_torch_state_dict(gm, sd, lambda n: "out." + n.split(".")[1] if n.startswith("block_out") else None) == [
        "extra"
    ]


def test_a_missing_source_names_the_tensor() -> None:
    with pytest.raises(KeyError, match=r"no source tensor for 'block_out.weight' \(looked for 'block_out.weight'\)"):
        load_torch_state_dict(_module(), _source())


def test_without_strict_a_missing_source_leaves_the_tensor() -> None:
    gm = _module()
    before = gm.get_parameter("block_out.weight").detach().clone()
    load_torch_state_dict(gm, _source(), strict=False)
    torch.testing.assert_close(gm.get_parameter("block_out.weight"), before)


def test_a_size_mismatch_names_both_shapes() -> None:
    sd = _source()
    sd["q.weight"] = torch.zeros(8, 9)
    with pytest.raises(
        ValueError, match=r"'q.weight' has shape \[2, 4, 8\] but its source 'q.weight' has shape \[8, 9\]"
    ):
        load_torch_state_dict(_module(), sd, {"block_out": "out"})
