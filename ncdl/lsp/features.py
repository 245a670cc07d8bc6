"""What the editor shows, computed from an :class:`~ncdl.lsp.index.Index`.

Plain functions of the index and a position (1-based line and column, as
the front end's spans are), returning plain data: Markdown for hover, lists
of completion candidates, symbol outlines and semantic-token runs. The
language server (:mod:`ncdl.lsp.server`) converts them to LSP types, so
each feature can be tested and timed without a client.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import networkx as nx

from ncdl.dsl import ast
from ncdl.dsl.imports import LIBRARY
from ncdl.dsl.primitives import PRIMITIVES
from ncdl.lsp.index import Index, Occurrence, Symbol

KEYWORDS = ("use", "axis", "circuit", "model", "return", "repeat", "in", "as", "if", "else", "of", "int")
KEYWORDS += ("and", "or", "not", "true", "false")

# ---- hover -----------------------------------------------------------------------


def hover(index: Index, file: str, line: int, col: int) -> str | None:
    """Markdown describing the name at the position, or None."""
    occ = index.at(file, line, col)
    if occ is None:
        return None
    sym = occ.symbol
    if sym.kind == "value":
        return _hover_value(index, occ)
    if sym.kind in ("circuit", "model"):
        return _hover_circuit(index, sym)
    if sym.kind == "axis":
        return _hover_axis(index, occ)
    if sym.kind == "int":
        decl = index.circuits.get(sym.container)
        kind = next((p.kind for p in decl.params if p.name == sym.name), None) if decl else None
        kind = kind if kind in ("float", "bool") else "int"
        what = {"int": "integer", "float": "float", "bool": "bool"}[kind]
        return f"```ncdl\n{sym.name}: {kind}\n```\n{what} parameter of `{sym.container}`"
    if sym.kind == "box":
        return _hover_box(index, occ)
    if sym.kind == "option":
        box, _, name = sym.name.partition(".")
        opt = PRIMITIVES[box].options[name]
        choices = f" (one of {', '.join(opt.choices)})" if opt.choices else ""
        return f"option `{name}` of `{box}`: {opt.kind}, default `{opt.default!r}`{choices}"
    if sym.kind == "file":
        return f"imports `{sym.name}`"
    return None


def axis_sizes(axes: list[str], g: nx.MultiDiGraph) -> list[str]:
    """One table row per axis: ``| name | size |`` (symbolic where free)."""
    rows = []
    table = g.graph.get("axes", {})
    for name in axes:
        axis = table.get(name)
        if axis is None:
            rows.append(f"| `{name}` | ? |")
            continue
        fixed = axis.size.as_int()
        size = str(fixed) if fixed is not None else f"free (`{axis.size}`)"
        if axis.bound is not None:
            size += f", at most {axis.bound}"
        rows.append(f"| `{name}` | {size} |")
    return rows


def _hover_value(index: Index, occ: Occurrence) -> str:
    sym = occ.symbol
    found = index.value_axes(occ)
    head = f"value `{sym.name}` in `{sym.container}`"
    if found is None:
        decl = index.circuits.get(sym.container)
        arg = next((a for a in decl.args if a.name == sym.name), None) if decl else None
        if arg is not None:
            return f"{head}\n\n```ncdl\n{_text(index, arg.span)}\n```\n(plus the axes that pass by at each call)"
        return f"{head}\n\n(no model computes it: unused, or no model calls the circuit)"
    axes, g = found
    rows = "\n".join(axis_sizes(axes, g))
    model = g.graph.get("model", "")
    return f"{head}: `[{', '.join(axes)}]`\n\n| axis | size |\n|---|---|\n{rows}\n\n(in model `{model}`)"


def _hover_circuit(index: Index, sym: Symbol) -> str:
    decl = index.circuits.get(sym.name)
    if decl is None:
        return f"{sym.kind} `{sym.name}`"
    signature = _text(index, decl.span).split("{", 1)[0].strip()
    doc = doc_comment(index, decl)
    out = f"```ncdl\n{signature}\n```"
    if doc:
        out += f"\n\n{doc}"
    uses = sorted(
        {path for g in index.graphs.values() for path, name in g.graph.get("circuits", {}).items() if name == sym.name}
    )
    if uses:
        out += f"\n\n{len(uses)} instance{'s' * (len(uses) != 1)}: " + ", ".join(f"`{p}`" for p in uses[:6])
        out += " …" if len(uses) > 6 else ""
    return out


def _hover_axis(index: Index, occ: Occurrence) -> str:
    sym = occ.symbol
    where = "global axis" if not sym.container else f"axis of `{sym.container}`"
    text = f"{where} `{sym.name}`"
    if sym.span is not None:
        text += f"\n\n```ncdl\n{index.line_text(sym.span.file, sym.span.line).strip()}\n```"
    for g in index.graphs.values():
        if sym.name in g.graph.get("axes", {}):
            text += "\n\n| axis | size |\n|---|---|\n" + "\n".join(axis_sizes([sym.name], g))
            text += f"\n\n(in model `{g.graph.get('model', '')}`)"
            break
    return text


def _hover_box(index: Index, occ: Occurrence) -> str:
    name = occ.symbol.name
    prim = PRIMITIVES[name]
    text = f"box `{name}`" + (" (learned)" if prim.learned else "")
    if prim.options:
        opts = ", ".join(f"`{k}`: {o.kind} = `{o.default!r}`" for k, o in prim.options.items())
        text += f"\n\noptions: {opts}"
    call = occ.node
    hit = index.node_at(call.span) if isinstance(call, ast.Call) else None
    if hit is not None:
        g, data = hit
        text += f"\n\nresult: `[{', '.join(data['axes'])}]` (instance `{data.get('scope') or data.get('name')}`)"
        params = data.get("params") or []
        if params:
            text += "\n\n| parameter | axes | shape |\n|---|---|---|\n"
            text += "\n".join(
                f"| `{p['name']}` | [{', '.join(p.get('axes') or [])}] | {tuple(p['shape'])} |" for p in params
            )
    return text


def doc_comment(index: Index, decl: ast.CircuitDecl) -> str:
    """The ``#`` comment lines right above a circuit, without the ``#``."""
    lines = index.sources.get(decl.span.file) or []
    out: list[str] = []
    n = decl.span.line - 2
    while 0 <= n < len(lines) and lines[n].lstrip().startswith("#"):
        out.insert(0, lines[n].lstrip()[1:].strip())
        n -= 1
    return "\n".join(out)


