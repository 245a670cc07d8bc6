"""Diagnostics: every mistake in a ``.ncd`` file, located and explained.

A diagnostic prints as::

    gpt.ncd:14:22: error[E101]: unknown axis 'hedas'
       14 |     q = linear[model -> hedas head](x)
          |                         ^^^^^
      help: did you mean 'heads'?

:class:`NcdlError` carries every diagnostic of one run; independent mistakes
are all reported together. A *warning* (``warning[W001]``) has the same
form; it points at something that is legal but almost certainly not meant
(a value computed and never used) and never fails a command by itself.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Span:
    """A source range: 1-based line and column, end exclusive."""

    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    def to_dict(self) -> dict[str, object]:
        """The IR's ``span`` attribute."""
        return {
            "file": self.file,
            "line": self.line,
            "col": self.col,
            "end_line": self.end_line,
            "end_col": self.end_col,
        }


@dataclass
class Diagnostic:
    """One located message with an optional hint."""

    code: str
    message: str
    span: Span | None
    hint: str | None = None
    source_line: str | None = None
    notes: list[str] = field(default_factory=list)
    severity: str = "error"  # "error" | "warning"

    @property
    def is_warning(self) -> bool:
        """True for a warning (code ``Wnnn``), which fails nothing by itself."""
        return self.severity == "warning"

    def format(self) -> str:
        """The text shown to the user: location, message, line, caret, hint."""
        kind = self.severity
        if self.span is None:
            head = f"{kind}[{self.code}]: {self.message}"
            return "\n".join([head] + [f"  help: {self.hint}"] * bool(self.hint))
        s = self.span
        lines = [f"{s.file}:{s.line}:{s.col}: {kind}[{self.code}]: {self.message}"]
        if self.source_line is not None:
            text = self.source_line.rstrip("\n").expandtabs(1)
            shown, offset = _window(text, s.col - 1)
            width = max(1, (s.end_col - s.col) if s.end_line == s.line else len(text) - s.col + 1)
            width = min(width, max(1, len(shown) - (s.col - 1 - offset)))
            gutter = " " * len(str(s.line))
            lines.append(f" {s.line} | {shown}")
            lines.append(f" {gutter} | {' ' * (s.col - 1 - offset)}{'^' * width}")
        for note in self.notes:
            lines.append(f"  note: {note}")
        if self.hint:
            lines.append(f"  help: {self.hint}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()


def _window(text: str, col0: int, limit: int = 160) -> tuple[str, int]:
    """Cut a very long source line around column ``col0``; return (text, offset)."""
    if len(text) <= limit:
        return text, 0
    start = max(0, min(col0 - limit // 2, len(text) - limit))
    return text[start : start + limit], start


class NcdlError(Exception):
    """Raised when a program has mistakes; ``.diagnostics`` lists them all.

    ``str(error)`` is every diagnostic, formatted, separated by blank lines.
    """

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.diagnostics = list(diagnostics)
        super().__init__("\n\n".join(d.format() for d in self.diagnostics))


def fmt_axes(axes: Iterable[str]) -> str:
    """``[a, b, c]``: a tensor type in a message."""
    return "[" + ", ".join(axes) + "]"


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """A ``did you mean 'x'?`` hint for a misspelt name, or None."""
    matches = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    return f"did you mean '{matches[0]}'?" if matches else None
