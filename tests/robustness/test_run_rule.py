"""The rule of issue 14: a model `ncdl check` accepts runs in torch (forward and backward) and in onnxruntime
at every size its inputs accept, with equal results, or the checker refuses it with a located diagnostic.

Sizes a model cannot take are refused on the inputs, by both backends, with the same one line naming the
input, the axis and where the requirement comes from (:mod:`ncdl.ir.requirements`). Each case below is a
program that once crashed, raised a raw kernel error, or ran silently wrong.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch

import ncdl
from ncdl.compiler.fx.runtime import InputShapeError
from ncdl.runtime import InputError, ModelLoadError, Session


def both(text: str, *shapes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Run ``text``'s model on random inputs in torch (forward and backward) and onnxruntime."""
    program = ncdl.loads(text, "m.ncd")
    module = program.to_torch()
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    tensors = [torch.from_numpy(a).requires_grad_(True) for a in arrays]
    out = module(*tensors)
    out.sum().backward()
    session = Session(program.to_onnx(state_dict=module.state_dict()))
    (ort,) = session.run(dict(zip(session.input_names, arrays, strict=True))).values()
    return out.detach().numpy(), ort


def refusals(text: str, *shapes: tuple[int, ...]) -> tuple[str, str]:
    """The messages torch and the Session give for inputs of ``shapes``."""
    program = ncdl.loads(text, "m.ncd")
    arrays = [np.zeros(s, np.float32) for s in shapes]
    with pytest.raises(InputShapeError) as fx_error:
        program.to_torch()(*(torch.from_numpy(a) for a in arrays))
    session = Session(program.to_onnx())
    with pytest.raises(InputError) as ort_error:
        session.run(dict(zip(session.input_names, arrays, strict=True)))
    return str(fx_error.value), str(ort_error.value)


CONV_Y1 = (
    "axis batch, y, c = 3\n"
    "model M(v: [batch, y, c]) -> [batch, y2, c] {\n"
    "    return conv[c -> c, y -> y2](v, kernel=1, stride=2, padding=3, dilation=2)\n"
    "}\n"
)


