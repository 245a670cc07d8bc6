"""What expressions evaluate to while the checker elaborates a model."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ncdl.dsl import ast

#: The IR dtype of each declared element type (``[..]``, ``int[..]``, ``bool[..]``).
DTYPES: dict[str, str] = {"float": "float32", "int": "int64", "bool": "bool"}


@dataclass(frozen=True)
class Value:
    """A tensor: the IR node that produces it, its ordered axes and dtype.

    ``of`` is the axis an integer tensor indexes (``int[batch, seq] of vocab``).
    """

    node: str
    axes: tuple[str, ...]
    dtype: str = "float32"
    of: str | None = None


class _Poison:
    """The result of an expression that already has a diagnostic.

    Operations on it yield it again without new diagnostics, so one mistake
    is reported once and independent mistakes are still found.
    """

    _instance: _Poison | None = None

    def __new__(cls) -> _Poison:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "POISON"


POISON = _Poison()

#: A tensor, a compile-time number, poison, or several results of one call (a tuple).
Result = Value | float | _Poison | tuple


@dataclass
class Env:
    """The names visible while elaborating one circuit instance.

    ``axis_env`` maps the names an author writes (axis parameters, local
    axes) to concrete axis names in the IR's axis table.
    """

    file: str
    circuit: ast.CircuitDecl | None
    scope: str
    frames: list[list[Any]]
    axis_env: dict[str, str] = field(default_factory=dict)
    local_axes: set[str] = field(default_factory=set)
    ints: dict[str, int | Any] = field(default_factory=dict)  # a Size while checking generically
    floats: dict[str, float] = field(default_factory=dict)
    bools: dict[str, bool] = field(default_factory=dict)
    absent: set[str] = field(default_factory=set)  # optional arguments this call left out
    values: dict[str, Value | _Poison] = field(default_factory=dict)
    instances: dict[str, str] = field(default_factory=dict)
    depth: int = 0
    returned: Result | None = None
    returned_at: Any = None  # the span of the `return` that set ``returned``
    solo_path: str | None = None
    ties: list[tuple[str, str]] = field(default_factory=list)
    pending: dict[str, tuple[Env, str]] = field(default_factory=dict)

    def child_path(self, name: str) -> str:
        """The instance path of ``name`` inside this scope."""
        return f"{self.scope}.{name}" if self.scope else name
