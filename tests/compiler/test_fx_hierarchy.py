"""Hierarchical lowering: each circuit instance and repeat iteration is a GraphModule submodule of its own."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.fx as fx

import ncdl
from ncdl.compiler.fx import InputShapeError, lower_fx, module_code

HEAD = "axis batch, seq <= 16\naxis model = 8, hidden = 16\n"
FF = "circuit FF[model, hidden](x: [model]) -> [model] {\n    return x -> linear[model -> hidden] as up -> relu -> linear[hidden -> model] as down\n}\n"


def _pair(text: str, **kwargs: object) -> tuple[fx.GraphModule, fx.GraphModule]:
    """The flat and the hierarchical module of ``text``, with the same weights."""
    program = ncdl.loads(text)
    torch.manual_seed(0)
    flat = program.to_torch(hierarchy="flat")
    torch.manual_seed(0)
    nested = program.to_torch(**kwargs)  # type: ignore[arg-type]
    return flat, nested


def _same(flat: fx.GraphModule, nested: fx.GraphModule, *inputs: torch.Tensor, exact: bool = True) -> None:
    assert [(k, v.shape) for k, v in flat.state_dict().items()] == [
        (k, v.shape) for k, v in nested.state_dict().items()
    ]
    assert [k for k, _ in flat.named_parameters()] == [k for k, _ in nested.named_parameters()]
    tolerance = {"rtol": 0, "atol": 0} if exact else {}
    torch.testing.assert_close(nested(*inputs), flat(*inputs), **tolerance)


def _units(gm: fx.GraphModule) -> list[str]:
    return [name for name, m in gm.named_modules() if name and isinstance(m, fx.GraphModule)]


def test_each_repeat_iteration_and_circuit_call_is_a_submodule() -> None:
    text = (
        HEAD
        + FF
        + "model M(x: [batch, seq, model]) -> [batch, seq, model] {\n    repeat 3 as h { x = x + FF(x) as ff }\n    return x\n}\n"
    )
    flat, nested = _pair(text)
    assert _units(flat) == []
    assert _units(nested) == ["h.0", "h.0.ff", "h.1", "h.1.ff", "h.2", "h.2.ff"]
    assert isinstance(nested.h, torch.nn.ModuleList)
    assert "self.ff(add)" in nested.h[0].code and 'getattr(self.h, "2")' in nested.code
    _same(flat, nested, torch.randn(2, 5, 8))


def test_the_depth_keeps_only_the_outer_levels() -> None:
    text = (
        HEAD
        + FF
        + "model M(x: [batch, seq, model]) -> [batch, seq, model] {\n    repeat 2 as h { x = x + FF(x) as ff }\n    return x\n}\n"
    )
    flat, nested = _pair(text, hierarchy=1)
    assert _units(nested) == ["h.0", "h.1"]
    assert "torch.relu" in nested.h[0].code
    _same(flat, nested, torch.randn(2, 5, 8))


def test_parameters_live_on_the_deepest_unit_whose_path_prefixes_them() -> None:
    text = (
        HEAD
        + FF
        + "model M(x: [batch, model]) -> [batch, model] {\n    return FF(x) as ff -> layernorm[model] as ln\n}\n"
    )
    _, nested = _pair(text)
    assert [name for name, _ in nested.ff.named_parameters(recurse=False)] == []
    assert nested.ff.get_parameter("up.weight") is nested.get_parameter("ff.up.weight")
    assert "self.up.weight" in nested.ff.code


def test_print_shows_each_submodule_with_its_inputs_and_outputs() -> None:
    text = HEAD + FF + "model M(x: [batch, model]) -> [batch, model] {\n    return x + FF(x) as ff\n}\n"
    _, nested = _pair(text)
    assert "(ff): FF(\n    (x) -> (down)" in str(nested)


def test_module_code_lists_each_submodule_class_once() -> None:
    text = (
        HEAD
        + FF
        + "model M(x: [batch, model]) -> [batch, model] {\n    repeat 2 as h { x = x + FF(x) as ff }\n    return x\n}\n"
    )
    _, nested = _pair(text)
    code = module_code(nested)
    assert "# h.0.ff, h.1.ff: FF\n" in code and code.count("def forward") == 3


def test_iterations_with_the_same_code_share_one_class() -> None:
    text = (
        HEAD
        + FF
        + "model M(x: [batch, model]) -> [batch, model] {\n    repeat 3 as h { x = x + FF(x) as ff }\n    return x\n}\n"
    )
    _, nested = _pair(text)
    assert type(nested.h[0]) is type(nested.h[2])
    assert type(nested.h[0]) is not type(nested)
    # the later iterations reuse the first one's code (not generated again) but hold graphs of their own
    first, last = nested.h[0], nested.h[2]
    assert last.code == first.code and last.graph is not first.graph and last.graph.owning_module is last
    assert [n.name for n in last.graph.nodes] == [n.name for n in first.graph.nodes]
    assert first.meta is not last.meta


def test_input_checks_stay_at_the_root() -> None:
    text = HEAD + FF + "model M(x: [batch, model]) -> [batch, model] {\n    return FF(x) as ff\n}\n"
    _, nested = _pair(text)
    assert "check_inputs" in nested.code and "check_inputs" not in nested.ff.code
    with pytest.raises(InputShapeError, match="axis model expects 8"):
        nested(torch.randn(2, 9))


def test_a_unit_with_several_inputs_and_outputs() -> None:
    text = (
        HEAD
        + "circuit Two[model](a: [model], b: [model]) -> [model] {\n    return linear[model -> model](a) as p * b\n}\n"
        + "model M(x: [batch, model], y: [batch, model]) -> [batch, model] {\n    return Two(x, y) as t + Two(y, x) as u\n}\n"
    )
    flat, nested = _pair(text)
    assert "self.t(x, y)" in nested.code and "self.u(y, x)" in nested.code
    _same(flat, nested, torch.randn(2, 8), torch.randn(2, 8))


def test_a_run_time_size_is_read_inside_the_unit() -> None:
    text = (
        HEAD
        + "circuit Pos[seq, model](x: [seq, model]) -> [seq, model] {\n    return x + param[seq, model](init=normal(0.02)) as p\n}\n"
        + "model M(x: [batch, seq, model]) -> [batch, seq, model] {\n    return Pos(x) as pos\n}\n"
    )
    flat, nested = _pair(text)
    _same(flat, nested, torch.randn(2, 5, 8))
    _same(flat, nested, torch.randn(3, 11, 8))


def test_a_weight_tied_across_units_is_one_parameter_in_both() -> None:
    text = (
        "axis batch, n = 4\n"
        "circuit L[d](x: [d]) -> [d] { return linear[d -> d](x) as fc }\n"
        "model M(v: [batch, n]) -> [batch, n] {\n    a = L[d=n](v) as one\n    return L[d=n](a, tie=one) as two\n}\n"
    )
    flat, nested = _pair(text)
    assert nested.two.fc.weight is nested.one.fc.weight
    _same(flat, nested, torch.randn(3, 4))
    loss = nested(torch.randn(3, 4)).sum()
    loss.backward()
    assert nested.one.fc.weight.grad is not None


def test_sibling_linears_are_not_fused_across_units() -> None:
    text = (
        HEAD
        + "circuit P[model](x: [model]) -> [model] { return linear[model -> model](x) as fc }\n"
        + "model M(x: [batch, model]) -> [batch, model] {\n    return P(x) as a + linear[model -> model](x) as b\n}\n"
    )
    program = ncdl.loads(text)
    torch.manual_seed(0)
    flat = program.to_torch(hierarchy="flat", fuse_linears=True)
    torch.manual_seed(0)
    nested = program.to_torch(fuse_linears=True)
    assert "join_flat" in flat.code
    assert all("join_flat" not in m.code for m in nested.modules() if isinstance(m, fx.GraphModule))
    # one 16-wide product against two 8-wide ones: equal up to the BLAS's rounding (which, on some
    # CPUs, differs in the last bit)
    _same(flat, nested, torch.randn(2, 8), exact=False)


def test_unknown_hierarchy_is_refused() -> None:
    program = ncdl.loads(HEAD + "model M(x: [batch, model]) -> [batch, model] { return x }\n")
    with pytest.raises(ValueError, match="hierarchy must be 'flat', 'instances' or a depth >= 1, got 0"):
        program.to_torch(hierarchy=0)


def test_lower_fx_keeps_flat_available() -> None:
    g = ncdl.loads(HEAD + FF + "model M(x: [batch, model]) -> [batch, model] { return FF(x) as ff }\n").graph()
    assert _units(lower_fx(g, "flat")) == [] and _units(lower_fx(g)) == ["ff"]


def test_a_hierarchical_module_survives_deepcopy_and_pickling() -> None:
    import copy
    import io

    text = (
        HEAD
        + FF
        + "model M(x: [batch, model]) -> [batch, model] {\n    repeat 2 as h { x = x + FF(x) as ff }\n    return x\n}\n"
    )
    _, nested = _pair(text)
    x = torch.randn(2, 8)
    buffer = io.BytesIO()
    torch.save(nested, buffer)
    buffer.seek(0)
    for other in (copy.deepcopy(nested), torch.load(buffer, weights_only=False)):
        torch.testing.assert_close(other(x), nested(x), rtol=0, atol=0)
        assert list(other.state_dict()) == list(nested.state_dict())


def test_the_cli_prints_every_submodule_or_one_flat_graph(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ncdl.cli import main

    path = tmp_path / "m.ncd"
    path.write_text(HEAD + FF + "model M(x: [batch, model]) -> [batch, model] {\n    return FF(x) as ff\n}\n")
    assert main(["compile", str(path), "--print"]) == 0
    nested = capsys.readouterr().out
    assert "ff = self.ff(x)" in nested and "# ff: FF\n" in nested
    assert main(["compile", str(path), "--print", "--hierarchy", "flat"]) == 0
    flat = capsys.readouterr().out
    assert "self.ff(" not in flat and flat.count("def forward") == 1
    assert main(["compile", str(path), "--hierarchy", "0"]) == 2
    assert "expected 'flat', 'instances' or a depth >= 1, got '0'" in capsys.readouterr().err


def test_a_value_named_by_a_dotted_label_enters_a_unit_as_an_identifier() -> None:
    text = (
        HEAD
        + FF
        + "model M(x: [batch, seq, model]) -> [batch, seq, model] {\n"
        + "    c = linear[model -> model](x) as mlp.2\n"
        + "    repeat 2 as h { x = x + FF(c) as ff }\n    return x\n}\n"
    )
    flat, nested = _pair(text)
    assert "def forward(self, mlp_2, " in nested.h[0].code
    # the same numbers up to rounding (with fuse_linears the flat module would join the two blocks'
    # linears on `c` into one matmul, the nested one cannot: they sit in different units)
    _same(flat, nested, torch.randn(2, 5, 8), exact=False)
