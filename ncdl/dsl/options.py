"""Keyword options of primitive boxes: ``bias=false``, ``eps=1e-6``, ``kernel=(3, 3)``.

Each primitive declares its options with a kind and a default; values are
compile-time constants, checked here with located diagnostics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ncdl.dsl import ast
from ncdl.dsl.diagnostics import did_you_mean
from ncdl.dsl.elaborate import Elaborator
from ncdl.dsl.values import Env, Value
from ncdl.ir.ops import OPS, REQUIRED


class BadOption(Exception):
    """An option value was diagnosed; the box is poisoned."""


@dataclass(frozen=True)
class Opt:
    """An option's kind (``float int bool str ints init padding name``) and default."""

    kind: str
    default: Any = None
    choices: tuple[str, ...] = ()


def registry_opt(op: str, attr: str) -> Opt:
    """The option that sets IR attribute ``attr`` of ``op``: its kind, default and
    choices are the op registry's (:data:`ncdl.ir.ops.OPS`), so each default is stated once."""
    spec = OPS[op].attrs[attr]
    return Opt(spec.kind, None if spec.default is REQUIRED else spec.default, tuple(spec.choices))


#: The largest magnitude of an integer option (kernel, stride, index, ...): torch's and onnxruntime's kernels
#: read them as 32-bit (or at most 64-bit) integers, and a larger one overflows there.
INT_OPTION_LIMIT = 2**31 - 1

INIT_KINDS = {"normal": (1, 2), "uniform": (2, 2), "zeros": (0, 0), "ones": (0, 0), "constant": (1, 1), "full": (1, 1)}


class Options:
    """The parsed options of one call."""

    def __init__(self, el: Elaborator, call: ast.Call, env: Env, spec: dict[str, Opt]) -> None:
        self.el, self.call, self.env, self.spec = el, call, env, spec
        self.given = {k.name: k for k in call.kwargs}
        self.ok = True
        for name, kw in self.given.items():
            if name not in spec:
                hint = did_you_mean(name, spec) or (
                    f"its options: {', '.join(sorted(spec))}" if spec else f"'{call.func}' takes no options"
                )
                el.error("E131", f"'{call.func}' has no option '{name}'", kw.span, hint)
                self.ok = False

    def has(self, name: str) -> bool:
        """True when the caller gave ``name``."""
        return name in self.given

    def span(self, name: str):
        """The span of a given option (or of the call)."""
        return self.given[name].value.span if name in self.given else self.call.span

    def get(self, name: str) -> Any:
        """The option's value (its default when not given); raise BadOption after a diagnostic."""
        opt = self.spec[name]
        if name not in self.given:
            return opt.default
        expr = self.given[name].value
        kind = opt.kind
        if kind == "bool":
            if isinstance(expr, ast.Bool):
                return expr.value
            if isinstance(expr, ast.Name) and expr.name in self.env.bools:
                return self.env.bools[expr.name]
            self._bad(expr, f"option '{name}' takes `true` or `false`")
        if kind == "str":
            if isinstance(expr, ast.String) and (not opt.choices or expr.value in opt.choices):
                return expr.value
            choices = " or ".join(f'"{c}"' for c in opt.choices)
            self._bad(expr, f"option '{name}' takes {choices}")
        if kind == "name":
            if isinstance(expr, ast.Name):
                return expr.name
            self._bad(expr, f"option '{name}' takes the name of an instance")
        if kind == "init":
            return self._init(expr, name)
        if kind == "padding" and isinstance(expr, ast.String):
            if expr.value in ("same", "valid"):
                return expr.value
            self._bad(expr, 'padding takes an integer, a tuple, "same" or "valid"')
        if kind in ("ints", "padding"):
            items = expr.items if isinstance(expr, ast.TupleExpr) else [expr]
            return tuple(self._number(item, name, integer=True) for item in items)
        if kind in ("int", "int?"):
            return self._number(expr, name, integer=True)
        return self._number(expr, name, integer=False)

    def _number(self, expr: ast.Expr, name: str, integer: bool) -> float | int:
        if isinstance(expr, (ast.String, ast.Bool, ast.TupleExpr)):
            self._bad(expr, f"option '{name}' takes {'an integer' if integer else 'a number'}")
        value = self.el.eval(expr, self.env)
        if isinstance(value, Value):
            self._bad(expr, f"option '{name}' takes a number, not a tensor")
        if not isinstance(value, float):
            raise BadOption
        if not math.isfinite(value):
            self._bad(expr, f"option '{name}' must be finite")
        if integer:
            if value != int(value):
                self._bad(expr, f"option '{name}' takes an integer, got {value}")
            if abs(value) > INT_OPTION_LIMIT:
                self.el.error(
                    "E213",
                    f"option '{name}' is {value:g}, beyond the integer range {-INT_OPTION_LIMIT}..{INT_OPTION_LIMIT}",
                    expr.span,
                    "the kernels take 32-bit sizes",
                )
                raise BadOption
            return int(value)
        return value

    def _init(self, expr: ast.Expr, name: str) -> dict[str, Any]:
        if isinstance(expr, ast.Name) and expr.name in ("zeros", "ones"):
            return {"kind": expr.name}
        if isinstance(expr, ast.Call) and expr.func in INIT_KINDS and not expr.brackets and not expr.kwargs:
            lo, hi = INIT_KINDS[expr.func]
            if not lo <= len(expr.args) <= hi:
                self._bad(expr, f"`{expr.func}` takes {lo if lo == hi else f'{lo} or {hi}'} numbers")
            nums = [self._number(a, name, integer=False) for a in expr.args]
            if expr.func == "normal":
                mean, std = (0.0, nums[0]) if len(nums) == 1 else (nums[0], nums[1])
                if std < 0:
                    self._bad(expr, "the standard deviation must not be negative")
                return {"kind": "normal", "mean": mean, "std": std}
            if expr.func in ("constant", "full"):  # full: torch.full's name for the same thing
                return {"kind": "constant", "value": nums[0]}
            if expr.func == "uniform":
                if nums[0] > nums[1]:
                    self._bad(expr, "uniform(low, high) needs low <= high")
                return {"kind": "uniform", "low": nums[0], "high": nums[1]}
            return {"kind": expr.func}
        self._bad(expr, "init takes normal(std), normal(mean, std), uniform(low, high), constant(value), zeros or ones")

    def _bad(self, expr: ast.Expr, message: str) -> None:
        self.el.error("E136", message, expr.span)
        raise BadOption
