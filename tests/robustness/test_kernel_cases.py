"""Cases of issue 14 that later sessions could not reproduce, pinned: each model runs in torch (forward and
backward) and in onnxruntime with equal results, or is refused with a located line.

Attention fed by a convolution, 3-D pooling on permuted layouts, 3-D average pooling with padding on inputs
smaller than the kernel, batch and group normalisation with no batch axis, and conv/pool/upsample on permuted
and strided layouts in backward (where torch once raised "Unsupported memory format"). A layout test compares
the model written in a permuted order with the same model written channels-then-spatial, weights shared, so the
gradients are checked too, not only that they exist.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from ncd_fuzz import assert_parity

import ncdl
from ncdl.compiler.fx.runtime import InputShapeError, dense
from ncdl.runtime import Session

SIZES = {"batch": 2, "c": 3, "a": 4, "b": 5, "d": 3}


def spatial_model(box: str, options: str, axes: list[str], spatial: list[str]) -> str:
    """A model applying ``box`` over ``spatial`` to an input declared with ``axes`` (in that order); its result
    is ``[batch, c, *spatial]`` whatever the input's order."""
    head = f"{box}[c -> c, " if box.startswith("conv") else f"{box}["
    pairs = ", ".join(f"{s} -> {s}2" for s in spatial)
    out = [a for a in ("batch", "c") if a in axes] + [f"{s}2" for s in spatial]  # the same order for every layout
    return (
        "axis batch, c = 3, a, b, d\n"
        f"model M(v: [{', '.join(axes)}]) -> [{', '.join(out)}] {{\n"
        f"    return {head}{pairs}](v, {options})\n"
        "}\n"
    )


def run_both(text: str, x: np.ndarray, state: dict | None = None) -> tuple[torch.nn.Module, np.ndarray, np.ndarray]:
    """The module, its input gradient (for a fixed random output weighting) and onnxruntime's output minus torch's."""
    program = ncdl.loads(text, "m.ncd")
    module = program.to_torch()
    if state is not None:
        module.load_state_dict(state)
    tensor = torch.from_numpy(x).requires_grad_(True)
    out = module(tensor)
    weighting = torch.from_numpy(np.random.default_rng(1).standard_normal(tuple(out.shape)).astype(np.float32))
    (out * weighting).sum().backward()
    session = Session(program.to_onnx(state_dict=module.state_dict()))
    (ort,) = session.run({"v": x}).values()
    np.testing.assert_allclose(out.detach().numpy(), ort, rtol=1e-5, atol=1e-5)
    assert tensor.grad is not None
    return module, tensor.grad.numpy(), out.detach().numpy()


# ---- (1) attention fed by a convolution -------------------------------------------------------------------

ATTENTION_AFTER_CONV = {
    # the conv makes the attended axis (strided, so its size is derived from the free one)
    "conv_makes_seq": """axis batch, seq, c = 4
model M(x: [batch, c, seq]) -> [batch, s2, c] {
    h = conv[c -> c, seq -> s2](x, kernel=3, stride=2, padding=1)
    k = rename[s2 -> k2](h)
    return contract[k2](softmax[k2](causal[s2, k2](contract[c](h, k) / sqrt(c))), k)
}
""",
    # the conv runs over another spatial axis; seq passes by it, then attention runs over seq
    "seq_passes_the_conv": """axis batch, seq <= 16, key ~ seq, y, c = 4
model M(x: [y, c, seq, batch]) -> [batch, seq, y2, c] {
    h = conv[c -> c, y -> y2](x, kernel=3, stride=2, padding=1)
    k = rename[seq -> key](h)
    return linear[c -> c](contract[key](softmax[key](contract[c](h, k) / sqrt(c)), k))
}
""",
    # the attention's width is a free axis the conv made
    "width_from_the_conv": """axis batch, seq <= 16, key ~ seq, y, c = 4
model M(x: [batch, seq, c, y]) -> [batch, seq, c, y2] {
    h = conv[c -> c, y -> y2](x, kernel=2)
    k = rename[seq -> key](h)
    return contract[key](softmax[key](causal[seq, key](contract[y2](h, k) / 2.0)), k)
}
""",
    "library_attention": """use "transformer.ncd"
axis batch, seq <= 16, y, c = 4, two = 2
model M(x: [seq, y, batch, c]) -> [batch, seq, y2, c] {
    h = conv[c -> c, y -> y2](x, kernel=3, stride=2, padding=1)
    return CausalSelfAttention[seq, model=c, heads=two](h)
}
""",
}


