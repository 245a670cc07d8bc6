"""Every bundled model runs through every backend: ONNX agrees with torch, the diagram renders."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch
from arch_inputs import LARGE, outputs, sample_inputs

from ncdl import architectures

MODELS = [
    (name, model)
    for name in architectures.list_architectures()
    for model in architectures.load(name).models
    if model not in LARGE
]


@pytest.mark.parametrize(("name", "model"), MODELS, ids=[m for _, m in MODELS])
def test_onnx_agrees_with_torch(name: str, model: str) -> None:
    program = architectures.load(name)
    gm = program.to_torch(model).eval()
    inputs = sample_inputs(program.graph(model))
    with torch.no_grad():
        expected = outputs(gm(*inputs))
    session = ort.InferenceSession(program.to_onnx(model, state_dict=gm.state_dict()).SerializeToString())
    feeds = {i.name: x.numpy() for i, x in zip(session.get_inputs(), inputs, strict=True)}
    got = session.run(None, feeds)
    assert len(got) == len(expected)
    for ours, theirs in zip(got, expected, strict=True):
        # different kernels (e.g. fused attention) round differently: 1e-4 relative
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(("name", "model"), MODELS, ids=[m for _, m in MODELS])
def test_the_diagram_renders(name: str, model: str) -> None:
    source = architectures.load(name).render(model).source
    assert source.startswith(("digraph", "strict digraph"))
