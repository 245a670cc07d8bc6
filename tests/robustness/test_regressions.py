"""One test per robustness bug found (by tools/fuzz.py or by the audit), each
named for the input that broke ncdl and pinned to the fixed behaviour."""

from __future__ import annotations

from pathlib import Path

import pytest
from ncd_fuzz import check_outcome

import ncdl
from ncdl.cli import main

MODEL = "axis batch, n = 4\nmodel M(x: [batch, n]) -> [batch, n] { return relu(x) }\n"


def use_codes(target: str, folder: Path) -> list[str]:
    text = f'use "{target}"\naxis n = 4\nmodel M(x: [n]) -> [n] {{ return x }}\n'
    assert check_outcome(text, str(folder / "m.ncd")) is None
    with pytest.raises(ncdl.NcdlError) as info:
        ncdl.loads(text, str(folder / "m.ncd"))
    return [d.code for d in info.value.diagnostics]


def test_use_of_a_name_too_long_for_the_system(tmp_path: Path) -> None:
    # was: OSError [Errno 36] File name too long, from Path.is_file
    assert use_codes("a" * 300 + ".ncd", tmp_path) == ["E170"]
    assert use_codes("a/" * 3000 + "x.ncd", tmp_path) == ["E170"]


def test_use_of_a_symlink_loop(tmp_path: Path) -> None:
    # was: RuntimeError "Symlink loop from ...", from Path.resolve
    (tmp_path / "loop1").symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop1")
    assert use_codes("loop1", tmp_path) == ["E170"]


def test_use_of_a_missing_file_outside_the_project_says_refused(tmp_path: Path) -> None:
    # was: E170 for a missing file but E171 for an existing one, so a .ncd file could probe the disk
    assert use_codes("/no/such/dir/x.ncd", tmp_path) == ["E171"]
    assert use_codes("/etc/hostname", tmp_path) == ["E171"]


def test_use_of_empty_and_dot_paths(tmp_path: Path) -> None:
    assert use_codes("", tmp_path) == ["E170"]
    assert use_codes(".", tmp_path) == ["E170"]


def test_output_into_a_missing_folder_names_the_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # was: "error: <folder>/.m.onnx.3f8tnb3s.tmp: No such file or directory" (the temp file's name)
    (tmp_path / "m.ncd").write_text(MODEL)
    out = tmp_path / "nowhere" / "m.onnx"
    assert main(["export", str(tmp_path / "m.ncd"), "-o", str(out)]) == 1
    assert capsys.readouterr().err == f"error: cannot write {out}: the folder {out.parent} does not exist\n"


def diagnostics(text: str) -> list[tuple[str, int, int, str]]:
    assert check_outcome(text, "r.ncd") is None  # an NcdlError with located diagnostics
    with pytest.raises(ncdl.NcdlError) as info:
        ncdl.loads(text, "r.ncd")
    return [(d.code, d.span.line, d.span.col, d.message) for d in info.value.diagnostics]


HEAD = "axis batch, n = 4\nmodel M(v: [batch, n]) -> [batch, n] { return v * "
COL = len(HEAD.splitlines()[1]) + 1  # where the constant starts


def test_negative_number_to_a_fractional_power() -> None:
    # was: TypeError "float() argument must be ... not 'complex'" while folding constants
    assert diagnostics(HEAD + "((0 - 8) ** 0.5) }") == [("E128", 2, COL + 1, "-8 ** 0.5 is undefined")]


def test_number_literal_too_large_for_a_float() -> None:
    # was: accepted as infinity, and exported as an inf constant
    assert diagnostics(HEAD + "1e309 }") == [("E128", 2, COL, "this number is too large for a float")]


def test_constant_arithmetic_that_overflows() -> None:
    # was: accepted as infinity (1e308 * 10) or nan
    assert diagnostics(HEAD + "(1e308 * 10) }") == [("E128", 2, COL + 1, "1e+308 * 10 is undefined")]


