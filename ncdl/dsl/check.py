"""The checker: parsed modules to one verified IR per model.

Steps, in order: parse and import (``imports.load_modules``), declare the
global axes, collect the circuits, check each circuit of the top-level file
at its definition (``generic.check_circuit``), elaborate every model of it
(``elaborate.Elaborator``), verify each IR, collect the warnings
(``lint.lint_module``). All diagnostics of a run are
raised together in one :class:`NcdlError`.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
from dataclasses import dataclass, field

import networkx as nx

from ncdl import ir
from ncdl.dsl import ast
from ncdl.dsl.circuits import call_circuit
from ncdl.dsl.diagnostics import Diagnostic, NcdlError, did_you_mean
from ncdl.dsl.elaborate import MAX_AXIS_SIZE, Boxes, Elaborator
from ncdl.dsl.families import resolve_aliases, with_defaults
from ncdl.dsl.generic import check_circuit
from ncdl.dsl.imports import load_modules
from ncdl.dsl.limits import check_limits
from ncdl.dsl.lint import lint_module
from ncdl.dsl.names import check_names
from ncdl.dsl.primitives import PRIMITIVES, binary, call_primitive, elementwise
from ncdl.dsl.values import Env
from ncdl.ir.sizes import Size

#: The boxes a program may call: the primitive table and the circuit caller, handed to each elaborator.
BOXES = Boxes(PRIMITIVES, call_primitive, binary, elementwise, call_circuit)


@dataclass
class Checked:
    """A checked file: one IR per model, the warnings, the circuits it declares."""

    graphs: dict[str, nx.MultiDiGraph]
    warnings: list[Diagnostic] = field(default_factory=list)
    circuits: dict[str, ast.CircuitDecl] = field(default_factory=dict)


def check_source(
    text: str,
    path: str = "<string>",
    allow_paths: tuple[str, ...] = (),
    *,
    overrides: dict[str, dict[str, int | float | bool]] | None = None,
    circuit: str | None = None,
    symbolic: bool = False,
) -> Checked:
    """Check ncdl source; return its models' IR and its warnings, or raise NcdlError.

    ``overrides`` gives models other parameter values (``{"GPT": {"heads": 8}}``);
    ``circuit`` makes the file's circuit of that name its only model (its
    axis parameters without a value become free axes; with ``symbolic``, a
    number read from such an axis takes a stand-in value, for drawing only:
    see ``Elaborator.stand_ins``). Warnings are reported
    only for a file without errors (an error's consequences would show up as
    warnings too).
    """
    # The front end allocates many small objects that all stay alive; the cyclic
    # garbage collector would rescan them again and again (quadratic time).
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _check_source(text, path, allow_paths, overrides or {}, circuit, symbolic)
    finally:
        if enabled:
            gc.enable()


def _check_source(
    text: str,
    path: str,
    allow_paths: tuple[str, ...],
    overrides: dict[str, dict[str, int | float | bool]],
    circuit: str | None,
    symbolic: bool = False,
) -> Checked:
    modules, sources = load_modules(text, path, allow_paths)
    scratch = Elaborator(None, {}, {}, set(), sources, BOXES)
    budget = scratch.budget  # one work budget for the whole check
    resolve_aliases(modules, scratch.diagnostics, sources)
    axes, global_axes = _declare_axes(modules, scratch)
    circuits = _collect_circuits(modules, scratch)
    diagnostics = list(scratch.diagnostics)
    graphs: dict[str, nx.MultiDiGraph] = {}
    root = modules[-1]
    targets = _targets(root, circuits, overrides, circuit, axes, global_axes)
    # every circuit of the file, checked once at its definition
    for decl in root.circuits:
        if not decl.is_model and circuits.get(decl.name) is decl and not budget.exhausted:
            diagnostics += check_circuit(decl, circuits, axes, global_axes, sources, BOXES, scratch.broken_axes, budget)
    generic = {(d.span, d.code) for d in diagnostics}
    sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
    for decl in targets:
        if budget.exhausted:  # E200 is reported once; the models after it are not checked
            break
        el = Elaborator(decl, circuits, axes, global_axes, sources, BOXES)
        el.broken_axes = scratch.broken_axes
        if symbolic and circuit is not None:
            el.stand_ins = {}
        el.budget = budget
        g = el.elaborate_model()
        if not el.diagnostics:
            el.diagnostics += check_names(g, sources) + check_limits(g, sources)
        g.graph["source"] = {"file": path, "sha256": sha}
        if el.diagnostics:
            first = el.diagnostics[0]
            where = f"{first.span.file}:{first.span.line}:{first.span.col}: " if first.span else ""
            g.graph["error"] = {"message": f"{where}error[{first.code}]: {first.message}", "hint": first.hint or ""}
            diagnostics += [d for d in el.diagnostics if d not in diagnostics and (d.span, d.code) not in generic]
        else:
            ir.verify(g)
        graphs[decl.name] = g
    if diagnostics:
        diagnostics.sort(key=lambda d: (d.span.file, d.span.line, d.span.col) if d.span else ("", 0, 0))
        err = NcdlError(diagnostics)
        err.graphs = graphs
        raise err
    warnings = lint_module(root, global_axes, circuits, sources)
    declared = {d.name: d for d in root.circuits if circuits.get(d.name) is d}
    return Checked(graphs, warnings, declared)


def _targets(
    root: ast.Module,
    circuits: dict[str, ast.CircuitDecl],
    overrides: dict[str, dict[str, int | float | bool]],
    circuit: str | None,
    axes: dict[str, ir.Axis],
    global_axes: set[str],
) -> list[ast.CircuitDecl]:
    """The models to elaborate, with parameter overrides applied."""
    if circuit is not None:
        decl = next((d for d in root.circuits if d.name == circuit and circuits.get(d.name) is d), None)
        if decl is None:
            known = [d.name for d in root.circuits]
            hint = did_you_mean(circuit, known) or f"its circuits: {', '.join(known) or 'none'}"
            raise NcdlError([Diagnostic("E103", f"{root.file} declares no circuit '{circuit}'", None, hint)])
        decl = dataclasses.replace(with_defaults(decl, overrides.get(circuit, {})), is_model=True)
        for p in decl.params:  # an axis parameter given no value is a free axis
            if p.kind != "int" and p.default is None and p.name not in global_axes:
                axes[p.name] = ir.Axis(p.name, Size.symbol(p.name))
                global_axes.add(p.name)
        return [decl]
    models = [d for d in root.circuits if d.is_model and circuits.get(d.name) is d]
    for name in overrides:
        if name not in {d.name for d in models}:
            raise NcdlError([Diagnostic("E103", f"{root.file} declares no model '{name}'", None)])
    return [with_defaults(d, overrides[d.name]) if d.name in overrides else d for d in models]


def _declare_axes(modules: list[ast.Module], el: Elaborator) -> tuple[dict[str, ir.Axis], set[str]]:
    env = Env("", None, "", [])
    declared: dict[str, ast.AxisDecl] = {}
    for module in modules:
        for decl in module.axes:
            axis = _axis(decl, el, env)
            if axis is None:
                if decl.name not in el.axes:  # keeps later uses from cascading into more errors
                    el.axes[decl.name] = ir.Axis(decl.name, Size.symbol(decl.name))
                    el.global_axes.add(decl.name)
                    el.broken_axes.add(decl.name)
                    declared[decl.name] = decl
                continue
            if decl.name in el.axes:
                if el.axes[decl.name].size != axis.size or el.axes[decl.name].bound != axis.bound:
                    first = declared[decl.name].span
                    el.error(
                        "E104",
                        f"axis '{decl.name}' is declared twice with different sizes",
                        decl.span,
                        f"the first declaration is at {first.file}:{first.line}:{first.col}",
                    )
                continue
            el.axes[decl.name] = axis
            declared[decl.name] = decl
            el.global_axes.add(decl.name)
    return dict(el.axes), set(el.global_axes)


def _axis(decl: ast.AxisDecl, el: Elaborator, env: Env) -> ir.Axis | None:
    if decl.name in PRIMITIVES:
        el.error("E105", f"'{decl.name}' is a primitive box's name; choose another axis name", decl.span)
        return None
    if decl.kind == "free":
        return ir.Axis(decl.name, Size.symbol(decl.name))
    if decl.kind == "alias":
        target = el.axes.get(decl.alias) if decl.alias in el.global_axes else None
        if target is None:
            el.unknown_axis(decl.alias, decl.alias_span or decl.span, env)
            return None
        return ir.Axis(decl.name, target.size, target.bound)
    size = el.size_of(decl.value, env)
    if size is None:
        return None
    value = size.as_int()
    if value is None:
        if decl.kind == "bounded":
            el.error("E108", f"the bound of '{decl.name}' must be a known integer, not {size}", decl.value.span)
            return None
        return ir.Axis(decl.name, size)
    if value < 1:
        el.error("E107", f"axis '{decl.name}' must have a positive size, got {value}", decl.value.span)
        return None
    if value > MAX_AXIS_SIZE:
        el.error("E107", f"axis '{decl.name}' has size {value}, over the limit {MAX_AXIS_SIZE}", decl.value.span)
        return None
    if decl.kind == "bounded":
        return ir.Axis(decl.name, Size.symbol(decl.name), value)
    return ir.Axis(decl.name, size)


def _collect_circuits(modules: list[ast.Module], el: Elaborator) -> dict[str, ast.CircuitDecl]:
    circuits: dict[str, ast.CircuitDecl] = {}
    for module in modules:
        for decl in module.circuits:
            if decl.name in PRIMITIVES:
                el.error("E105", f"'{decl.name}' is a primitive box; choose another circuit name", decl.name_span)
                continue
            if decl.name in circuits:
                first = circuits[decl.name].name_span
                el.error(
                    "E105",
                    f"circuit '{decl.name}' is defined twice",
                    decl.name_span,
                    f"the first definition is at {first.file}:{first.line}:{first.col}",
                )
                continue
            seen: dict[str, object] = {}
            for item in [*decl.params, *decl.args, *(r for r in decl.results if r.name)]:
                if item.name in seen:
                    el.error("E105", f"'{item.name}' is defined twice in '{decl.name}'", item.span)
                seen[item.name] = item
            for p in decl.params:
                _check_default(p, el)
            circuits[decl.name] = decl
    return circuits


def _check_default(p: ast.ParamDecl, el: Elaborator) -> None:
    """A default of the parameter's kind: a constant only for ``float`` and ``bool``, a size
    expression otherwise (E142)."""
    d = p.default
    if d is None:
        return
    if p.kind == "bool":
        ok = isinstance(d, ast.Bool)
        want = "`true` or `false`"
    elif p.kind == "float":
        ok = not isinstance(d, ast.Bool)
        want = "a number"
    else:
        ok = not isinstance(d, (ast.Number, ast.Bool))
        want = "an integer" if p.kind == "int" else "an axis or a size"
    if not ok:
        el.error("E142", f"the default of parameter '{p.name}' must be {want}", d.span)
        # a stand-in of the right kind, so that calls do not report the same mistake again
        p.default = ast.Bool(False, d.span) if p.kind == "bool" else ast.SInt(1, d.span)