def _text(index: Index, span) -> str:
    lines = index.sources.get(span.file) or []
    chunk = lines[span.line - 1 : span.end_line]
    if not chunk:
        return ""
    if len(chunk) == 1:
        return chunk[0][span.col - 1 : span.end_col - 1]
    chunk[0] = chunk[0][span.col - 1 :]
    chunk[-1] = chunk[-1][: span.end_col - 1]
    return "\n".join(chunk)


# ---- completion --------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """One completion: its text, its kind (a :data:`~ncdl.lsp.index.KINDS` name
    or ``keyword``) and a one-line detail."""

    label: str
    kind: str
    detail: str = ""
    insert: str | None = None


_USE = re.compile(r'^\s*use\s+"([^"]*)$')
_IDENT_TAIL = re.compile(r"[A-Za-z_][A-Za-z_0-9]*$")


def complete(index: Index, text: str, file: str, line: int, col: int) -> list[Candidate]:
    """Completions at 1-based ``line``:``col`` of ``text`` (the editor's buffer)."""
    lines = text.splitlines()
    before = lines[line - 1][: col - 1] if 0 < line <= len(lines) else ""
    if m := _USE.match(before):
        return _complete_use(file, m.group(1))
    opener, callee = _open_bracket(lines, line, col)
    visible = index.visible(file, line)
    if opener == "[":
        out = [Candidate(s.name, "axis", _where(s)) for s in visible if s.kind == "axis"]
        decl = index.circuits.get(callee or "")
        if decl is not None:
            out += [Candidate(p.name, "option", f"parameter of {decl.name}", f"{p.name}=") for p in decl.params]
        return _unique(out)
    out: list[Candidate] = []
    if opener == "(" and callee in PRIMITIVES:
        opts = PRIMITIVES[callee].options
        out += [Candidate(k, "option", f"{o.kind} = {o.default!r}", f"{k}=") for k, o in opts.items()]
    elif opener == "(" and callee in index.circuits:
        out.append(Candidate("tie", "option", "share the weights of another instance", "tie="))
    out += [Candidate(s.name, s.kind, _where(s)) for s in visible if s.kind in ("value", "int")]
    out += [Candidate(name, "box", "learned box" if p.learned else "box") for name, p in sorted(PRIMITIVES.items())]
    out += [Candidate(s.name, s.kind, _where(s)) for s in visible if s.kind in ("circuit", "model")]
    out += [Candidate(k, "keyword") for k in KEYWORDS]
    return _unique(out)


def _where(sym: Symbol) -> str:
    return f"{sym.kind} in {sym.container}" if sym.container else f"{sym.kind} ({sym.span.file if sym.span else ''})"


def _unique(cands: list[Candidate]) -> list[Candidate]:
    seen: dict[str, Candidate] = {}
    for c in cands:
        seen.setdefault(c.label, c)
    return list(seen.values())


def _open_bracket(lines: list[str], line: int, col: int) -> tuple[str | None, str | None]:
    """The innermost unclosed ``[`` or ``(`` before the cursor and the name before it."""
    depth = {"]": 0, ")": 0}
    text = "\n".join(lines[max(0, line - 20) : line - 1] + [lines[line - 1][: col - 1] if line <= len(lines) else ""])
    text = re.sub(r"#[^\n]*", "", text)
    for i in range(len(text) - 1, -1, -1):
        ch = text[i]
        if ch in "])":
            depth[ch] += 1
        elif ch in "[(":
            close = "]" if ch == "[" else ")"
            if depth[close]:
                depth[close] -= 1
                continue
            head = text[:i]
            if ch == "(":  # a call may have brackets before its arguments: f[...](
                head = re.sub(r"\[[^\[\]]*\]\s*$", "", head)
            m = _IDENT_TAIL.search(head.rstrip())
            return ch, (m.group() if m else None)
        elif ch in "{}":
            break
    return None, None


def _complete_use(file: str, typed: str) -> list[Candidate]:
    folder = Path(file).resolve().parent if not file.startswith("<") else Path.cwd()
    out = []
    for base, detail in ((folder, "next to this file"), (LIBRARY, "bundled library")):
        for path in sorted(base.glob("*.ncd")):
            if path.resolve() != Path(file).resolve() and path.name.startswith(typed):
                out.append(Candidate(path.name, "file", detail))
    return _unique(out)


# ---- outline and tokens -------------------------------------------------------------


def outline(index: Index, file: str) -> list[tuple[Symbol, list[Symbol]]]:
    """Axes, circuits and models of ``file``, each circuit with its locals."""
    out: list[tuple[Symbol, list[Symbol]]] = []
    symbols = index.symbols(file)
    for sym in symbols:
        if sym.container:
            continue
        children = [s for s in symbols if s.container == sym.name] if sym.kind in ("circuit", "model") else []
        out.append((sym, children))
    return out


#: Semantic token types, in the legend's order.
TOKEN_TYPES = (
    "keyword",
    "type",
    "function",
    "class",
    "variable",
    "parameter",
    "property",
    "string",
    "number",
    "comment",
)
TOKEN_OF_KIND = {
    "axis": "type",
    "circuit": "function",
    "model": "class",
    "box": "function",
    "value": "variable",
    "int": "parameter",
    "option": "property",
    "file": "string",
}
_LEXEMES = re.compile(
    r"(?P<comment>#[^\n]*)|(?P<string>\"[^\"\n]*\")|(?P<number>\b\d+(\.\d*)?([eE][-+]?\d+)?)|(?P<word>\b[A-Za-z_]\w*)"
)


def semantic_tokens(index: Index, text: str, file: str) -> list[tuple[int, int, int, str]]:
    """``(line, col, length, token type)`` runs (1-based), sorted, one per token:
    names from the index, keywords, numbers, strings and comments from the text."""
    named = {(o.span.line, o.span.col): (o.span.end_col - o.span.col, TOKEN_OF_KIND[o.symbol.kind])
             for o in index.occurrences if o.span.file == file and o.span.line == o.span.end_line}  # fmt: skip
    out: list[tuple[int, int, int, str]] = []
    for n, line in enumerate(text.splitlines(), 1):
        for m in _LEXEMES.finditer(line):
            col = m.start() + 1
            kind = m.lastgroup
            if kind == "word":
                if (n, col) in named:
                    length, token = named[(n, col)]
                    out.append((n, col, length, token))
                elif m.group() in KEYWORDS:
                    out.append((n, col, len(m.group()), "keyword"))
            elif (n, col) in named:  # a `use` path
                out.append((n, col, named[(n, col)][0], "string"))
            else:
                out.append((n, col, m.end() - m.start(), kind))
    return out