@pytest.mark.parametrize("opset", [17, 20, 23])
@pytest.mark.parametrize("name", sorted(ATTENTION_AFTER_CONV))
def test_attention_after_a_conv_loads_and_agrees_in_onnxruntime(name: str, opset: int) -> None:
    # issue 14: "checked models whose ONNX onnxruntime refuses: attention after a conv"
    program = ncdl.loads(ATTENTION_AFTER_CONV[name], "m.ncd")
    if opset == 23:  # the attention is recognised: the fused node is what onnxruntime loads
        assert "Attention" in {node.op_type for node in program.to_onnx(opset=23).graph.node}
    for free in (2, 3, 6):
        assert_parity(program, opset=opset, free=free)


def test_attention_after_a_conv_trains() -> None:
    module = ncdl.loads(ATTENTION_AFTER_CONV["conv_makes_seq"], "m.ncd").to_torch()
    x = torch.randn(2, 4, 7, requires_grad=True)
    module(x).square().sum().backward()
    assert x.grad is not None and bool(torch.isfinite(x.grad).all())
    assert all(p.grad is not None for p in module.parameters())


# ---- (2) and (5) permuted and strided layouts, forward and backward ---------------------------------------

BOXES = [
    ("maxpool", "kernel=2, stride=1, padding=1"),
    ("avgpool", "kernel=3, stride=2, padding=1"),
    ("avgpool", "kernel=2, padding=1, count_include_pad=false"),
    ("conv", "kernel=2, stride=2, padding=1, groups=3"),
    ("conv_transpose", "kernel=2, stride=2"),
    ("upsample", 'scale=2, mode="linear"'),
]