def test_tie_with_different_shapes_is_located() -> None:
    # was: E161 without a span (no file, line or column)
    text = (
        "axis batch, n = 2, k = 3\n"
        "circuit L[d](x: [d]) -> [d] { return linear[d -> d](x) }\n"
        "model M(v: [batch, n], w: [batch, k]) -> [batch, k] {\n"
        "    a = L[d=n](v) as one\n"
        "    return L[d=k](w, tie=one)\n"
        "}\n"
    )
    assert [(c, line, col) for c, line, col, _ in diagnostics(text)] == [("E161", 2, 38), ("E161", 2, 38)]


def test_instance_named_with_a_python_keyword() -> None:
    # found by tools/fuzz.py (visual_attention.ncd with `as o` mutated to `as else`):
    # was: SyntaxError in torch.fx's generated code (`self.else.weight`)
    text = "axis batch, n = 4\nmodel M(v: [batch, n]) -> [batch, n] { return linear[n -> n](v) as else }\n"
    assert diagnostics(text) == [
        ("E148", 2, 47, "'else' cannot name an instance (in 'else.weight'): it is a Python keyword")
    ]


@pytest.mark.parametrize("name", ["training", "forward", "state_dict", "graph", "__class__", "_parameters"])
def test_instance_named_like_a_module_attribute(name: str) -> None:
    # was: KeyError "attribute 'training' already exists" from nn.Module.add_module
    text = f"axis batch, n = 4\nmodel M(v: [batch, n]) -> [batch, n] {{ {name} = layernorm[n](v)\n return {name} }}\n"
    ((code, line, _, message),) = diagnostics(text)
    assert (code, line) == ("E148", 2) and message.startswith(f"'{name}' cannot name an instance")


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("lambda", "it is a Python keyword"),
        ("self", "it names the module itself in the compiled model"),
        ("torch", "it names the torch module in the compiled model"),
        ("output", "it names the model's result in the compiled model"),
    ],
)
def test_input_names_the_backends_cannot_use(name: str, why: str) -> None:
    # was: SyntaxError (lambda), TypeError (self, torch) in torch.fx; an invalid ONNX graph (output)
    text = f"axis batch, n = 4\nmodel M({name}: [batch, n]) -> [batch, n] {{ return relu({name}) }}\n"
    assert diagnostics(text) == [("E148", 2, 9, f"'{name}' cannot name a model input: {why}")]


def test_names_that_merely_resemble_reserved_ones_compile() -> None:
    from ncd_fuzz import assert_parity

    text = (
        "axis batch, n = 4\n"
        "model M(float: [batch, n], check_inputs: [batch, n]) -> [batch, n] {\n"
        "    trained = linear[n -> n](float) as self\n"
        "    return trained + layernorm[n](check_inputs) as graph_\n"
        "}\n"
    )
    assert_parity(ncdl.loads(text))


def test_box_named_self_before_a_learned_box() -> None:
    # was: AttributeError: the fx node `self = linear(...)` rebound forward's `self`,
    # so the next `self.ln.weight` failed (a box, a variable or a free axis named self)
    from ncd_fuzz import assert_parity

    text = (
        "axis batch, self\naxis n = 4\n"
        "model M(v: [batch, self, n]) -> [batch, self, n] {\n"
        "    self = linear[n -> n](v) as self\n"
        "    return layernorm[n](self) as ln + sum[self](self)\n"
        "}\n"
    )
    assert_parity(ncdl.loads(text))


@pytest.fixture
def exported(tmp_path: Path) -> Path:
    (tmp_path / "m.ncd").write_text(MODEL)
    assert main(["export", str(tmp_path / "m.ncd"), "-o", str(tmp_path / "m.onnx")]) == 0
    return tmp_path


def _bad_zip(path: Path) -> None:
    path.write_bytes(b"PK\x03\x04" + b"garbage" * 10)