def test_conv_on_a_transposed_length_one_axis_does_not_crash() -> None:
    # was: exit 139 (torch's conv1d with a bias on a view with strides (3, 1, 3) for shape (2, 3, 1))
    script = (
        f"import ncdl, torch\nm = ncdl.loads({CONV_Y1!r}).to_torch()\nprint(tuple(m(torch.randn(2, 1, 3)).shape))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert (done.returncode, done.stdout) == (0, "(2, 4, 3)\n")


def test_conv_on_a_length_one_axis_matches_onnxruntime() -> None:
    fx_out, ort_out = both(CONV_Y1, (2, 1, 3))
    np.testing.assert_allclose(fx_out, ort_out, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("include", ["true", "false"])
def test_avgpool_3d_with_padding_on_an_input_smaller_than_the_kernel(include: str) -> None:
    # was: torch "input image (T: 1 H: 1 W: 1) smaller than kernel size" while onnxruntime ran it
    text = (
        "axis batch, a, b, d, c = 3\n"
        "model M(v: [batch, a, c, b, d]) -> [batch, c, a2, b2, d2] {\n"
        f"    return avgpool[a -> a2, b -> b2, d -> d2](v, kernel=3, stride=2, padding=1, count_include_pad={include})\n"
        "}\n"
    )
    for shape in [(2, 1, 3, 1, 1), (2, 5, 3, 4, 3)]:
        fx_out, ort_out = both(text, shape)
        np.testing.assert_allclose(fx_out, ort_out, rtol=1e-5, atol=1e-6)


def test_split_of_a_free_axis_that_does_not_divide() -> None:
    # was: torch's unflatten error, and in onnxruntime a reshape error (or a wrong shape, exit 0)
    text = "axis batch, two = 2\nmodel M(v: [batch]) -> [half, two] { return split[batch -> half two](v) }\n"
    message = "`v`: axis batch = 3 (dim 0) makes half = batch/2 = 3/2, but split at m.ncd:2:45 needs a whole number"
    assert refusals(text, (3,)) == (message, "input " + message)
    fx_out, ort_out = both(text, (4,))
    np.testing.assert_array_equal(fx_out, ort_out)


def test_free_spatial_axis_smaller_than_the_kernel() -> None:
    # was: "Kernel size can't be greater than actual input size" / onnxruntime "Invalid input shape: {2}"
    text = "axis batch, y, c = 3\nmodel M(v: [batch, c, y]) -> [batch, c, y2] { return conv[c -> c, y -> y2](v, kernel=5) }\n"
    message = "`v`: axis y = 2 (dim 2) makes y2 = y + -4 = -2, but conv at m.ncd:2:54 needs at least 1"
    assert refusals(text, (2, 3, 2)) == (message, "input " + message)


def test_derived_free_axis_of_an_input_is_validated() -> None:
    # was: a wrong length of `half` broadcast silently, or crashed onnxruntime with a traceback
    text = (
        "axis batch, seq, two = 2, half = seq / 2\n"
        "model M(v: [batch, seq], w: [batch, half]) -> [batch, half] { return w + sum[two](split[seq -> half two](v)) }\n"
    )
    message = (
        "`w`: axis half is 2 at dim 1, but half = seq/2 = 3 from `v` axis seq = 6 (dim 1), as declared at m.ncd:2:26"
    )
    assert refusals(text, (2, 6), (2, 2)) == (message, "input " + message)
    fx_out, ort_out = both(text, (2, 6), (2, 3))
    np.testing.assert_allclose(fx_out, ort_out, rtol=1e-6)


def test_a_zero_size_free_axis_is_refused_on_the_input() -> None:
    text = "axis batch, c = 3\nmodel M(v: [batch, c]) -> [batch, c] { return linear[c -> c](v) }\n"
    message = "`v`: axis batch is 0 at dim 0; a free axis needs at least 1"
    assert refusals(text, (0, 3)) == (message, "input " + message)


def test_every_requirement_names_its_source_location() -> None:
    text = (
        "axis batch, y\n"
        "model M(v: [batch, y]) -> [batch, y3] {\n"
        "    h = maxpool[y -> y2](v, kernel=2)\n"
        "    return avgpool[y2 -> y3](h, kernel=3)\n"
        "}\n"
    )
    message = "`v`: axis y = 5 (dim 1) makes y3 = floor((y)/6) = 0, but avgpool at m.ncd:4:12 needs at least 1"
    assert refusals(text, (2, 5)) == (message, "input " + message)
    fx_out, ort_out = both(text, (2, 6))
    np.testing.assert_allclose(fx_out, ort_out, rtol=1e-6)


def test_crafted_requirements_metadata_is_a_load_error() -> None:
    text = "axis batch, two = 2\nmodel M(v: [batch]) -> [half, two] { return split[batch -> half two](v) }\n"
    model = ncdl.loads(text, "m.ncd").to_onnx()
    for bad in ("{", '{"bindings": {"batch": ["nope", 0]}, "requirements": []}', '{"bindings": 3}'):
        for prop in model.metadata_props:
            if prop.key == "ncdl.requirements":
                prop.value = bad
        with pytest.raises(ModelLoadError) as info:
            Session(model.SerializeToString())
        assert info.value.args[0].startswith("cannot load model <bytes>: ")
        assert "\n" not in info.value.args[0]
    onnx.checker.check_model(model)


def test_out_of_range_indices_are_refused_on_the_input() -> None:
    # was: torch's IndexError, and a traceback from onnxruntime's Gather in `ncdl run`
    text = "axis batch, seq, vocab = 5, d = 3\nmodel M(t: int[batch, seq] of vocab) -> [batch, seq, d] { return embed[vocab -> d](t) }\n"
    program = ncdl.loads(text, "m.ncd")
    module = program.to_torch()
    session = Session(program.to_onnx(state_dict=module.state_dict()))
    for values, bad in (([[1, 7]], 7), ([[-1, 2]], -1)):
        message = f"`t`: holds the index {bad}, outside 0..4 (axis vocab = 5), as declared at m.ncd:2:9"
        with pytest.raises(InputShapeError) as fx_error:
            module(torch.tensor(values))
        with pytest.raises(InputError) as ort_error:
            session.run({"t": np.array(values)})
        assert (str(fx_error.value), str(ort_error.value)) == (message, "input " + message)
    good = np.array([[0, 4]])
    np.testing.assert_allclose(module(torch.from_numpy(good)).detach().numpy(), session.run({"t": good})["output"])


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("ncdl.inputs", '[{"name": "x", "axes": 5}]'),
        ("ncdl.inputs", '[{"name": "x", "axes": ["a", {"b": 1}, null]}]'),
        ("ncdl.axes", '{"seq": {"bound": "big"}}'),
        ("ncdl.axes", '{"seq": 5}'),
        ("ncdl.axes", '{"seq": {"bound": [1]}}'),
        ("ncdl.outputs", '[{"name": "output", "axes": 7}]'),
    ],
)
def test_crafted_signature_metadata_falls_back_to_the_onnx_dims(key: str, value: str) -> None:
    # was: TypeError / AttributeError tracebacks from `ncdl run`
    text = "axis batch, seq <= 8, n = 4\nmodel M(x: [batch, seq, n]) -> [batch, seq, n] { return relu(x) }\n"
    model = ncdl.loads(text, "m.ncd").to_onnx()
    for prop in model.metadata_props:
        if prop.key == key:
            prop.value = value
    session = Session(model.SerializeToString())
    assert session.signature().startswith("inputs:\n  x: float32[")
    assert session.run({"x": np.ones((2, 3, 4), np.float32)})["output"].shape == (2, 3, 4)


