"""A model parameter may be called like the Python API's positional `model` argument."""

from __future__ import annotations

from ncdl import architectures, ir


def test_a_parameter_named_model_is_set_through_the_python_api() -> None:
    program = architectures.load("llama")
    g = program.graph("Llama", model=128, heads=8, kv=4)
    assert g.graph["axes"]["model"].fixed == 128
    assert g.graph["axes"]["head"].fixed == 16
    assert ir.param_count(program.with_params("Llama", model=128).graph("Llama")) > ir.param_count(
        program.graph("Llama")
    )
    gm = program.to_torch("Llama", model=32, heads=2, kv=1)
    assert gm.state_dict()["model.layers.0.self_attn.q_proj.weight"].shape == (1, 2, 16, 32)
