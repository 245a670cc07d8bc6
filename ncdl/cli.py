"""The ``ncdl`` command.

Exit codes: 0 success, 1 a mistake in the user's input (diagnostics on
stderr), 2 a usage error. Each subcommand imports only what it needs:
``ncdl check`` never imports torch or onnx.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ncdl.compiler.pipeline import OPSET_DEFAULT, OPSET_MAX, OPSET_MIN
from ncdl.dsl.diagnostics import NcdlError
from ncdl.files import UnsafeTarget, check_target, write_atomic

EXIT_OK, EXIT_INPUT, EXIT_USAGE = 0, 1, 2
#: The most bytes an ``.npz`` input may unpack to.
MAX_NPZ_BYTES = 2**32


class InputError(Exception):
    """A problem with the user's files or data (exit code 1), one line."""


class UsageError(Exception):
    """A bad command line (exit code 2), one line."""


class WarningsAsErrors(Exception):
    """``--werror`` and the file has warnings (exit code 1)."""


def _positive(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is less than 1")
    return value


def _load(args: argparse.Namespace):
    """Load and check ``args.file``; print its warnings on stderr (they fail only with ``--werror``)."""
    from ncdl.program import load

    program = load(
        args.file,
        allow_paths=tuple(getattr(args, "allow_path", None) or ()),
        max_boxes=getattr(args, "max_boxes", None),
    )
    values = _assignments(getattr(args, "set", None), "--set")
    if getattr(args, "command", "") != "stats":
        values.update(_assignments(getattr(args, "axis", None), "--axis"))
    circuit = getattr(args, "circuit", None)
    if circuit is not None:
        if circuit in program.models:
            raise UsageError(f"'{circuit}' is a model; use --model {circuit}")
        try:
            drawing = getattr(args, "command", "") == "render"  # a symbolic circuit is for drawing only
            program = (program.symbolic_circuit if drawing else program.circuit)(circuit, **values)
        except NcdlError as err:
            decl = program.circuits.get(circuit)
            unset = [p.name for p in decl.params if p.default is None and p.name not in values] if decl else []
            if unset:
                note = f"note: '{circuit}' was checked with {', '.join(unset)} left free (no value given); "
                note += "give values with --set NAME=VALUE"
                err.args = (f"{err}\n\n{note}",)
            raise
        args.model = circuit
    elif values:
        try:
            program = program.with_params(_model(program, args.model), **values)
        except KeyError as err:
            raise InputError(err.args[0]) from None
    _show_warnings(program.warnings, getattr(args, "werror", False))
    return program


#: A value on the command line: an integer, a decimal or scientific number, or true/false.
_INTEGER = re.compile(r"-?[0-9]+")
_NUMBER = re.compile(r"-?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?")


def _assignments(items: list[str] | None, option: str) -> dict[str, int | float | bool]:
    """``--set heads=8 --set eps=1e-5 --set bias=false`` (repeatable) as ``{"heads": 8, "eps": 1e-05, "bias": False}``."""
    out: dict[str, int | float | bool] = {}
    for item in items or []:
        key, _, value = item.partition("=")
        if not key.isidentifier():
            raise UsageError(f"{option} {item}: write NAME=VALUE")
        if _INTEGER.fullmatch(value):
            out[key] = int(value)
        elif _NUMBER.fullmatch(value):
            out[key] = float(value)
        elif value in ("true", "false"):
            out[key] = value == "true"
        else:
            raise UsageError(f"{option} {item}: write NAME=VALUE with an integer, a number (1e-5) or true/false")
    return out


def _show_warnings(found: list[Any], werror: bool) -> None:
    for w in found:
        print(w, file=sys.stderr, end="\n\n")
    if found and werror:
        raise WarningsAsErrors(f"{len(found)} warning{'s' * (len(found) != 1)}, and --werror makes them errors")


def _model(program: Any, name: str | None) -> str:
    if not program.models:
        raise InputError(f"{program.path}: declares no model; add `model Name(...) -> [...] {{ ... }}`")
    if name is not None and name not in program.models:
        raise InputError(f"{program.path}: no model '{name}'; models: {', '.join(program.models)}")
    return name or program.models[-1]


def _first_line(err: BaseException) -> str:
    return next((line.strip() for line in str(err).splitlines() if line.strip()), type(err).__name__)


def _check_output(path: str | None) -> None:
    """Fail early, naming the output, when its folder does not exist."""
    if path is not None and not Path(path).resolve().parent.is_dir():
        raise InputError(f"cannot write {path}: the folder {Path(path).parent} does not exist")
    if path is not None:
        try:
            check_target(path)
        except UnsafeTarget as err:
            raise InputError(str(err)) from None


# ---- subcommands ----------------------------------------------------------------


def cmd_check(args: argparse.Namespace) -> int:
    """Print each model's signature, axis table and parameters."""
    from ncdl.report import circuit_signature, describe_model

    program = _load(args)
    names = [_model(program, args.model)] if args.model else program.models
    if not names:
        circuits = [d for d in program.circuits.values() if not d.is_model]
        count = f"{len(circuits)} circuit{'s' * (len(circuits) != 1)}"
        print(f"{args.file}: ok: {count} checked (no models)")
        for decl in circuits:
            print(f"circuit {circuit_signature(decl)}")
    for name in names:
        print(describe_model(program.graph(name)))
    return EXIT_OK


def cmd_ir(args: argparse.Namespace) -> int:
    """Print the IR as JSON."""
    from ncdl import ir

    _check_output(args.output)
    program = _load(args)
    g = program.graph(_model(program, args.model))
    text = ir.dumps(g)
    if args.output:
        write_atomic(args.output, text + "\n")
    else:
        print(text)
    return EXIT_OK


def cmd_compile(args: argparse.Namespace) -> int:
    """Build the torch.fx module; print its code or save its state_dict."""
    _check_output(args.output)
    program = _load(args)
    name = _model(program, args.model)
    from ncdl.compiler.fx import module_code

    module = program.to_torch(name, args.hierarchy)
    if args.print:
        print(module_code(module))
    elif not args.output:
        count = sum(p.numel() for p in module.parameters())
        print(f"compiled {name}: a torch.fx.GraphModule with {count:,} parameters", file=sys.stderr)
        print("(--print shows its code, -o saves its freshly initialised state_dict)", file=sys.stderr)
    if args.output:
        import io

        import torch

        buf = io.BytesIO()
        torch.save(module.state_dict(), buf)
        write_atomic(args.output, buf.getvalue())
        print(f"wrote {args.output}", file=sys.stderr)
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    """Export the model to ONNX straight from the IR."""
    from ncdl.files import save_onnx

    if not OPSET_MIN <= args.opset <= OPSET_MAX:
        raise UsageError(f"opset {args.opset} is not supported; use {OPSET_MIN} to {OPSET_MAX}")
    _check_output(args.output)
    program = _load(args)
    name = _model(program, args.model)
    state = None
    if args.weights:
        from ncdl.weights import load_file

        try:
            state = load_file(args.weights)
        except ValueError as err:
            raise InputError(f"{args.weights}: {err}") from None
    vocabulary = _vocabulary(args.vocabulary) if args.vocabulary else None
    try:
        if args.decoding:
            model = program.to_onnx_step(name, state_dict=state, opset=args.opset)
        else:
            model = program.to_onnx(name, state_dict=state, opset=args.opset)
    except ValueError as err:  # a state_dict that does not fit the model
        raise InputError(f"{args.weights}: {err}") from None
    if vocabulary is not None:
        from onnx import helper

        meta = {p.key: p.value for p in model.metadata_props}
        del model.metadata_props[:]
        helper.set_model_props(model, {**meta, "ncdl.vocabulary": vocabulary})
    model = _convert(model, args.quantize, args.dtype)
    save_onnx(model, args.output)
    what = "step graph, " if args.decoding else ""
    what += f"{args.quantize}, " if args.quantize else f"{args.dtype}, " if args.dtype != "float32" else ""
    print(f"wrote {args.output} ({what}opset {args.opset}, {len(model.graph.node)} nodes)", file=sys.stderr)
    return EXIT_OK


def _vocabulary(path: str) -> str:
    """The characters of a text file, sorted, once each: a character-level vocabulary (token id = position)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read the vocabulary {path}: {getattr(err, 'strerror', None) or err}") from None
    if not text:
        raise InputError(f"{path}: the vocabulary file is empty")
    return "".join(sorted(set(text)))


def _convert(model: Any, quantize: str | None, dtype: str) -> Any:
    """``model`` quantised or in another float type (see :mod:`ncdl.runtime.convert`)."""
    from ncdl.runtime.convert import quantize_int8, to_dtype

    if quantize and dtype != "float32":
        raise UsageError("--quantize int8 and --dtype together are not offered; choose one")
    if quantize:
        return quantize_int8(model)
    try:
        return to_dtype(model, dtype)
    except ValueError as err:
        raise UsageError(str(err)) from None


def cmd_generate(args: argparse.Namespace) -> int:
    """Generate tokens from an exported step graph (``ncdl export --decoding``), streaming them to stdout."""
    import time

    from ncdl.runtime.generate import OrtDecoder, Sampling, generate

    if str(args.model_file).endswith(".ncd"):
        stem = Path(args.model_file).with_suffix(".onnx").name
        raise InputError(
            f"{args.model_file}: `ncdl generate` runs an exported step graph; export it first: "
            f"ncdl export {args.model_file} --decoding -o {stem} && ncdl generate {stem} --prompt ..."
        )
    if not Path(args.model_file).is_file():
        raise InputError(f"cannot load model `{args.model_file}`: no such file")
    try:
        sampling = Sampling(args.temperature, args.top_k, args.top_p, args.seed)
    except ValueError as err:
        raise UsageError(str(err)) from None
    if args.max_new_tokens < 1:
        raise UsageError(f"--max-new-tokens must be at least 1, got {args.max_new_tokens}")
    try:
        decoder = OrtDecoder(args.model_file, threads=args.threads)
    except ValueError as err:
        raise InputError(f"{args.model_file}: {err}") from None
    except Exception as err:  # onnxruntime raises several unrelated types for a bad file
        raise InputError(f"cannot load model `{args.model_file}`: {_first_line(err)}") from None
    chars = decoder.metadata.get("ncdl.vocabulary")
    prompt = _prompt(args.prompt, chars)
    if chars is not None:
        sys.stdout.write(args.prompt)
    start, count = time.perf_counter(), 0
    try:
        for token in generate(decoder, prompt, args.max_new_tokens, sampling):
            sys.stdout.write(chars[token] if chars is not None and token < len(chars) else f" {token}")
            sys.stdout.flush()
            count += 1
    except ValueError as err:
        raise InputError(str(err)) from None
    elapsed = time.perf_counter() - start
    sys.stdout.write("\n")
    print(f"{count} tokens in {elapsed:.2f} s ({count / elapsed:.1f} tokens/s)", file=sys.stderr)
    return EXIT_OK


def _prompt(text: str, chars: str | None) -> list[int]:
    """The prompt's token ids: its characters under the model's vocabulary, else integers separated by
    spaces or commas."""
    if chars is not None:
        index = {c: i for i, c in enumerate(chars)}
        missing = sorted({c for c in text if c not in index})
        if missing:
            raise InputError(f"the prompt has characters outside the model's vocabulary: {''.join(missing)!r}")
        return [index[c] for c in text]
    parts = [p for p in re.split(r"[\s,]+", text.strip()) if p]
    if not parts or not all(p.isdigit() for p in parts):
        raise InputError(
            "the model has no vocabulary (export with --vocabulary FILE); give the prompt as token ids: --prompt '1 2 3'"
        )
    return [int(p) for p in parts]


def cmd_run(args: argparse.Namespace) -> int:
    """Run an exported ONNX model with onnxruntime, checking inputs by axis."""
    import numpy as np

    from ncdl.runtime.session import InputError as RuntimeInputError
    from ncdl.runtime.session import ModelLoadError, RunError, Session

    _check_output(args.output)
    if str(args.model_file).endswith(".ncd"):
        stem = Path(args.model_file).with_suffix(".onnx").name
        raise InputError(
            f"{args.model_file}: `ncdl run` runs an exported ONNX model; export it first: "
            f"ncdl export {args.model_file} -o {stem} && ncdl run {stem} -i input.npy"
        )
    try:
        session = Session(args.model_file)
    except ModelLoadError as err:
        raise InputError(str(err)) from None
    if not args.input:
        print(session.signature())
        return EXIT_OK
    names = session.output_names
    if args.output and args.output.endswith(".npy") and len(names) > 1:
        raise InputError(
            f"{args.model_file} has {len(names)} outputs ({', '.join(names)}) and an .npy file holds one array; "
            f"write them to an .npz: -o {Path(args.output).with_suffix('.npz')}"
        )
    inputs = _read_inputs(args.input, session)
    try:
        outputs = session.run(inputs)
    except (RuntimeInputError, RunError) as err:
        raise InputError(str(err)) from None
    if args.output:
        import io

        buf = io.BytesIO()
        if args.output.endswith(".npy"):
            np.save(buf, next(iter(outputs.values())))
        else:
            np.savez(buf, **outputs)
        write_atomic(args.output, buf.getvalue())
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        for key, value in outputs.items():
            print(f"{key}: {value.dtype}{list(value.shape)}")
            print(np.array2string(value, threshold=40, precision=4))
    return EXIT_OK


def _read_inputs(paths: list[str], session: Any) -> dict[str, Any]:
    """The named inputs of ``.npy`` and ``.npz`` files. An ``.npz`` is checked from its
    array headers (bytes, names, dtypes, shapes) before any array in it is unpacked."""
    import numpy as np

    from ncdl.runtime.npz import placeholders
    from ncdl.runtime.session import InputError as RuntimeInputError

    inputs: dict[str, Any] = {}
    packed: dict[str, tuple[str, Any]] = {}  # name -> (path, opened .npz), unpacked once the headers pass
    names = session.input_names
    for path in paths:
        try:
            data = np.load(path, allow_pickle=False)
            declared = placeholders(data) if not isinstance(data, np.ndarray) else None
        except Exception as err:  # noqa: BLE001 - empty, truncated, pickled or not numpy at all: the user's input
            raise InputError(f"{path}: cannot read ({type(err).__name__}: {_first_line(err)})") from None
        if declared is None:
            taken = set(inputs)
            free = [n for n in names if n not in taken]
            if not free:
                raise InputError(f"{path}: the model has no input left for it")
            inputs[free[0]] = data
            continue
        unpacked = sum(a.nbytes for a in declared.values())
        if unpacked > MAX_NPZ_BYTES:  # a zip bomb would fill the memory before any check
            raise InputError(f"{path}: unpacks to {unpacked:,} bytes, over the limit of {MAX_NPZ_BYTES:,}")
        inputs.update(declared)
        packed.update(dict.fromkeys(declared, (path, data)))
    if packed and set(names) <= set(inputs):
        try:
            session.check(inputs)  # names, dtypes and shapes, on the headers alone
        except RuntimeInputError as err:
            raise InputError(str(err)) from None
    for name, (path, data) in packed.items():
        try:
            inputs[name] = data[name]
        except Exception as err:  # noqa: BLE001 - a corrupt member: the user's input
            raise InputError(f"{path}: cannot read `{name}` ({type(err).__name__}: {_first_line(err)})") from None
    return inputs


def cmd_render(args: argparse.Namespace) -> int:
    """Render the neural circuit diagram."""
    from ncdl.compiler.diagram import PageWarning, render, write_diagram

    status = EXIT_OK
    _check_output(args.output)
    try:
        program = _load(args)
        g = program.graph(_model(program, args.model))
    except NcdlError as err:
        graphs = getattr(err, "graphs", {})
        if not graphs:
            raise
        print(err, file=sys.stderr)
        g = graphs.get(args.model) if args.model else next(iter(graphs.values()))
        if g is None:
            return EXIT_INPUT
        status = EXIT_INPUT
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", PageWarning)
            dot = render(
                g,
                depth=_depth(args.depth),
                expand=tuple(args.expand or ()),
                panels="auto" if args.panels is None else args.panels,
                labels=args.labels,
                cost=args.cost,
                backward=args.backward,
            )
        message = write_diagram(dot, args.output)
    except ValueError as err:  # a bad --depth, --expand or output extension
        raise UsageError(str(err)) from None
    for warning in caught:
        if issubclass(warning.category, PageWarning):
            print(f"warning: {warning.message}", file=sys.stderr)
    if message:
        print(message, file=sys.stderr)
    else:
        print(f"wrote {args.output}", file=sys.stderr)
    return status


def _depth(option: str | None) -> int | str | None:
    """``--depth``: a number, ``all`` (every circuit open) or, by default, ``auto``:
    the most open view that fits one page."""
    if option is None or option == "auto":
        return "auto"
    if option == "all":
        return None
    if not option.isdigit():
        raise UsageError(f"--depth takes a whole number, 'all' or 'auto', not {option!r}")
    return int(option)


def cmd_stats(args: argparse.Namespace) -> int:
    """Parameters, FLOPs and activation memory per box and circuit."""
    from ncdl.compiler.stats import format_stats, stats

    program = _load(args)
    sizes = {}
    for item in args.axis or []:
        key, _, value = item.partition("=")
        if not value.isdigit():
            raise UsageError(f"--axis {item}: write NAME=INTEGER")
        sizes[key] = int(value)
    try:
        result = stats(program.graph(_model(program, args.model)), sizes)
    except ValueError as err:  # an --axis that is unknown, not free or over its bound
        raise InputError(f"--axis: {err}") from None
    print(json.dumps(result, indent=1) if args.json else format_stats(result))
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the main job on a bundled architecture (default: the small GPT)."""
    from ncdl.demo import run_demo

    return run_demo(args.arch, steps=args.steps, out=args.out)


def cmd_lsp(args: argparse.Namespace) -> int:
    """Run the language server on stdin/stdout."""
    try:
        from ncdl.lsp.server import main as serve_lsp
    except ImportError as err:
        if (err.name or "").split(".")[0] not in ("pygls", "lsprotocol", "cattrs", "attrs"):
            raise
        raise InputError("`ncdl lsp` needs pygls, which is not installed: pip install 'ncdl[lsp]'") from None
    return serve_lsp()


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the live preview page of a file on 127.0.0.1."""
    from ncdl.serve.app import ServeError, serve

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port} is not a port number (0 to 65535; 0 picks a free one)")
    try:
        return serve(args.file, port=args.port, model=args.model, open_browser=args.open)
    except ServeError as err:
        raise InputError(str(err)) from None


def _hierarchy(text: str) -> str | int:
    """``--hierarchy``'s value: 'flat', 'instances' or a depth >= 1."""
    if text in ("flat", "instances"):
        return text
    if text.isdigit() and int(text) >= 1:
        return int(text)
    raise argparse.ArgumentTypeError(f"expected 'flat', 'instances' or a depth >= 1, got {text!r}")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``ncdl`` command."""
    from ncdl.version import __version__

    parser = argparse.ArgumentParser(prog="ncdl", description="Neural circuit diagrams as a language.")
    parser.add_argument("--version", action="version", version=f"ncdl {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_file(name: str, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.add_argument("file", help="the .ncd file")
        default = "every model" if name == "check" else "the file's last model"
        p.add_argument("--model", "-m", help=f"the model to use (default: {default})")
        p.add_argument("--circuit", help="use this circuit of the file as the model (a library file has no models)")
        p.add_argument(
            "--set",
            action="append",
            metavar="NAME=VALUE",
            help="give a parameter of the model (or --circuit) a value: an integer, a number (1e-5) or true/false",
        )
        if name != "stats":
            p.add_argument("--axis", action="append", metavar="NAME=INT", help="the same as --set, for axis parameters")
        p.add_argument("--allow-path", action="append", help="allow `use` to read files under this folder")
        p.add_argument(
            "--max-boxes",
            type=_positive,
            metavar="N",
            help="raise the limit on boxes in one model (E152, default 15,000) for a larger graph",
        )
        p.add_argument("--werror", action="store_true", help="treat warnings as errors (exit code 1)")
        return p

    with_file("check", "check a file; print models, axes and parameters").set_defaults(func=cmd_check)
    p = with_file("ir", "print the checked IR")
    p.add_argument("--json", action="store_true", default=True, help="as JSON (the default and only format)")
    p.add_argument("-o", "--output", help="write to this file instead of stdout")
    p.set_defaults(func=cmd_ir)
    p = with_file("compile", "build the torch.fx module")
    p.add_argument("--print", action="store_true", help="print the generated code")
    p.add_argument(
        "--hierarchy",
        type=_hierarchy,
        default="instances",
        help="'instances' (default: a submodule per circuit instance), 'flat' (one graph) or a depth",
    )
    p.add_argument("-o", "--output", help="save a freshly initialised state_dict (.pt)")
    p.set_defaults(func=cmd_compile)
    p = with_file("export", "export to ONNX")
    p.add_argument("-o", "--output", required=True, help="the .onnx file to write")
    p.add_argument("--weights", help="a state_dict: a .safetensors file, or one saved with torch.save")
    p.add_argument(
        "--opset",
        type=int,
        default=OPSET_DEFAULT,
        help=f"ONNX opset, {OPSET_MIN} to {OPSET_MAX} (default {OPSET_DEFAULT})",
    )
    p.add_argument(
        "--decoding",
        action="store_true",
        help="write the step graph of incremental decoding (past/present keys and values) for `ncdl generate`",
    )
    p.add_argument("--quantize", choices=["int8"], help="dynamic int8 quantisation (onnxruntime's)")
    p.add_argument(
        "--dtype", choices=["float32", "float16", "bfloat16"], default="float32", help="float type (default float32)"
    )
    p.add_argument("--vocabulary", metavar="TEXT", help="a text file whose characters are the tokens (for generate)")
    p.set_defaults(func=cmd_export)
    p = sub.add_parser(
        "generate", help="generate tokens from an exported step graph", description="generate tokens with onnxruntime"
    )
    p.add_argument("model_file", help="the .onnx step graph (ncdl export --decoding)")
    p.add_argument("--prompt", required=True, help="text (with a vocabulary) or token ids: '1 2 3'")
    p.add_argument("--max-new-tokens", type=int, default=100, help="tokens to generate (default 100)")
    p.add_argument("--temperature", type=float, default=0.0, help="0 (default): greedy; else sample")
    p.add_argument("--top-k", type=int, help="sample among the k most likely tokens")
    p.add_argument("--top-p", type=float, help="sample among the most likely tokens up to this probability")
    p.add_argument("--seed", type=int, help="seed for sampling")
    p.add_argument("--threads", type=int, help="onnxruntime threads (default: its own choice)")
    p.set_defaults(func=cmd_generate)
    p = sub.add_parser("run", help="run an .onnx model with onnxruntime", description="run an .onnx model")
    p.add_argument("model_file", help="the .onnx file")
    p.add_argument("--input", "-i", action="append", help=".npy (one input) or .npz (named inputs)")
    p.add_argument("--output", "-o", help="write outputs to .npy/.npz")
    p.set_defaults(func=cmd_run)
    p = with_file("render", "draw the neural circuit diagram")
    p.add_argument("-o", "--output", required=True, help="out.svg, .png, .pdf or .dot")
    p.add_argument("--depth", help="open circuits down to this depth, or 'all' (default 'auto': what fits one page)")
    p.add_argument("--expand", action="append", help="open this instance path (repeatable)")
    p.add_argument(
        "--panels",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="draw each circuit shown as a box once as its own 'Name(...) =' panel (default: where it fits the page)",
    )
    p.add_argument(
        "--labels",
        choices=("names", "sizes", "both", "none"),
        default="names",
        help="what wires are labelled with (default: axis names)",
    )
    p.add_argument("--cost", action="store_true", help="write FLOPs and activation bytes on each box")
    p.add_argument(
        "--backward", action="store_true", help="draw the backward pass: derivatives, gradients right to left"
    )
    p.set_defaults(func=cmd_render)
    p = with_file("stats", "parameters, FLOPs and activation memory")
    p.add_argument("--axis", action="append", help="give a free axis a size at run time: --axis seq=512")
    p.add_argument("--json", action="store_true", help="as JSON")
    p.set_defaults(func=cmd_stats)
    p = sub.add_parser("lsp", help="run the language server (LSP on stdio)", description="run the language server")
    p.set_defaults(func=cmd_lsp)
    p = sub.add_parser("serve", help="a live preview page of a file", description="serve a live preview page")
    p.add_argument("file", help="the .ncd file")
    p.add_argument("--model", "-m", help="the model shown first (default: the file's last model)")
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    p.add_argument("--open", action="store_true", help="open the page in a web browser")
    p.set_defaults(func=cmd_serve)
    from ncdl.architectures import list_architectures
    from ncdl.architectures import path as architecture_path

    models = re.compile(r"^model\s", re.M)  # library files (circuits only) have nothing to train
    names = ", ".join(n for n in list_architectures() if models.search(architecture_path(n).read_text()))
    p = sub.add_parser("demo", help="check, render, train, export and run a bundled architecture")
    p.add_argument("arch", nargs="?", default="gpt", help=f"bundled architecture (default: gpt): {names}")
    p.add_argument("--steps", type=int, default=300, help="training steps (default 300)")
    p.add_argument("--out", default="out", help="folder for the outputs (default: out)")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse arguments, run, map failures to exit codes."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0) and EXIT_USAGE
    try:
        return args.func(args)
    except NcdlError as err:
        print(err, file=sys.stderr)
        return EXIT_INPUT
    except (InputError, WarningsAsErrors) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_INPUT
    except UsageError as err:
        print(f"ncdl {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        return EXIT_OK
    except OSError as err:
        where = f"{err.filename}: " if err.filename else ""
        print(f"error: {where}{err.strerror or err}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
