"""Generic checking: every circuit is checked once, where it is defined.

A circuit is a generic function over its parameters. Checking it at its
definition binds each axis parameter to an opaque axis (a size that is a
symbol of its own, ``Size.symbol("model")``) and each integer parameter to an
opaque integer, makes its arguments inputs of their declared types, and runs
its body with the ordinary rules. So a mistake that does not depend on what
the parameters are bound to (an unknown axis or value, a box given the wrong
axes, a result of the wrong type) is reported at its line even in a library
file that declares no model, and is reported once however many models use
the circuit.

What does depend on the binding is deferred to the call sites, where the
circuit is inlined with concrete axes (:mod:`ncdl.dsl.circuits`) and an error
inside it carries a note naming the call: sizes that must divide or agree,
sizes of learned weights, ``if`` conditions on parameters (both branches are
checked here), ``repeat`` counts (the body is checked once). Calls to other
circuits are checked against their signatures only (their bodies have their
own generic check), so recursion is no problem.

Example::

    >>> from ncdl.dsl.check import check_source
    >>> try:
    ...     check_source("circuit F[c](x: [c]) -> [c] { return softmax[d](x) }", "lib.ncd")
    ... except Exception as err:
    ...     print(str(err).splitlines()[0])
    lib.ncd:1:46: error[E101]: unknown axis 'd'
"""

from __future__ import annotations

from ncdl import ir
from ncdl.dsl import ast
from ncdl.dsl.budget import Budget
from ncdl.dsl.diagnostics import Diagnostic, fmt_axes
from ncdl.dsl.elaborate import RESULTS_HINT, Abort, Boxes, Elaborator
from ncdl.dsl.values import DTYPES, POISON, Env, Result, Value
from ncdl.ir.sizes import SizeTooLarge


def check_circuit(
    decl: ast.CircuitDecl,
    circuits: dict[str, ast.CircuitDecl],
    axes: dict[str, ir.Axis],
    global_axes: set[str],
    sources: dict[str, list[str]],
    boxes: Boxes,
    broken_axes: set[str] = frozenset(),
    budget: Budget | None = None,
) -> list[Diagnostic]:
    """The diagnostics of one circuit checked at its definition (``broken_axes``:
    axes whose declaration failed, so that their uses stay quiet; ``budget``: the
    check's work budget, :mod:`ncdl.dsl.budget`)."""
    el = Elaborator(decl, circuits, axes, global_axes, sources, boxes, generic=True)
    el.broken_axes = set(broken_axes)
    if budget is not None:
        el.budget = budget
    env = Env(decl.file, decl, "", [])
    try:
        _bind_opaque(el, decl, env)
        for arg in decl.args:
            value = _argument(el, arg, env)
            env.values[arg.name] = value
        el.run_block(decl.body, env)
        returned = env.returned
        if returned is None:
            el.error("E144", f"circuit '{decl.name}' ends without `return`", decl.name_span)
        elif returned is not POISON:
            results = list(returned) if isinstance(returned, tuple) else [returned]
            if len(results) != len(decl.results):
                count = "one value" if len(results) == 1 else f"{len(results)} values"
                message = f"circuit '{decl.name}' returns {count} but declares {len(decl.results)}"
                el.error("E192", message, env.returned_at, RESULTS_HINT)
            else:
                for result, result_decl in zip(results, decl.results, strict=True):
                    if isinstance(result, Value):
                        _check_result(el, decl, result, result_decl.type, env)
    except Abort:
        pass
    except RecursionError:
        el.error("E153", "the program nests too deeply to check", decl.name_span, "name intermediate values")
    except SizeTooLarge:
        el.size_too_large(decl.name_span)
    return el.diagnostics


