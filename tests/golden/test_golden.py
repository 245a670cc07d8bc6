"""Every bundled model compiles to what it compiled to before: names, ONNX graphs, outputs.

The snapshot (``bundled.json``) was taken before the op registry and the twin
backends were introduced; regenerate it with ``capture.py`` only for an
intended change of a lowering, and say so in the commit.
"""

from __future__ import annotations

import json

import pytest
from capture import GOLDEN, snapshot

EXPECTED = json.loads(GOLDEN.read_text())


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_bundled_model_is_unchanged(key: str) -> None:
    name, model = key.split("/")
    got, want = snapshot(name, model), EXPECTED[key]
    assert got["params"] == want["params"]
    assert got.get("state_dict") == want.get("state_dict")
    assert got["onnx"] == want["onnx"]
    for g, w in zip(got.get("outputs", []), want.get("outputs", []), strict=True):
        assert g["shape"] == w["shape"]
        assert g["sum"] == pytest.approx(w["sum"], rel=1e-4, abs=1e-3)
        assert g["head"] == pytest.approx(w["head"], rel=1e-4, abs=1e-5)
