"""Model families: one model declared as another with other parameter values.

``model ResNet34 = ResNet[blocks3 = 6]`` is the model (or circuit) ``ResNet``
with the defaults of the named parameters replaced; everything else (the
body, the instance names, the inputs) is the base's. The same replacement
serves parameter overrides from the command line (``--set heads=8``) and the
API (``program.to_torch("GPT", heads=8)``), and compiling a library circuit
on its own (``--circuit NAME``).

Example::

    >>> import ncdl
    >>> p = ncdl.loads("axis n = 4\\nmodel A[k: int = 1](x: [n]) -> [n] { return x * k }\\nmodel B = A[k = 2]\\n")
    >>> p.models
    ['A', 'B']
"""

from __future__ import annotations

import dataclasses

from ncdl.dsl import ast
from ncdl.dsl.diagnostics import Diagnostic, NcdlError, Span, did_you_mean


def resolve_aliases(modules: list[ast.Module], diagnostics: list[Diagnostic], sources: dict[str, list[str]]) -> None:
    """Replace each ``model A = B[...]`` by a model declaration, in file order."""
    decls = {d.name: d for m in modules for d in m.circuits}
    for module in modules:
        if not module.aliases:
            continue
        made = []
        for alias in module.aliases:
            decl = _resolve(alias, decls, diagnostics, sources)
            if decl is not None:
                decls.setdefault(alias.name, decl)
                made.append(decl)
        module.circuits = sorted([*module.circuits, *made], key=lambda d: (d.span.line, d.span.col))
        module.aliases = []


def _resolve(
    alias: ast.ModelAlias,
    decls: dict[str, ast.CircuitDecl],
    diagnostics: list[Diagnostic],
    sources: dict[str, list[str]],
) -> ast.CircuitDecl | None:
    def error(code: str, message: str, span: Span, hint: str | None = None) -> None:
        lines = sources.get(span.file) or []
        line = lines[span.line - 1] if 0 < span.line <= len(lines) else None
        diagnostics.append(Diagnostic(code, message, span, hint, line))

    if not alias.is_model:
        error("E134", "only a model can be declared as another: write `model Name = Base[...]`", alias.span)
        return None
    base = decls.get(alias.base)
    if base is None:
        hint = did_you_mean(alias.base, decls) or "declare it first, or import its file with `use`"
        error("E103", f"unknown model or circuit '{alias.base}'", alias.base_span, hint)
        return None
    values: dict[str, ast.SExpr] = {}
    for item in alias.bindings:
        if not isinstance(item, ast.BKw):
            error("E134", f"name the parameters: {alias.base}[name = value, ...]", item.span)
            return None
        if item.name in values:
            error("E133", f"parameter '{item.name}' is bound twice", item.span)
            return None
        known = [p.name for p in base.params]
        if item.name not in known:
            hint = did_you_mean(item.name, known) or f"its parameters: {', '.join(known) or 'none'}"
            error("E131", f"'{base.name}' has no parameter '{item.name}'", item.span, hint)
            return None
        values[item.name] = item.value
    decl = with_defaults(base, values)
    return dataclasses.replace(
        decl, name=alias.name, is_model=True, span=alias.span, name_span=alias.name_span, alias_of=base.name
    )


def with_defaults(decl: ast.CircuitDecl, values: dict[str, ast.SExpr | int | float | bool]) -> ast.CircuitDecl:
    """``decl`` with the defaults of the named parameters replaced.

    A Python value (from ``--set`` or the API) becomes a literal located at the
    parameter's declaration: an int a size literal, a float a number, a bool
    ``true``/``false``.

    Raises NcdlError (no location) for a name that is not a parameter (E131), a
    Python value of the wrong kind (E142: ``layers=1.5``, ``eps=True``) or an
    axis size below 1 (E107).
    """
    known = {p.name for p in decl.params}
    for name in values:
        if name not in known:
            names = [p.name for p in decl.params]
            hint = did_you_mean(name, known) or f"its parameters: {', '.join(names) or 'none'}"
            raise NcdlError([Diagnostic("E131", f"'{decl.name}' has no parameter '{name}'", None, hint)])
    params = []
    for p in decl.params:
        if p.name in values:
            p = dataclasses.replace(p, default=_literal(decl, p, values[p.name]))
        params.append(p)
    return dataclasses.replace(decl, params=params)


def _literal(
    decl: ast.CircuitDecl, p: ast.ParamDecl, value: ast.SExpr | int | float | bool
) -> ast.SExpr | ast.Number | ast.Bool:
    """``value`` as the AST literal of parameter ``p`` (an AST value is kept as it is)."""
    if not isinstance(value, (bool, int, float)):
        return value
    if p.kind == "bool" and isinstance(value, bool):
        return ast.Bool(value, p.span)
    if p.kind != "bool" and isinstance(value, int) and not isinstance(value, bool):
        if p.kind is None and value < 1:  # caught here, where the message can name the parameter
            message = f"axis parameter '{p.name}' of '{decl.name}' must have a positive size, got {value}"
            raise NcdlError([Diagnostic("E107", message, None, None)])
        return ast.SInt(value, p.span)
    if p.kind == "float" and not isinstance(value, bool):
        return ast.Number(float(value), False, p.span)
    text = str(value).lower() if isinstance(value, bool) else repr(value)
    message = f"parameter '{p.name}' of '{decl.name}' takes {_TAKES[p.kind]}, not {text}"
    raise NcdlError([Diagnostic("E142", message, None, None)])


#: What a parameter of each kind takes, for E142 (None: an axis parameter).
_TAKES = {"bool": "`true` or `false`", "float": "a number", "int": "an integer", None: "an axis size (an integer)"}