SWEEP = {
    "conv": "axis batch, y, c = 3\nmodel M(v: [batch, y, c]) -> [batch, y2, c] "
    "{ return conv[c -> c, y -> y2](v, kernel=3, stride=2, padding=1, dilation=2) }\n",
    "conv_transpose": "axis batch, y, c = 2\nmodel M(v: [batch, c, y]) -> [batch, c, y2] "
    "{ return conv_transpose[c -> c, y -> y2](v, kernel=3, stride=2, padding=2) }\n",
    "pools": "axis batch, y\nmodel M(v: [batch, y]) -> [batch, y3] "
    "{ return avgpool[y2 -> y3](maxpool[y -> y2](v, kernel=2), kernel=2, padding=1) }\n",
    "split": "axis batch, seq, three = 3\nmodel M(v: [seq, batch]) -> [batch, part] "
    "{ return sum[three](split[seq -> part three](v)) }\n",
    "slice_pad": "axis batch, seq\nmodel M(v: [batch, seq]) -> [batch, inner2] "
    "{ return pad[inner -> inner2](slice[seq -> inner](v, start=1, stop=-2), before=1, after=0) }\n",
    "upsample": "axis batch, y, x\nmodel M(v: [y, batch, x]) -> [batch, y2, x2] "
    '{ return upsample[y -> y2, x -> x2](v, scale=2, mode="linear") }\n',
}


@pytest.mark.parametrize("name", sorted(SWEEP))
def test_every_size_runs_in_both_backends_or_both_refuse_it(name: str) -> None:
    # the rule: at each size the inputs accept, torch (forward and backward) and onnxruntime agree; a size a box
    # cannot take is refused by both, with the same line
    program = ncdl.loads(SWEEP[name], "m.ncd")
    module = program.to_torch()
    session = Session(program.to_onnx(state_dict=module.state_dict()))
    g = program.graph()
    (node,) = g.graph["inputs"]
    refused = 0
    for size in range(1, 8):
        free = {"batch": 2}
        shape = [g.graph["axes"][a].fixed or free.get(a, size) for a in g.nodes[node]["axes"]]
        array = np.random.default_rng(size).standard_normal(shape).astype(np.float32)
        try:
            session_out = session.run({"v": array})["output"]
        except InputError as err:
            with pytest.raises(InputShapeError) as fx_error:
                module(torch.from_numpy(array))
            assert str(err) == "input " + str(fx_error.value)
            refused += 1
            continue
        tensor = torch.from_numpy(array).requires_grad_(True)
        out = module(tensor)
        out.sum().backward()
        assert tensor.grad is not None and tensor.grad.shape == tensor.shape
        np.testing.assert_allclose(out.detach().numpy(), session_out, rtol=1e-4, atol=1e-5)
    assert 0 < refused < 7 or name == "upsample"  # each sweep meets sizes it refuses and sizes it runs
