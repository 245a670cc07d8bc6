"""Calling a user circuit: bind its parameters, check its arguments, inline it.

A circuit acts on the axes its signature names; every other axis of its
arguments passes by (is broadcast), exactly as for a primitive box. Each
call is an instance with its own scope path and its own weights, unless
``tie=other`` makes it share ``other``'s weights.
"""

from __future__ import annotations

import re

from ncdl.dsl import ast
from ncdl.dsl.budget import CALL_WORK
from ncdl.dsl.diagnostics import did_you_mean, fmt_axes
from ncdl.dsl.elaborate import MAX_RECURSION, RESULTS_HINT, Elaborator
from ncdl.dsl.values import DTYPES, POISON, Env, Result, Value


def snake(name: str) -> str:
    """``SelfAttention`` -> ``self_attention`` (default instance names)."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def call_circuit(el: Elaborator, call: ast.Call, env: Env, assign: str | None) -> Result:
    """Inline one call of a circuit; return its result value."""
    decl = el.circuits[call.func]
    if env.depth >= MAX_RECURSION:
        return el.error(
            "E154",
            f"circuits call each other more than {MAX_RECURSION} levels deep (at '{decl.name}')",
            call.func_span,
            "check that the recursion reaches its base case (`if depth > 0 { ... }`)",
        )
    el.work(CALL_WORK, call.func_span)
    callee = Env(decl.file, decl, "", [], depth=env.depth + 1)
    if not _bind_params(el, call, decl, env, callee):
        return POISON

    bound = _bind_args(el, call, decl, env)
    if bound is None:
        return POISON

    broadcast: list[str] = []
    for decl_arg, value, expr in bound:
        if value is None:
            callee.absent.add(decl_arg.name)
            continue
        declared = el.type_axes(decl_arg.type, callee)
        if declared is None:
            return POISON
        missing = [a for a in declared if a not in value.axes]
        if missing:
            label = f"has {fmt_axes(value.axes)}, {decl_arg.name} needs {fmt_axes(declared)}"
            el.error_box(decl.name, [(value, label)], env, expr.span)
            return el.error(
                "E143",
                f"argument '{decl_arg.name}' of '{decl.name}' needs axes {fmt_axes(declared)}, "
                f"but the value has {fmt_axes(value.axes)}",
                expr.span,
                f"missing {', '.join(repr(m) for m in missing)}; bind the circuit's axes with "
                f"{decl.name}[...=...] or rename the value's axes",
            )
        want = DTYPES[decl_arg.type.dtype]
        if want != value.dtype:
            kind = {"int64": "an integer", "bool": "a boolean", "float32": "a float"}[want]
            return el.error("E146", f"argument '{decl_arg.name}' of '{decl.name}' must be {kind} tensor", expr.span)
        broadcast += [a for a in value.axes if a not in declared and a not in broadcast]
        callee.values[decl_arg.name] = value

    path = el.instance_path(env, call, snake(decl.name))
    callee.scope = path
    callee.frames = env.frames + [[path, decl.name, "circuit"]]
    el.g.graph["circuits"][path] = decl.name
    ints = {p.name: callee.ints[p.name] for p in decl.params if p.kind == "int" and p.name in callee.ints}
    el.g.graph["circuit_args"][path] = ints
    callee.ties = list(env.ties)
    tie = next((k for k in call.kwargs if k.name == "tie"), None)
    if tie is not None:
        if not isinstance(tie.value, ast.Name) or tie.value.name not in env.instances:
            known = sorted(env.instances)
            name = tie.value.name if isinstance(tie.value, ast.Name) else "?"
            return el.error(
                "E162", f"`tie=` names no instance here: '{name}'", tie.value.span, did_you_mean(name, known)
            )
        callee.ties.append((path, env.instances[tie.value.name]))

    if el.generic:
        from ncdl.dsl.generic import result_by_signature

        result = result_by_signature(el, call, decl, callee, env, broadcast)
        if result is not POISON:
            export_local_axes(decl, callee, env, el)
        return result
    key = el.memo.key(el, callee)
    replayed = el.memo.replay(el, key)
    if replayed is not None:
        return replayed
    before = el.memo.start(el)
    el.call_stack.append((decl.name, call.span))
    try:
        el.run_block(decl.body, callee)
    finally:
        el.call_stack.pop()
    result = _finish(el, call, decl, callee, env, broadcast)
    el.memo.remember(el, key, before, callee, result)
    return result


def _finish(
    el: Elaborator, call: ast.Call, decl: ast.CircuitDecl, callee: Env, env: Env, broadcast: list[str]
) -> Result:
    """A call's result once its body ran: checked against the declared results."""
    for formal, (_, fresh) in callee.pending.items():
        el.error(
            "E147",
            f"'{decl.name}' never creates axis '{formal}', so '{fresh}' gets no size",
            call.brackets_span or call.span,
            f"bind '{formal}' to an existing axis",
        )
    returned = callee.returned
    if returned is None:
        return el.error("E144", f"circuit '{decl.name}' ends without `return`", decl.name_span)
    if returned is POISON or isinstance(returned, float):
        return POISON
    results = list(returned) if isinstance(returned, tuple) else [returned]
    if len(results) != len(decl.results):
        count = "one value" if len(results) == 1 else f"{len(results)} values"
        return el.error(
            "E192",
            f"circuit '{decl.name}' returns {count} but declares {len(decl.results)}",
            callee.returned_at,
            RESULTS_HINT,
        )
    for result, result_decl in zip(results, decl.results, strict=True):
        if isinstance(result, Value) and not _check_result(el, decl, result, result_decl.type, callee, broadcast):
            return POISON
    export_local_axes(decl, callee, env, el)
    return returned


