"""The small bundled architectures: the fx module and the ONNX model agree at two sizes of every free axis."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

from ncdl import architectures
from ncdl.compiler.fx import lower_fx
from ncdl.compiler.onnx import lower_onnx
from ncdl.runtime import Session

#: Models small enough for a quick test (the big ones share their circuits).
SMALL = [
    ("cnn1d", "TextCNN"),
    ("encoder", "PreNormEncoder"),
    ("gpt", "GPT"),
    ("mha", "MultiHead"),
    ("mlp", "ResidualMLP"),
    ("unet", "UNetSmall"),
    ("visual_attention", "VisualAttention"),
    ("vit", "ViT"),
]


def feeds(g, pick: int, seed: int) -> dict[str, np.ndarray]:
    """Inputs at a small (pick=0) or larger (pick=1) size of each free axis, within its bound."""
    rng = np.random.default_rng(seed)
    out = {}
    for node in g.graph["inputs"]:
        data = g.nodes[node]
        shape = []
        for name in data["axes"]:
            axis = g.graph["axes"][name]
            if axis.fixed is not None:
                shape.append(axis.fixed)
            else:
                options = (2, 3) if name == "batch" else (8, 16)
                shape.append(min(options[pick], axis.bound or options[pick]))
        if data["dtype"] == "int64":
            out[data["attrs"]["name"]] = rng.integers(0, g.graph["axes"][data["attrs"]["of"]].fixed, shape)
        else:
            out[data["attrs"]["name"]] = rng.standard_normal(shape).astype(np.float32)
    return out


@pytest.mark.parametrize(("file", "model"), SMALL)
def test_architecture_fx_and_onnx_agree(file: str, model: str) -> None:
    g = architectures.load(file).graph(model)
    gm = lower_fx(g).eval()
    # both sizes at opset 23; opset 17's decompositions are covered op by op, one size suffices here
    for opset, picks in ((23, (0, 1)), (17, (0,))):
        exported = lower_onnx(g, state_dict=gm.state_dict(), opset=opset)
        onnx.checker.check_model(exported, full_check=True)
        session = Session(exported)
        for pick in picks:
            inputs = feeds(g, pick, seed=pick)
            with torch.no_grad():
                want = gm(*(torch.from_numpy(v) for v in inputs.values()))
            want = want if isinstance(want, tuple) else (want,)
            got = session.run(inputs)
            for (name, value), ref in zip(got.items(), want, strict=True):
                scale = max(1.0, float(ref.abs().max()))
                np.testing.assert_allclose(
                    value, ref.numpy(), atol=1e-4 * scale, rtol=1e-4, err_msg=f"{name}, opset {opset}"
                )