def _object_npz(path: Path) -> None:
    import numpy as np

    np.savez(path, x=np.array([1, "a"], dtype=object))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(b""), "cannot read (EOFError: No data left in file)"),
        (_bad_zip, "cannot read (BadZipFile: File is not a zip file)"),
        (_object_npz, "cannot read (ValueError: Object arrays cannot be loaded when allow_pickle=False)"),
    ],
    ids=["empty", "bad_zip", "object_npz"],
)
def test_unreadable_run_inputs(make, message: str, exported: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # was: a traceback (EOFError, BadZipFile, a ValueError raised lazily by data[k])
    path = exported / "in.npz"
    make(path)
    capsys.readouterr()
    assert main(["run", str(exported / "m.onnx"), "-i", str(path)]) == 1
    assert capsys.readouterr().err == f"error: {path}: {message}\n"


def test_npz_that_unpacks_too_large_is_refused_before_reading(
    exported: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # a zip bomb: a small .npz whose arrays unpack past the limit (lowered here to keep the test small)
    import numpy as np

    import ncdl.cli

    monkeypatch.setattr(ncdl.cli, "MAX_NPZ_BYTES", 4096)
    path = exported / "bomb.npz"
    np.savez_compressed(path, x=np.zeros((2, 4096), np.float32))
    assert path.stat().st_size < 4096
    capsys.readouterr()
    assert main(["run", str(exported / "m.onnx"), "-i", str(path)]) == 1
    assert capsys.readouterr().err == f"error: {path}: unpacks to 32,768 bytes, over the limit of 4,096\n"


def test_npz_inputs_are_checked_from_their_headers_before_unpacking(
    exported: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # was: a 3 MB .npz unpacked to 3.2 GB before its shape was refused. This one declares
    # 20 MB of the wrong shape and holds 16 bytes of it: read, it would fail as truncated
    import io
    import zipfile

    import numpy as np

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (1_000_000, 5)})
    path = exported / "wrong.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("x.npy", header.getvalue() + bytes(16))
    capsys.readouterr()
    assert main(["run", str(exported / "m.onnx"), "-i", str(path)]) == 1
    assert capsys.readouterr().err == "error: input `x`: axis n expects 4 at dim 1, got 5\n"


@pytest.mark.parametrize("command", ["ir", "compile", "export", "render"])
def test_output_that_is_a_folder(command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # was: "error: /tmp/.out.1234.tmp: Is a directory" (the temp file's name)
    (tmp_path / "m.ncd").write_text(MODEL)
    (tmp_path / "out").mkdir()
    assert main([command, str(tmp_path / "m.ncd"), "-o", str(tmp_path / "out")]) == 1
    assert capsys.readouterr().err.endswith(f"error: cannot write {tmp_path / 'out'}: it is a folder\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.ncd", "out"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # found by tools/fuzz.py: identity_resnet.ncd with the model parameter `n3 = 128` mutated to `n3 = 0`
        (
            "axis batch, c = 4\nmodel M[k = c - 4](v: [batch, c]) -> [batch, c] { return v + sum[k](linear[c -> k](v)) }\n",
            "axis 'k' must have a positive size, got 0",
        ),
        (
            "axis batch, c = 4\nmodel M(v: [batch, c]) -> [batch, (c - c)] { return linear[c -> (c - c)](v) }\n",
            "axis 'c-c' must have a positive size, got 0",
        ),
        (
            "axis batch, c = 4\ncircuit F[d, e = d - 4](x: [d]) -> [e] { return linear[d -> e](x) }\n"
            "model M(v: [batch, c]) -> [batch, c] { return v + sum[e](F[d=c](v)) }\n",
            "axis 'e' must have a positive size, got 0",
        ),
    ],
    ids=["model_parameter", "size_expression", "circuit_default"],
)
def test_derived_axis_of_size_zero(text: str, message: str) -> None:
    # was: accepted; torch then failed at run time on a weight of shape [0, 64, 1, 1]
    found = diagnostics(text)
    assert (found[0][0], found[0][3]) == ("E107", message)


def test_bounded_param_before_fused_attention_exports() -> None:
    # found by tools/fuzz.py (a generated program): the ONNX Slice of a bounded `param`
    # lost its fixed dims in shape inference, and onnxruntime then refused the MatMul
    # after the fused Attention ("Incompatible dimensions for matrix multiplication")
    from ncd_fuzz import assert_parity

    text = (
        "axis batch\naxis seq <= 4, key ~ seq\naxis p = 1, b = 3\n"
        "model Gen(x: [batch, seq, p]) -> [batch, seq, b] {\n"
        "    v = x + param[seq, p]()\n"
        "    k = rename[seq -> key](v)\n"
        "    return linear[p -> b](contract[key](softmax[key](contract[p](v, k)), k))\n"
        "}\n"
    )
    assert_parity(ncdl.loads(text))