def _check_result(
    el: Elaborator, decl: ast.CircuitDecl, result: Value, declared_type: ast.TypeExpr, callee: Env, broadcast: list[str]
) -> bool:
    """Check one returned value against its declared type (+ the broadcast axes); False after E145."""
    declared = el.type_axes(declared_type, callee)
    if declared is None:
        return False
    expected = set(declared) | set(broadcast)
    if set(result.axes) == expected:
        return True
    extra = [a for a in result.axes if a not in expected]
    missing = [a for a in declared if a not in result.axes]
    parts = []
    if missing:
        parts.append("missing " + ", ".join(repr(a) for a in missing))
    if extra:
        parts.append("unexpected " + ", ".join(repr(a) for a in extra))
    el.error(
        "E145",
        f"'{decl.name}' returns axes {fmt_axes(result.axes)} but declares {fmt_axes(declared)} "
        f"(+ broadcast {fmt_axes(broadcast)}): {'; '.join(parts)}",
        declared_type.span,
    )
    return False


def _bind_args(
    el: Elaborator, call: ast.Call, decl: ast.CircuitDecl, env: Env
) -> list[tuple[ast.ArgDecl, Value | None, ast.Expr | None]] | None:
    """Evaluate the call's tensor arguments in the caller and match them to the signature:
    by position, or by name for optional ones (None: left out). None after a diagnostic."""
    args = [el.eval(a, env) for a in call.args]
    arg_names = [a.name for a in decl.args]
    by_name: dict[str, ast.Kwarg] = {}
    for kw in call.kwargs:
        if kw.name == "tie":
            continue
        optional = next((a for a in decl.args if a.name == kw.name and a.optional), None)
        if optional is None:
            if kw.name in arg_names:
                el.error("E131", f"pass '{kw.name}' by position: {decl.name}({', '.join(arg_names)})", kw.span)
                return None
            hint = did_you_mean(kw.name, ["tie", *arg_names]) or (
                "circuits take their arguments by position (optional ones also by name); `tie=` shares weights"
            )
            el.error("E131", f"'{decl.name}' has no option '{kw.name}'", kw.span, hint)
            return None
        if kw.name in by_name or arg_names.index(kw.name) < len(args):
            el.error("E133", f"argument '{kw.name}' is given twice", kw.span)
            return None
        by_name[kw.name] = kw
    required = sum(not a.optional for a in decl.args)
    if not required <= len(args) <= len(decl.args):
        names = ", ".join(a.name + "?" * a.optional for a in decl.args)
        takes = f"{required} to {len(decl.args)}" if required < len(decl.args) else str(required)
        el.error(
            "E130",
            f"'{decl.name}' takes {takes} argument{'s' * (len(decl.args) != 1)} ({names}), got {len(args)}",
            call.span,
        )
        return None
    values = args + [el.eval(by_name[a.name].value, env) if a.name in by_name else None for a in decl.args[len(args) :]]
    exprs = list(call.args) + [by_name[a.name].value if a.name in by_name else None for a in decl.args[len(args) :]]
    if any(v is not None and not isinstance(v, Value) for v in values):
        for v, e in zip(values, exprs, strict=True):
            if isinstance(v, float):
                el.error("E132", f"'{decl.name}' needs tensor arguments; this is a number", e.span)
        return None
    for a, v in zip(decl.args, values, strict=True):
        if v is None and not a.optional:  # a required argument after a left-out optional one
            el.error("E130", f"'{decl.name}' needs argument '{a.name}'", call.span)
            return None
    return list(zip(decl.args, values, exprs, strict=True))


def _bind_scalar(
    el: Elaborator,
    call: ast.Call,
    decl: ast.CircuitDecl,
    p: ast.ParamDecl,
    given: ast.SExpr | ast.Number | ast.Bool | None,
    caller: Env,
    callee: Env,
) -> bool:
    """Bind a ``float`` or ``bool`` parameter: given, its default, or the caller's of the same name."""
    table = callee.floats if p.kind == "float" else callee.bools
    what = f"parameter '{p.name}' of '{decl.name}'"
    if given is not None:
        value = el.scalar_of(given, caller, p.kind, what)
    elif p.default is not None:
        value = el.scalar_of(p.default, callee, p.kind, what)
    elif p.name in (caller.floats if p.kind == "float" else caller.bools):
        value = (caller.floats if p.kind == "float" else caller.bools)[p.name]
    else:
        el.error(
            "E141",
            f"'{decl.name}' needs {p.kind} parameter '{p.name}'",
            call.func_span,
            f"write {decl.name}[{p.name}=...]",
        )
        return False
    if value is None:
        return False
    table[p.name] = value
    return True