def _layouts(extra: list[str], spatial: list[str]) -> list[tuple[str, ...]]:
    """The canonical order first, then the reversed one, channels-last, the first spatial axis last and a few
    more (not all n! of them).

    With one axis besides the spatial ones, the last looks channels-last to torch (``[c, b, d, a]`` moved to
    ``[c, a, b, d]`` has its smallest stride on dim 1), a layout torch's 3-D pooling refuses.
    """
    canonical = tuple(extra + spatial)
    every = list(itertools.permutations(canonical))
    chosen = [canonical, canonical[::-1], (*extra[:1], *spatial, *extra[1:]), (*extra, *spatial[1:], spatial[0])]
    chosen += every[1 :: max(1, len(every) // 4)]
    return list(dict.fromkeys(chosen))


CASES = [
    (box, options, nd, extra, layout)
    for nd in (1, 2, 3)
    for extra in (["c"], ["batch", "c"])
    for box, options in BOXES
    for layout in _layouts(extra, ["a", "b", "d"][:nd])
]


@pytest.mark.parametrize(
    ("box", "options", "nd", "extra", "layout"),
    CASES,
    ids=[f"{b}-{o.split(',')[-1].strip()}-{'_'.join(layout)}" for b, o, _, _, layout in CASES],
)
def test_permuted_layouts_give_the_canonical_values_and_gradients(
    box: str, options: str, nd: int, extra: list[str], layout: tuple[str, ...]
) -> None:
    # issue 14: "3-D maxpool on a permuted layout" and "some layouts fail in backward with 'Unsupported memory
    # format'" (unbatched 3-D maxpool on [c, b, d, a] did: the permuted view looks channels-last to torch, whose
    # 3-D pooling takes only contiguous or channels-last-3d memory; the lowering now copies it row-major)
    spatial = ["a", "b", "d"][:nd]
    canonical = tuple(extra + spatial)
    x = np.random.default_rng(0).standard_normal([SIZES[a] for a in canonical]).astype(np.float32)
    reference, ref_grad, ref_out = run_both(spatial_model(box, options, list(canonical), spatial), x)
    if layout == canonical:
        return
    order = [canonical.index(a) for a in layout]
    text = spatial_model(box, options, list(layout), spatial)
    _, grad, out = run_both(text, x.transpose(order).copy(), reference.state_dict())
    np.testing.assert_allclose(out, ref_out, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grad, ref_grad.transpose(order), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("memory", ["channels_last", "sliced", "expanded"])
@pytest.mark.parametrize(("box", "options"), BOXES)
def test_strided_input_tensors_run_forward_and_backward(box: str, options: str, memory: str) -> None:
    # the caller's tensor may itself be a strided view (channels-last memory, a slice, a broadcast)
    text = spatial_model(box, options, ["batch", "c", "a", "b", "d"], ["a", "b", "d"])
    module = ncdl.loads(text, "m.ncd").to_torch()
    base = torch.randn(2, 3, 4, 5, 3)
    strided = {
        "channels_last": base.contiguous(memory_format=torch.channels_last_3d),
        "sliced": torch.randn(2, 6, 4, 5, 3)[:, ::2],
        "expanded": base[:1].expand(2, 3, 4, 5, 3),
    }[memory]
    x = strided.detach().requires_grad_(True)
    y = base.new_tensor(strided.detach().numpy()).requires_grad_(True)  # the same values, row-major
    out, want = module(x), module(y)
    out.square().sum().backward()
    want.square().sum().backward()
    torch.testing.assert_close(out, want)
    assert x.grad is not None and y.grad is not None
    torch.testing.assert_close(x.grad, y.grad)


def test_dense_copies_only_what_is_not_row_major() -> None:
    x = torch.randn(2, 3, 4, 5)
    assert dense(x) is x
    last = x.contiguous(memory_format=torch.channels_last)
    assert last.is_contiguous(memory_format=torch.channels_last) and not last.is_contiguous()
    copy = dense(last)
    assert copy.is_contiguous() and torch.equal(copy, x)
    moved = torch.randn(2, 1, 3).transpose(1, 2)  # strides (3, 1, 3): torch calls them contiguous
    assert moved.is_contiguous() and dense(moved).stride() == (3, 1, 1)


# ---- (3) 3-D avgpool with padding on a small input ----------------------------------------------------------


@pytest.mark.parametrize("include", ["true", "false"])
@pytest.mark.parametrize(("kernel", "stride", "padding"), [(3, 2, 1), (2, 1, 1), (3, 3, 1)])
@pytest.mark.parametrize("layout", ["batch, c, a, b, d", "d, b, c, a, batch", "c, a, b, d"])
def test_avgpool_3d_with_padding_on_inputs_smaller_than_the_kernel(
    layout: str, kernel: int, stride: int, padding: int, include: str
) -> None:
    # issue 14: "3-D avgpool with padding on a small input" (torch's avg_pool3d refused an input smaller than the
    # kernel that the padding makes room for; onnxruntime ran it); tests/robustness/test_run_rule.py pins one
    # free-size case, these cover fixed sizes, layouts, strides and the gradient
    axes = [a.strip() for a in layout.split(",")]
    text = (
        "axis batch, c = 3, a = 1, b = 2, d = 1\n"
        f"model M(v: [{layout}]) -> [{', '.join(a for a in axes if a in ('batch', 'c'))}, a2, b2, d2] {{\n"
        f"    return avgpool[a -> a2, b -> b2, d -> d2](v, kernel={kernel}, stride={stride}, padding={padding}, "
        f"count_include_pad={include})\n"
        "}\n"
    )
    sizes = {**SIZES, "a": 1, "b": 2, "d": 1}
    x = np.random.default_rng(0).standard_normal([sizes[a] for a in axes]).astype(np.float32)
    _, grad, _ = run_both(text, x)
    assert np.isfinite(grad).all() and np.abs(grad).sum() > 0


# ---- (4) normalisation with no batch axis -------------------------------------------------------------------


def test_batchnorm_of_one_value_per_channel_is_refused_by_the_checker() -> None:
    # issue 14: "batchnorm on a value with no batch axis": when every other axis is a fixed 1, torch cannot take
    # statistics in training, and the checker says so (E212; its golden with [c] alone is in
    # tests/dsl/test_diagnostics_run_rule.py)
    text = "axis one = 1, c = 3\nmodel M(v: [one, c]) -> [one, c] {\n    return batchnorm[c](v)\n}\n"
    with pytest.raises(ncdl.NcdlError) as info:
        ncdl.loads(text, "m.ncd")
    assert str(info.value) == (
        "m.ncd:3:12: error[E212]: batchnorm[c] of [one, c] has one value per channel: there is nothing to take "
        "statistics over\n"
        " 3 |     return batchnorm[c](v)\n"
        "   |            ^^^^^^^^^^^^^^^\n"
        "  help: batchnorm averages over the other axes (the batch, the positions); add them, or use layernorm"
    )


@pytest.mark.parametrize(
    ("signature", "shape"),
    [("v: [c, y]", (3, 6)), ("v: [y, c]", (6, 3)), ("v: [y, c, x]", (2, 3, 4)), ("v: [c, x, y]", (3, 4, 2))],
)
def test_batchnorm_without_a_batch_axis_trains_and_agrees_in_onnxruntime(signature: str, shape: tuple) -> None:
    # the other axes (positions, not a batch) are what the statistics are taken over
    axes = signature[signature.index("[") : signature.index("]") + 1]
    text = f"axis c = 3, x = 4, y\nmodel M({signature}) -> {axes} {{\n    return batchnorm[c](v)\n}}\n"
    program = ncdl.loads(text, "m.ncd")
    module = program.to_torch()
    x = torch.randn(shape, requires_grad=True)
    out = module(x)
    out.square().sum().backward()
    channel = axes[1:-1].split(", ").index("c")
    moved = out.detach().movedim(channel, 0).reshape(3, -1)
    torch.testing.assert_close(moved.mean(1), torch.zeros(3), atol=1e-5, rtol=0)  # normalised per channel
    assert module.get_buffer("batchnorm.num_batches_tracked").item() == 1
    module.eval()
    session = Session(program.to_onnx(state_dict=module.state_dict()))
    data = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    np.testing.assert_allclose(
        session.run({"v": data})["output"], module(torch.from_numpy(data)).detach().numpy(), rtol=1e-5, atol=1e-6
    )


def test_batchnorm_of_one_value_per_channel_at_run_time_is_refused_in_training_only() -> None:
    # free axes of size 1 leave one value per channel: torch's training batchnorm raised its own ValueError; now
    # the input check names the axes and the box, in training; eval mode (and onnxruntime) use the running
    # statistics and run it
    text = "axis batch, c = 3, y\nmodel M(v: [y, c, batch]) -> [batch, c, y] {\n    return batchnorm[c](v)\n}\n"
    program = ncdl.loads(text, "m.ncd")
    module = program.to_torch()
    x = torch.randn(1, 3, 1)
    with pytest.raises(InputShapeError) as info:
        module(x)
    assert str(info.value) == (
        "`v`: axis batch = 1 (dim 2), `v` axis y = 1 (dim 0) makes 1 value per c, "
        "but batchnorm at m.ncd:3:12 needs at least 2 to take statistics over in training"
    )
    module(torch.randn(2, 3, 1)).sum().backward()  # two values per channel train
    module.eval()
    session = Session(program.to_onnx(state_dict=module.state_dict()))
    np.testing.assert_allclose(
        session.run({"v": x.numpy()})["output"], module(x).detach().numpy(), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize(
    ("signature", "shape"), [("v: [c]", (3,)), ("v: [batch, c]", (1, 3)), ("v: [c, batch]", (3, 2))]
)
@pytest.mark.parametrize("training", [True, False])
def test_groupnorm_of_one_value_per_group_runs(signature: str, shape: tuple, training: bool) -> None:
    # was: torch's F.group_norm raised "Expected more than 1 value per channel when training" (in eval mode too)
    # when each group held one value and N was 1; the result is the bias, as onnxruntime gives
    axes = signature[signature.index("[") : signature.index("]") + 1]
    text = f"axis batch, c = 3\nmodel M({signature}) -> {axes} {{\n    return groupnorm[c](v, groups=3)\n}}\n"
    program = ncdl.loads(text, "m.ncd")
    module = program.to_torch().train(training)
    with torch.no_grad():
        module.get_parameter("groupnorm.bias").copy_(torch.tensor([0.5, -1.0, 2.0]))
    x = torch.randn(shape, requires_grad=True)
    out = module(x)
    out.sum().backward()
    channel = axes[1:-1].split(", ").index("c")
    torch.testing.assert_close(
        out.detach().movedim(channel, -1).reshape(-1, 3)[0], torch.tensor([0.5, -1.0, 2.0]), atol=1e-4, rtol=0
    )
    session = Session(program.to_onnx(state_dict=module.state_dict()))
    np.testing.assert_allclose(session.run({"v": x.detach().numpy()})["output"], out.detach().numpy(), atol=1e-4)
