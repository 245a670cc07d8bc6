"""The checked Program: one ``.ncd`` file's models, ready for every backend.

Backends are imported only when asked for, so checking a file never imports
torch, onnx or graphviz.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import networkx as nx

from ncdl.compiler.pipeline import OPSET_DEFAULT
from ncdl.dsl.budget import box_limit
from ncdl.dsl.check import check_source
from ncdl.dsl.diagnostics import Diagnostic, NcdlError

if TYPE_CHECKING:
    import graphviz
    import onnx
    import torch.fx

#: A model or circuit parameter's value given from Python: an axis size or ``int``,
#: a ``float`` or a ``bool`` parameter's value (``heads=8``, ``eps=1e-5``, ``bias=False``).
ParamValue = int | float | bool


class Program:
    """A checked ncdl program: its models, each an IR graph.

    Example:
        >>> p = ncdl.loads("axis n = 4\\nmodel M(x: [n]) -> [n] { return relu(x) }")
        >>> p.models
        ['M']
    """

    def __init__(
        self,
        graphs: dict[str, nx.MultiDiGraph],
        path: str,
        text: str,
        warnings: list[Diagnostic] | None = None,
        circuits: dict[str, Any] | None = None,
    ) -> None:
        self._graphs = graphs
        #: The circuits and models the file declares (syntax trees), by name.
        self.circuits: dict[str, Any] = dict(circuits or {})
        self.allow_paths: tuple[str, ...] = ()
        #: The box limit its checks run under (None: the default, ``ncdl.dsl.budget.MAX_BOXES``).
        self.max_boxes: int | None = None
        #: Warnings (``warning[Wnnn]``): legal but suspicious code, as :class:`ncdl.Diagnostic`.
        self.warnings: list[Diagnostic] = list(warnings or [])
        self.path = path
        self.text = text
        self.sha256 = hashlib.sha256(text.encode("utf-8")).hexdigest()

    @property
    def models(self) -> list[str]:
        """The compile targets (``model`` declarations), in file order."""
        return list(self._graphs)

    def with_params(self, model: str | None = None, /, **params: ParamValue) -> Program:
        """The program with ``model``'s parameters (``heads=8``) set to other values
        (``model`` is positional, so a parameter may be called ``model`` too).

        Example:
            >>> gpt = ncdl.architectures.load("gpt").with_params("GPT", heads=8)
        """
        name = self._model_name(model)
        with box_limit(self.max_boxes):
            checked = check_source(self.text, self.path, self.allow_paths, overrides={name: dict(params)})
        return self._derived(checked)

    def circuit(self, name: str, **params: ParamValue) -> Program:
        """A program whose only model is the file's circuit ``name``, with its
        parameters set to ``params``; an axis parameter left unset is a free axis."""
        with box_limit(self.max_boxes):
            checked = check_source(self.text, self.path, self.allow_paths, overrides={name: dict(params)}, circuit=name)
        return self._derived(checked)

    def symbolic_circuit(self, name: str, **params: ParamValue) -> Program:
        """:meth:`circuit` for drawing: an axis parameter left unset stays a symbol even
        where the circuit reads it as a number (``sqrt(head)``, drawn ``head^−½``).

        Such a number takes a stand-in value (``graph["stand_ins"]``), so the
        program is for :meth:`render` only, not for running.

        Example:
            >>> load("attention.ncd").symbolic_circuit("Attention").render()  # doctest: +SKIP
        """
        with box_limit(self.max_boxes):
            checked = check_source(
                self.text, self.path, self.allow_paths, overrides={name: dict(params)}, circuit=name, symbolic=True
            )
        return self._derived(checked)

    def _derived(self, checked: Any) -> Program:
        program = Program(checked.graphs, self.path, self.text, checked.warnings, checked.circuits)
        program.allow_paths = self.allow_paths
        program.max_boxes = self.max_boxes
        return program

    def _fitting(self, g: nx.MultiDiGraph) -> nx.MultiDiGraph:
        """``g``, unless compiling or exporting it needs more memory than the machine has (E202)."""
        from ncdl.dsl.limits import check_memory

        sources = {self.path: self.text.splitlines()}
        for data in g.nodes.values():  # the lines of imported files, for the diagnostic's excerpt
            file = (data.get("span") or {}).get("file")
            if file and file not in sources and Path(file).is_file():
                sources[file] = Path(file).read_text(encoding="utf-8").splitlines()
        found = check_memory(g, sources)
        if found:
            raise NcdlError(found)
        return g

    def _model_name(self, model: str | None) -> str:
        self.graph(model)  # the same errors for a missing model
        return model or self.models[-1]

    def graph(self, model: str | None = None, /, **params: ParamValue) -> nx.MultiDiGraph:
        """The IR of ``model`` (default: the file's only or last model), with
        its parameters set to ``params`` when given."""
        if params:
            return self.with_params(model, **params).graph(self._model_name(model))
        if not self._graphs:
            raise KeyError(f"{self.path} declares no model; add `model Name(...) -> [...] {{ ... }}`")
        if model is None:
            return self._graphs[self.models[-1]]
        if model not in self._graphs:
            raise KeyError(f"no model {model!r} in {self.path}; models: {', '.join(self.models)}")
        return self._graphs[model]

    def to_torch(
        self,
        model: str | None = None,
        /,
        hierarchy: str | int = "instances",
        *,
        flat_weights: bool = False,
        fuse_linears: bool = False,
        **params: ParamValue,
    ) -> torch.fx.GraphModule:
        """A trainable ``torch.fx.GraphModule`` for ``model`` (with its parameters set to ``params``).

        ``hierarchy`` (see :func:`ncdl.compiler.fx.lower_fx`): ``"instances"``
        gives each circuit instance and ``repeat`` iteration a submodule of its
        own, an int ``n`` only the outermost ``n`` levels, ``"flat"`` one graph.
        Its ``load_state_dict`` takes ncdl's axis-shaped weights or torch.nn's
        flat ones; with ``flat_weights`` its ``state_dict()`` gives the flat ones; ``fuse_linears`` runs
        linears on one input as one matmul (:func:`ncdl.compiler.fx.lower_fx`)
        (docs/torch.md).
        """
        from ncdl.compiler.fx import lower_fx

        return lower_fx(
            self._fitting(self.graph(model, **params)),
            hierarchy,
            flat_weights=flat_weights,
            fuse_linears=fuse_linears,
        )

    def to_onnx(
        self,
        model: str | None = None,
        /,
        state_dict: dict[str, Any] | None = None,
        opset: int = OPSET_DEFAULT,
        **params: ParamValue,
    ) -> onnx.ModelProto:
        """An ONNX model for ``model``; weights from ``state_dict`` or freshly initialised."""
        from ncdl.compiler.onnx import lower_onnx

        return lower_onnx(self._fitting(self.graph(model, **params)), state_dict=state_dict, opset=opset)

    def decoding(self, model: str | None = None, **params: ParamValue) -> Any:
        """The prefill and step graphs of ``model`` for incremental decoding
        (:class:`ncdl.compiler.decoding.Decoding`).

        Raises:
            NcdlError: the model cannot be decoded a token at a time (E230-E234), located at the box that
                prevents it.
        """
        from ncdl.compiler.decoding import decoding

        return _decodable(decoding, self.graph(model, **params))

    def to_torch_step(
        self, model: str | None = None, state_dict: dict[str, Any] | None = None, **params: ParamValue
    ) -> tuple[torch.fx.GraphModule, dict[str, Any]]:
        """The torch step module of ``model`` and its cache layout (see :mod:`ncdl.compiler.fx.decoding`);
        wrap them in :class:`ncdl.runtime.generate.TorchDecoder` to generate."""
        from ncdl.compiler.fx.decoding import lower_fx_step

        return _decodable(lower_fx_step, self.graph(model, **params), state_dict)

    def to_onnx_step(
        self,
        model: str | None = None,
        state_dict: dict[str, Any] | None = None,
        opset: int = OPSET_DEFAULT,
        **params: ParamValue,
    ) -> onnx.ModelProto:
        """The ONNX step graph of ``model`` (see :mod:`ncdl.compiler.onnx.decoding`); what
        ``ncdl export --decoding`` writes and ``ncdl generate`` runs."""
        from ncdl.compiler.onnx.decoding import lower_onnx_step

        return _decodable(lower_onnx_step, self.graph(model, **params), state_dict, opset)

    def render(self, model: str | None = None, **options: Any) -> graphviz.Digraph:
        """The neural circuit diagram of ``model`` as a ``graphviz.Digraph``."""
        from ncdl.compiler.diagram import render

        return render(self.graph(model), **options)

    def stats(self, model: str | None = None, **axis_sizes: int) -> Any:
        """Parameters, FLOPs and activation memory of ``model`` (a dict that
        prints as a report; ``axis_sizes`` give free axes sizes)."""
        from ncdl.compiler.stats import stats

        return stats(self.graph(model), axis_sizes)

    def summary(self, model: str | None = None, *, print_fn: Any = print, **axis_sizes: int) -> None:
        """Print a Keras-like table of ``model``: each box, its output axes
        and shape, its parameters and FLOPs, then the totals.

        Example:
            >>> ncdl.architectures.load("gpt").summary("GPT", batch=1, seq=64)  # doctest: +SKIP
        """
        from ncdl.compiler.summary import summary

        print_fn(summary(self.graph(model), axis_sizes))

    def __repr__(self) -> str:
        from ncdl.report import circuit_signature, signature

        lines = [f"<ncdl.Program {self.path!r}"]
        lines += [f"  model {signature(self._graphs[m])}" for m in self.models]
        if not self.models:
            lines += [f"  circuit {circuit_signature(d)}" for d in self.circuits.values() if not d.is_model]
        if self.warnings:
            lines.append(f"  {len(self.warnings)} warning{'s' * (len(self.warnings) != 1)} (program.warnings)")
        return "\n".join(lines) + ">"

    def _repr_svg_(self) -> str | None:
        if not self._graphs:
            return None
        return self.render()._repr_image_svg_xml()


def _decodable(fn: Any, *args: Any) -> Any:
    """``fn(*args)``, with a :class:`~ncdl.compiler.decoding.DecodingError` turned into a located
    :class:`NcdlError` (the source line read from the file the span names)."""
    from ncdl.compiler.decoding import DecodingError
    from ncdl.dsl.diagnostics import Span
    from ncdl.dsl.imports import LIBRARY

    try:
        return fn(*args)
    except DecodingError as err:
        span, line = None, None
        if err.span:
            d = err.span
            span = Span(d["file"], d["line"], d["col"], d["end_line"], d["end_col"])
            file = LIBRARY / d["file"][len("<ncdl>/") :] if d["file"].startswith("<ncdl>/") else Path(d["file"])
            try:
                line = file.read_text(encoding="utf-8").splitlines()[span.line - 1]
            except (OSError, IndexError):
                line = None
        raise NcdlError([Diagnostic(err.code, err.message, span, err.hint, line)]) from None


def loads(
    text: str, path: str = "<string>", *, allow_paths: tuple[str, ...] = (), max_boxes: int | None = None
) -> Program:
    """Parse and check ncdl source text; raise :class:`ncdl.NcdlError` on mistakes.

    ``max_boxes`` raises the box limit (E152, default ``ncdl.dsl.budget.MAX_BOXES``) and the work
    budget with it, for graphs larger than any model (the program keeps it for later checks).
    """
    with box_limit(max_boxes):
        checked = check_source(text, path, allow_paths=allow_paths)
    program = Program(checked.graphs, path, text, checked.warnings, checked.circuits)
    program.allow_paths = tuple(allow_paths)
    program.max_boxes = max_boxes
    return program


def load(path: str | Path, *, allow_paths: tuple[str, ...] = (), max_boxes: int | None = None) -> Program:
    """Parse and check a ``.ncd`` file (see :func:`loads`)."""
    from ncdl.dsl.source import read_source

    text = read_source(str(path))
    return loads(text, str(path), allow_paths=allow_paths, max_boxes=max_boxes)


def compile(path: str | Path, model: str | None = None) -> torch.fx.GraphModule:  # noqa: A001
    """``load(path).to_torch(model)`` in one call."""
    return load(path).to_torch(model)


def render_text(
    text: str, model: str | None = None, path: str = "<string>", **options: Any
) -> tuple[graphviz.Digraph | None, NcdlError | None]:
    """Draw ncdl source text even when it has mistakes, as ``ncdl render`` does.

    Returns ``(diagram, error)``: a correct program's diagram and None; for a
    program with a type error, the diagram of the model up to the error (the
    bad wire in red) and the :class:`NcdlError`; ``(None, error)`` when
    nothing could be drawn (a syntax error). ``options`` are
    :meth:`Program.render`'s.
    """
    from ncdl.compiler.diagram import render

    try:
        return loads(text, path).render(model, **options), None
    except NcdlError as err:
        graphs = getattr(err, "graphs", {}) or {}
        g = graphs.get(model) if model else next(iter(graphs.values()), None)
        return (render(g, **options) if g is not None else None), err