def _bind_opaque(el: Elaborator, decl: ast.CircuitDecl, env: Env) -> None:
    """Each parameter becomes opaque; a default is checked, and an axis
    parameter's default size is kept (``head = model / heads``)."""
    for p in decl.params:
        if p.kind in ("float", "bool"):  # a stand-in value; `if flag` checks both branches
            value = el.scalar_of(p.default, env, p.kind, f"parameter '{p.name}'") if p.default is not None else None
            table = env.floats if p.kind == "float" else env.bools
            table[p.name] = value if value is not None else (1.0 if p.kind == "float" else True)
            continue
        if p.kind not in (None, "axis", "int"):
            el.error("E135", f"parameter kind must be `axis`, `int`, `float` or `bool`, not '{p.kind}'", p.span)
            continue
        if isinstance(p.default, (ast.Number, ast.Bool)):
            continue  # reported where the parameters are declared
        size = el.size_of(p.default, env) if p.default is not None else None
        if p.kind == "int":
            env.ints[p.name] = el.fresh_opaque(p.name)
            continue
        if size is None or not el.deferred(size):
            size = el.fresh_opaque(p.name)
        el.axes[p.name] = ir.Axis(p.name, size)
        env.axis_env[p.name] = p.name


def _argument(el: Elaborator, arg: ast.ArgDecl, env: Env) -> Result:
    axes = el.type_axes(arg.type, env)
    if axes is None:
        return POISON
    of = el.lookup_axis(arg.type.of, env) if arg.type.of else None
    if arg.type.of and of is None:
        el.unknown_axis(arg.type.of, arg.type.of_span or arg.span, env)
    dtype = DTYPES[arg.type.dtype]
    return el.add("input", [], axes, env, arg.span, name=arg.name, dtype=dtype, attrs={"name": arg.name}, of=of)


def _check_result(el: Elaborator, decl: ast.CircuitDecl, result: Value, declared_type: ast.TypeExpr, env: Env) -> None:
    declared = el.type_axes(declared_type, env)
    if declared is None or set(declared) == set(result.axes):
        if declared is not None and DTYPES[declared_type.dtype] != result.dtype:
            kind = {"int": "an integer", "bool": "a boolean", "float": "a float"}[declared_type.dtype]
            el.error("E146", f"circuit '{decl.name}' must return {kind} tensor", declared_type.span)
        return
    missing = [a for a in declared if a not in result.axes]
    extra = [a for a in result.axes if a not in declared]
    parts = [f"missing {', '.join(repr(a) for a in missing)}"] * bool(missing)
    parts += [f"unexpected {', '.join(repr(a) for a in extra)}"] * bool(extra)
    el.error(
        "E145",
        f"'{decl.name}' returns axes {fmt_axes(result.axes)} but declares {fmt_axes(declared)}: {'; '.join(parts)}",
        declared_type.span,
    )


def result_by_signature(
    el: Elaborator, call: ast.Call, decl: ast.CircuitDecl, callee: Env, caller: Env, broadcast: list[str]
) -> Result:
    """A call's result from the callee's signature alone (generic checking):
    the declared result type, after the axes that passed by. An axis the
    callee creates (a fresh name bound at the call, or a result axis it
    introduces) gets an opaque size."""
    for formal, (_, fresh) in list(callee.pending.items()):
        el.define_axis(formal, el.fresh_opaque(fresh), callee, call.span, f"'{decl.name}'")
    values: list[Value] = []
    for result in decl.results:
        t = result.type
        for e in t.axes:
            if isinstance(e, ast.SName) and e.name not in callee.ints and el.lookup_axis(e.name, callee) is None:
                el.define_axis(e.name, el.fresh_opaque(e.name), callee, e.span, f"'{decl.name}'", local=True)
        declared = el.type_axes(t, callee)
        if declared is None:
            return POISON
        axes = [a for a in broadcast if a not in declared] + declared
        dtype = DTYPES[t.dtype]
        of = el.lookup_axis(t.of, callee) if t.of else None
        attrs = {"name": decl.name}
        values.append(el.add("input", [], axes, caller, call.span, name=decl.name, dtype=dtype, attrs=attrs, of=of))
    return values[0] if len(values) == 1 else tuple(values)