def export_local_axes(decl: ast.CircuitDecl, callee: Env, caller: Env, el: Elaborator) -> None:
    """Axes the circuit introduced and returns (a strided conv's `y2`) become
    known to the caller under the same name, unless that name is taken there."""
    for e in (e for r in decl.results for e in r.type.axes):
        if isinstance(e, ast.SName) and e.name in callee.local_axes and el.lookup_axis(e.name, caller) is None:
            caller.axis_env[e.name] = callee.axis_env[e.name]
            caller.local_axes.add(e.name)


def _bind_params(el: Elaborator, call: ast.Call, decl: ast.CircuitDecl, caller: Env, callee: Env) -> bool:
    """Bind the circuit's axis and integer parameters; False after a diagnostic."""
    positional: list[ast.SExpr] = []
    named: dict[str, ast.BKw] = {}
    for item in call.brackets or []:
        if isinstance(item, ast.BKw):
            if item.name in named:
                el.error("E133", f"parameter '{item.name}' is bound twice", item.span)
                return False
            named[item.name] = item
        elif item.rhs is not None or len(item.lhs) != 1:
            el.error(
                "E134",
                f"'{decl.name}' takes parameters, not an axis map: write {decl.name}[name=value, ...]",
                item.span,
            )
            return False
        else:
            positional.append(item.lhs[0])
    params = decl.params
    if len(positional) > len(params):
        el.error(
            "E130",
            f"'{decl.name}' has {len(params)} parameter{'s' * (len(params) != 1)}, got {len(positional)}",
            call.brackets_span or call.span,
        )
        return False
    known = {p.name for p in params}
    for name, item in named.items():
        if name not in known:
            hint = did_you_mean(name, known) or f"its parameters: {', '.join(p.name for p in params) or 'none'}"
            el.error("E131", f"'{decl.name}' has no parameter '{name}'", item.span, hint)
            return False
    ok = True
    in_args = {e.name for a in decl.args for e in _snames(a.type.axes)}
    for i, p in enumerate(params):
        if not ok:  # a later default may use an unbound parameter: one error is enough
            break
        given = positional[i] if i < len(positional) else (named[p.name].value if p.name in named else None)
        if p.kind in ("float", "bool"):
            ok = _bind_scalar(el, call, decl, p, given, caller, callee) and ok
            continue
        if isinstance(given, (ast.Number, ast.Bool)):
            kind = "an integer" if p.kind == "int" else "an axis"
            text = str(given.value).lower() if isinstance(given, ast.Bool) else repr(given.value)
            el.error("E142", f"parameter '{p.name}' of '{decl.name}' takes {kind}, not {text}", given.span)
            ok = False
            continue
        if p.kind == "int":
            if given is not None:
                value = el.int_of(given, caller, f"parameter '{p.name}'")
            elif p.default is not None:
                value = el.int_of(p.default, callee, f"parameter '{p.name}'")
            elif p.name in caller.ints:
                value = caller.ints[p.name]
            else:
                el.error(
                    "E141",
                    f"'{decl.name}' needs integer parameter '{p.name}'",
                    call.func_span,
                    f"write {decl.name}[{p.name}=...]",
                )
                value = None
            if value is None:
                ok = False
            else:
                callee.ints[p.name] = value
            continue
        if p.kind not in (None, "axis"):
            el.error("E135", f"parameter kind must be `axis`, `int`, `float` or `bool`, not '{p.kind}'", p.span)
            ok = False
            continue
        if given is not None:
            if (
                isinstance(given, ast.SName)
                and el.lookup_axis(given.name, caller) is None
                and given.name not in caller.ints
                and given.name not in caller.values
                and p.name not in in_args  # an argument needs it, so it cannot be new
            ):
                # a fresh name: the circuit creates this axis and the caller learns it
                callee.pending[p.name] = (caller, given.name)
                continue
            concrete = el.axis_of(given, caller)
            if concrete is None:
                ok = False
            else:
                callee.axis_env[p.name] = concrete
        elif p.default is not None:
            size = el.size_of(p.default, callee)
            if size is None or el.define_axis(p.name, size, callee, p.span, "the default", local=True) is None:
                ok = False
        else:
            concrete = el.lookup_axis(p.name, caller)
            if concrete is None:
                el.error(
                    "E140",
                    f"cannot bind axis parameter '{p.name}' of '{decl.name}': there is no axis '{p.name}' here",
                    call.func_span,
                    f"write {decl.name}[{p.name}=<axis>]",
                )
                ok = False
            else:
                callee.axis_env[p.name] = concrete
    return ok


def _snames(exprs: list[ast.SExpr]) -> list[ast.SName]:
    """The names in size expressions."""
    out: list[ast.SName] = []
    stack = list(exprs)
    while stack:
        e = stack.pop()
        if isinstance(e, ast.SName):
            out.append(e)
        elif isinstance(e, ast.SBin):
            stack += [e.left, e.right]
    return out
