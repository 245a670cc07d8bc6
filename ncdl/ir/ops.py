"""The op registry: every IR op, declared once.

Each op of the IR has one :class:`OpDef` in :data:`OPS`. It states:

* ``attrs``: every attribute a node of that op carries, its kind and its
  default (:data:`REQUIRED` where the front end must always give it). The
  front end takes its option defaults from here, :func:`ncdl.ir.verify`
  checks every node against it, and backends read ``attrs[key]`` without
  re-defaulting anything.
* ``arity``: how many tensor inputs the node has (``None``: no upper bound).
* ``acts_on``: which axes the box names; every other axis of its tensors
  passes it by (is broadcast). The diagram draws the named wires through the
  box and the others over it.
* ``flops``: the cost rule of the forward pass (see :mod:`ncdl.compiler.stats`);
  ``activation``: whether its output counts as activation memory.
* ``glyph`` and ``title``: how the diagram draws it (see :data:`GLYPHS`).
* ``ints``: how the values of an integer result range, from its inputs'
  ranges (a rule of :mod:`ncdl.ir.ranges`; None: unknown). ``gather`` proves
  with it that computed indices stay inside the axis they index.
* flags: ``elementwise``, ``learned``, and ``native_opset`` (the ONNX opset
  from which the op lowers to one native ONNX operator; below it the ONNX
  backend uses the decomposition its lowering declares).

Passes add *marks* (node attributes beside ``attrs``) that backends may read;
:data:`MARKS` lists them with the pass that adds each.

Adding a box means adding an entry here, a front-end rule in
:mod:`ncdl.dsl.primitives` and a rule in each backend's lowering table
(``docs/architecture.md`` walks through it).

Example:
    >>> OPS["layernorm"].attrs["eps"].default
    1e-05
    >>> sorted(OPS["softmax"].acts_on({"axis": "key"}, ["batch", "seq", "key"]))
    ['key']
    >>> OPS["gelu"].native_opset
    20
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import ncdl.ir.ranges as ranges
from ncdl.ir.ranges import IntRule
from ncdl.ir.sizes import Size

#: The default of an attribute that has none: the front end always sets it.
REQUIRED: Any = type("Required", (), {"__repr__": lambda self: "REQUIRED"})()

#: Attribute kinds and what a value of each is.
ATTR_KINDS: dict[str, str] = {
    "axis": "an axis name (a key of the axis table)",
    "axis?": "an axis name or None",
    "axes": "a list of axis names",
    "pairs": "a list of [input axis, output axis] pairs (spatial axes)",
    "map": "a dict axis name -> axis name",
    "int": "an int",
    "int?": "an int or None",
    "ints": "a list of ints, one per spatial axis",
    "float": "a float",
    "float?": "a float or None",
    "bool": "a bool",
    "str": "a string (one of the attribute's choices, when it has some)",
}

#: How the diagram may draw a box; each op names one (the diagram backend has a drawing per glyph).
GLYPHS: dict[str, str] = {
    "port": "a model input or output: a rounded box with the tensor's type",
    "learned": "a bold box: a learned map (L, L+, E, a parameter) with its weights' shapes",
    "operator": "a small symbol between wires: + - × ÷ ^",
    "function": "an elementwise function applied to every wire (ReLU, exp, ...)",
    "softmax": "the paper's triangle on the axis it normalises",
    "cup": "a contraction joining the wires it sums over",
    "norm": "the paper's circle on the axes a normalisation takes statistics over",
    "reduce": "a reduction: the wires it sums (or averages, maximises) end",
    "mask": "a mask over a pair of axes",
    "wiring": "data movement with no arithmetic: rename, transpose, split, merge, concat, select",
    "conv": "the paper's trapezoid: a convolution re-indexing spatial axes, with kernel and stride",
    "pool": "pooling or upsampling of spatial axes",
    "dropout": "dropout (identity at inference)",
    "scan": "a running computation along one axis (cumulative sum, linear recurrence), the axis named",
    "route": "routing by integer indices (top-k, gather, scatter, expert dispatch): the indexed axis named",
}

#: Node attributes that passes add beside ``attrs``: name -> (the pass that adds it, what it means).
MARKS: dict[str, tuple[str, str]] = {
    "fused": (
        "passes.attention.fuse_attention, passes.route_experts.route_experts",
        "on the final contract of a scaled dot-product attention chain: the chain's description "
        "(q, k, v node ids, batch/query/key/head/value axes, scale, causal, and the mask and bias node ids or None); "
        "backends emit one fused attention. "
        "On a moe box whose experts are token-wise: gates, values, the experts' region, token and expert axes",
    ),
    "fused_into": (
        "passes.attention.fuse_attention, passes.linear_siblings.fuse_sibling_linears, "
        "passes.route_experts.route_experts",
        "on a node computed by another one (the id of the node that computes it); backends skip it",
    ),
    "siblings": (
        "passes.linear_siblings.fuse_sibling_linears",
        "on the first of several linears reading one tensor: every member's id, in order",
    ),
    "inplace": (
        "passes.inplace.mark_inplace",
        "on a relu that may overwrite its input (True), or on an add of two tensors that may overwrite one "
        "of them (that operand's port)",
    ),
    "kv_cache": (
        "passes.kv_cache.mark_kv_cache",
        "on a decoding step's concat of past (a model input) and new keys or values (read by an output): "
        "torch appends in place into a preallocated cache",
    ),
}


@dataclass(frozen=True)
class Attr:
    """One attribute of an op: its kind (a key of :data:`ATTR_KINDS`), default and allowed values."""

    kind: str
    default: Any = REQUIRED
    choices: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Cost:
    """What a cost rule sees of a node: its attributes, its output axes, its inputs' axes, and sizes."""

    attrs: dict[str, Any]
    axes: Sequence[str]
    inputs: Sequence[Sequence[str]]
    size: Callable[[str], Size]

    def elements(self, axes: Sequence[str]) -> Size:
        """The number of elements of a tensor with ``axes``."""
        out = Size.const(1)
        for a in axes:
            out = out * self.size(a)
        return out


ActsOn = Callable[[dict[str, Any], Sequence[str]], set[str]]
FlopRule = Callable[[Cost], Size]


def _no_flops(c: Cost) -> Size:
    return Size.const(0)


def _every_wire(attrs: dict[str, Any], axes: Sequence[str]) -> set[str]:
    return set(axes)


@dataclass(frozen=True)
class OpDef:
    """Everything the compiler knows about one IR op (see the module doc)."""

    name: str
    doc: str
    glyph: str
    title: str
    attrs: dict[str, Attr] = field(default_factory=dict)
    arity: tuple[int, int | None] = (1, 1)
    acts_on: ActsOn = _every_wire
    flops: FlopRule = _no_flops
    activation: bool = True
    elementwise: bool = False
    learned: bool = False
    #: True when the op acts on chosen axes, so a folded circuit that holds it names them too.
    selective: bool = True
    native_opset: int | None = None
    ints: IntRule | None = None

    def default(self, attr: str) -> Any:
        """The default of ``attr``; KeyError when the op has no such attribute."""
        return self.attrs[attr].default


# axis rules ------------------------------------------------------------------------------
def _keys(*names: str) -> ActsOn:
    """The axes held by the given attributes (axis, axes, pairs or map kinds)."""

    def rule(attrs: dict[str, Any], axes: Sequence[str]) -> set[str]:
        out: set[str] = set()
        for name in names:
            value = attrs[name]
            if isinstance(value, str):
                out.add(value)
            elif isinstance(value, dict):
                out |= set(value) | set(value.values())
            else:
                for item in value:
                    out |= set(item) if isinstance(item, list | tuple) else {item}
        return out

    return rule


# cost rules (forward FLOPs, torch.utils.flop_counter's convention: a multiply-add is 2) ----
def _linear_flops(c: Cost) -> Size:
    return 2 * c.elements(c.axes) * c.elements(c.attrs["in"])


def _contract_flops(c: Cost) -> Size:
    if not c.attrs["over"]:
        return Size.const(0)
    wires = dict.fromkeys(a for axes in c.inputs for a in axes)
    return 2 * c.elements(list(wires))


def _conv_flops(c: Cost) -> Size:
    kernel = 1
    for k in c.attrs["kernel"]:
        kernel *= int(k)
    groups = int(c.attrs["groups"])
    if c.attrs["transposed"]:
        return 2 * c.elements(c.inputs[0]) * kernel * c.size(c.attrs["out"]).exact_div(groups)
    return 2 * c.elements(c.axes) * kernel * c.size(c.attrs["in"]).exact_div(groups)


# the registry ------------------------------------------------------------------------------
_CONST = {"const": Attr("float?", None), "const_left": Attr("bool", False)}
_SPATIAL = {"spatial": Attr("pairs"), "kernel": Attr("ints"), "stride": Attr("ints"), "padding": Attr("ints")}


def _entries() -> list[OpDef]:
    ops = [
        # signature
        OpDef(
            "input",
            "a model input; int inputs name the axis their values index (`of`)",
            "port",
            "input",
            {"name": Attr("str"), "of": Attr("axis?", None)},
            arity=(0, 0),
            activation=False,
            selective=False,
        ),
        OpDef(
            "output",
            "a model output; its axes are the declared output order",
            "port",
            "output",
            {"name": Attr("str")},
            activation=False,
            selective=False,
        ),
        # learned
        OpDef(
            "param",
            "a learned tensor with the node's axes (key '', named by the bare instance path); a "
            "bounded free axis has its bound as stored size, sliced to the run-time size",
            "learned",
            "param",
            arity=(0, 0),
            activation=False,
            learned=True,
        ),
        OpDef(
            "buffer",
            "non-learned state with the node's axes (a buffer, key '', named by the bare instance "
            "path), as torch.nn's register_buffer; in the state_dict when `persistent`; a bounded "
            "free axis has its bound as stored size, sliced to the run-time size",
            "learned",
            "buffer",
            {"persistent": Attr("bool", True)},
            arity=(0, 0),
            activation=False,
        ),
        OpDef(
            "linear",
            "weight axes out+in (torch order), bias axes out",
            "learned",
            "L",
            {"in": Attr("axes"), "out": Attr("axes"), "bias": Attr("bool", True)},
            acts_on=_keys("in", "out"),
            flops=_linear_flops,
            learned=True,
        ),
        OpDef(
            "embed",
            "input int64; weight axes [vocab]+out (nn.Embedding order)",
            "learned",
            "E",
            {"vocab": Attr("axis"), "out": Attr("axes")},
            acts_on=_keys("vocab", "out"),
            learned=True,
        ),
        OpDef(
            "layernorm",
            "normalise over `axes`; weight/bias over axes",
            "norm",
            "LayerNorm",
            {
                "axes": Attr("axes"),
                "eps": Attr("float", 1e-5),
                "affine": Attr("bool", True),
                "bias": Attr("bool", True),
            },
            acts_on=_keys("axes"),
            learned=True,
        ),
        OpDef(
            "rmsnorm",
            "x / sqrt(mean(x²) + eps) over `axes`; weight over axes",
            "norm",
            "RMSNorm",
            {"axes": Attr("axes"), "eps": Attr("float", 1e-6), "affine": Attr("bool", True)},
            acts_on=_keys("axes"),
            learned=True,
            native_opset=23,
        ),
        OpDef(
            "groupnorm",
            "torch.nn.GroupNorm: the channel axis (`axes[0]`) is split into `groups`; each group is normalised "
            "over its channels and the other `axes`; weight/bias over the channel axis",
            "norm",
            "GroupNorm",
            {
                "axes": Attr("axes"),
                "groups": Attr("int"),
                "eps": Attr("float", 1e-5),
                "affine": Attr("bool", True),
            },
            acts_on=_keys("axes"),
            learned=True,
            # no native opset: onnxruntime's GroupNormalization (opset 21) takes the variance as
            # E[x^2] - E[x]^2 and loses every digit on a group whose mean is large against its
            # spread (0.16 off at mean 100, std 0.1); the centred decomposition stays at float32's
            # own rounding, as torch does
        ),
        OpDef(
            "batchnorm",
            "normalise each `axis` channel over every other axis; weight/bias/running_mean/"
            "running_var over axis, num_batches_tracked []",
            "norm",
            "BatchNorm",
            {"axis": Attr("axis"), "eps": Attr("float", 1e-5), "momentum": Attr("float", 0.1)},
            learned=True,
        ),
        OpDef(
            "conv",
            "weight (out, in/groups, *kernel); transposed (in, out/groups, *kernel)",
            "conv",
            "Conv",
            {
                "in": Attr("axis"),
                "out": Attr("axis"),
                **_SPATIAL,
                "dilation": Attr("ints"),
                "groups": Attr("int", 1),
                "bias": Attr("bool", True),
                "transposed": Attr("bool", False),
                "output_padding": Attr("ints"),
            },
            acts_on=_keys("in", "out", "spatial"),
            flops=_conv_flops,
            learned=True,
        ),
        # contraction and arithmetic
        OpDef(
            "contract",
            "two inputs; out = shared non-contracted axes (input 0 order), then input 0's "
            "remaining, then input 1's remaining",
            "cup",
            "Σ",
            {"over": Attr("axes")},
            arity=(2, 2),
            acts_on=_keys("over"),
            flops=_contract_flops,
        ),
        OpDef(
            "add",
            "two inputs aligned by name, or one input and a constant",
            "operator",
            "+",
            dict(_CONST),
            arity=(1, 2),
            elementwise=True,
            selective=False,
            ints=ranges.add,
        ),
        OpDef(
            "sub",
            "as add",
            "operator",
            "−",
            dict(_CONST),
            arity=(1, 2),
            elementwise=True,
            selective=False,
            ints=ranges.sub,
        ),
        OpDef(
            "mul",
            "as add",
            "operator",
            "×",
            dict(_CONST),
            arity=(1, 2),
            elementwise=True,
            selective=False,
            ints=ranges.mul,
        ),
        OpDef("div", "as add", "operator", "÷", dict(_CONST), arity=(1, 2), elementwise=True, selective=False),
        OpDef(
            "pow",
            "as add (the exponent is a constant)",
            "operator",
            "^",
            dict(_CONST),
            arity=(1, 2),
            elementwise=True,
            selective=False,
        ),
        OpDef("neg", "-x", "operator", "−", elementwise=True, selective=False, ints=ranges.neg),
        OpDef(
            "gelu",
            "GELU, exact (erf) or its tanh approximation",
            "function",
            "gelu",
            {"approximate": Attr("str", "none", ("none", "tanh"))},
            elementwise=True,
            selective=False,
            native_opset=20,
        ),
    ]
    ops += [
        OpDef(name, f"{name}(x), elementwise", "function", name, elementwise=True, selective=False)
        for name in ("relu", "silu", "tanh", "sigmoid", "exp", "log", "sqrt", "abs")
    ]
    ops += [
        OpDef(name, f"{name}(x), elementwise", "function", name, elementwise=True, selective=False)
        for name in ("sin", "cos", "floor", "softplus", "hardswish", "hardsigmoid", "relu6")
    ]
    ops += [
        OpDef(
            "clamp",
            "x limited to [min, max] (a bound that is None does not apply)",
            "function",
            "clamp",
            {"min": Attr("float?", None), "max": Attr("float?", None)},
            elementwise=True,
            selective=False,
        ),
        OpDef(
            "cast",
            "x converted to the node's dtype (float32, int64 or bool); float to int truncates toward zero",
            "function",
            "cast",
            elementwise=True,
            selective=False,
            ints=ranges.same,
        ),
        OpDef(
            "positions",
            "int64 positions 0..n-1 of `axis` (n its run-time size), plus an optional int64 offset "
            "input whose axes pass by (out = offset's axes, then `axis`)",
            "wiring",
            "positions",
            {"axis": Attr("axis")},
            arity=(0, 1),
            acts_on=_keys("axis"),
            ints=ranges.positions,
        ),
    ]
    ops += [
        OpDef(
            name,
            f"elementwise {title} of two inputs aligned by name, or of one and a constant",
            "operator",
            title,
            dict(_CONST),
            arity=(1, 2),
            elementwise=True,
            selective=False,
            ints=rule,
        )
        for name, title, rule in (("minimum", "min", ranges.minimum), ("maximum", "max", ranges.maximum))
    ]
    ops += [
        OpDef(
            name,
            f"a {title} b, a bool tensor; inputs aligned by name, or one input and a constant",
            "operator",
            title,
            dict(_CONST),
            arity=(1, 2),
            elementwise=True,
            selective=False,
        )
        for name, title in (("lt", "<"), ("le", "≤"), ("gt", ">"), ("ge", "≥"), ("eq", "="), ("ne", "≠"))
    ]
    ops += [
        OpDef(
            "and",
            "logical and of two bool inputs aligned by name",
            "operator",
            "and",
            arity=(2, 2),
            elementwise=True,
            selective=False,
        ),
        OpDef(
            "or",
            "logical or of two bool inputs aligned by name",
            "operator",
            "or",
            arity=(2, 2),
            elementwise=True,
            selective=False,
        ),
        OpDef("not", "logical not of a bool input", "operator", "not", elementwise=True, selective=False),
        OpDef(
            "where",
            "input 0 (bool) selects between the next inputs, all aligned by name; `then`/`otherwise` "
            "replace a missing input by a constant (inputs are cond, then the tensor branches in order)",
            "operator",
            "where",
            {"then": Attr("float?", None), "otherwise": Attr("float?", None)},
            arity=(1, 3),
            elementwise=True,
            selective=False,
            ints=ranges.where,
        ),
        OpDef(
            "mask",
            "input 0 where the bool input 1 (aligned by name, its axes a subset) is true, else `value`; "
            "`axes` are the axes the mask spans",
            "mask",
            "mask",
            {"axes": Attr("axes"), "value": Attr("float", float("-inf"))},
            arity=(2, 2),
            acts_on=_keys("axes"),
        ),
    ]
    ops += [
        OpDef("softmax", "softmax along `axis`", "softmax", "softmax", {"axis": Attr("axis")}, acts_on=_keys("axis")),
        OpDef(
            "logsoftmax",
            "log-softmax along `axis`",
            "softmax",
            "logsoftmax",
            {"axis": Attr("axis")},
            acts_on=_keys("axis"),
        ),
        OpDef(
            "dropout",
            "zero with probability p in training, scaled by 1/(1-p); identity in eval",
            "dropout",
            "dropout",
            {"p": Attr("float", 0.1)},
            selective=False,
        ),
        OpDef(
            "causal",
            "entries with key index > query index + (keys - queries) become -inf: aligned bottom-right, so the "
            "last query sees every key (with equal lengths, key index > query index; with a cache of past keys, "
            "causality over the whole sequence)",
            "mask",
            "causal",
            {"query": Attr("axis"), "key": Attr("axis")},
            acts_on=_keys("query", "key"),
        ),
        OpDef(
            "argtopk",
            "indices of the `k` largest entries along `axis`, largest first (torch.topk(...).indices): an "
            "integer tensor `of` `axis` whose new axis `into` (size k) replaces `axis`",
            "route",
            "top-k",
            {"axis": Attr("axis"), "into": Attr("axis"), "k": Attr("int")},
            acts_on=_keys("axis", "into"),
            ints=ranges.argtopk,
        ),
        OpDef(
            "gather",
            "x's entries along `axis` picked by an integer tensor `of` `axis` (torch.gather / index_select): axes "
            "both carry are matched, axes only on the indices replace `axis`",
            "route",
            "gather",
            {"axis": Attr("axis")},
            arity=(2, 2),
            acts_on=_keys("axis"),
            ints=ranges.same,
        ),
        OpDef(
            "scatter",
            "v's entries along `axis` placed at an integer tensor's positions along `into` (zeros elsewhere, "
            "repeated positions summed: torch.scatter_add on zeros)",
            "route",
            "scatter",
            {"axis": Attr("axis"), "into": Attr("axis")},
            arity=(2, 2),
            acts_on=_keys("axis", "into"),
        ),
        OpDef(
            "moe",
            "mixture of experts: sum over `axis` of gates * values, where the values come from an expert circuit "
            "whose weights carry `axis`; torch runs each expert only on the rows whose gate is non-zero",
            "route",
            "MoE",
            {"axis": Attr("axis")},
            arity=(2, 2),
            acts_on=_keys("axis"),
        ),
        OpDef(
            "cumsum",
            "cumulative sum along `axis` (torch.cumsum): element t is the sum of elements 0..t",
            "scan",
            "cumsum",
            {"axis": Attr("axis")},
            acts_on=_keys("axis"),
        ),
        OpDef(
            "scan",
            "linear recurrence along `axis`, elementwise over the other axes: h[t] = a[t] * h[t-1] + b[t], "
            "h[-1] = 0; inputs (a, b), output h",
            "scan",
            "scan",
            {"axis": Attr("axis")},
            arity=(2, 2),
            acts_on=_keys("axis"),
        ),
    ]
    ops += [
        OpDef(
            name,
            f"{name} over `axes` (they leave the layout)",
            "reduce",
            title,
            {"axes": Attr("axes")},
            acts_on=_keys("axes"),
            ints=ranges.same if name in ("max", "min") else None,
        )
        for name, title in (("sum", "Σ"), ("mean", "mean"), ("max", "max"), ("min", "min"))
    ]
    ops += [
        OpDef(
            "rename",
            "new names on the same data (no data movement)",
            "wiring",
            "rename",
            {"map": Attr("map")},
            acts_on=_keys("map"),
            activation=False,
            ints=ranges.same,
        ),
        OpDef(
            "transpose",
            "out axes = [in axes[i] for i in perm]",
            "wiring",
            "transpose",
            {"perm": Attr("ints")},
            selective=False,
            ints=ranges.same,
        ),
        OpDef(
            "split",
            "row-major unflatten of `axis` into `into`, in place",
            "wiring",
            "split",
            {"axis": Attr("axis"), "into": Attr("axes")},
            acts_on=_keys("axis", "into"),
            ints=ranges.same,
        ),
        OpDef(
            "merge",
            "row-major flatten of `axes` in that order, placed where the first of them was",
            "wiring",
            "merge",
            {"axes": Attr("axes"), "into": Attr("axis")},
            acts_on=_keys("axes", "into"),
            ints=ranges.same,
        ),
        OpDef(
            "concat",
            "concatenate along one axis per input into `into`; inputs lacking an output axis are "
            "broadcast; the output has the widest input's layout",
            "wiring",
            "concat",
            {"axes": Attr("axes"), "into": Attr("axis")},
            arity=(2, None),
            acts_on=_keys("axes", "into"),
            ints=ranges.joined,
        ),
        OpDef(
            "select",
            "one index along `axis` (the axis leaves)",
            "wiring",
            "select",
            {"axis": Attr("axis"), "index": Attr("int", 0)},
            acts_on=_keys("axis"),
            ints=ranges.same,
        ),
        OpDef(
            "slice",
            "positions start, start+step, ... before stop of `axis` (Python's slice: negative counts from the "
            "end, stop None is the end, step > 0) as the new axis `into`, in place",
            "wiring",
            "slice",
            {
                "axis": Attr("axis"),
                "into": Attr("axis"),
                "start": Attr("int", 0),
                "stop": Attr("int?", None),
                "step": Attr("int", 1),
            },
            acts_on=_keys("axis", "into"),
            ints=ranges.same,
        ),
        OpDef(
            "flip",
            "reverse the order along each of `axes`",
            "wiring",
            "flip",
            {"axes": Attr("axes")},
            acts_on=_keys("axes"),
            ints=ranges.same,
        ),
        OpDef(
            "roll",
            "shift along `axis` by `shift` positions, wrapping around (torch.roll)",
            "wiring",
            "roll",
            {"axis": Attr("axis"), "shift": Attr("int")},
            acts_on=_keys("axis"),
            ints=ranges.same,
        ),
        OpDef(
            "pad",
            "`before` and `after` entries added along `axis`, giving the new axis `into` in place: the "
            "constant `value`, the reflection (no edge repeat) or copies of the edge",
            "wiring",
            "pad",
            {
                "axis": Attr("axis"),
                "into": Attr("axis"),
                "before": Attr("int", 0),
                "after": Attr("int", 0),
                "mode": Attr("str", "constant", ("constant", "reflect", "replicate")),
                "value": Attr("float", 0.0),
            },
            acts_on=_keys("axis", "into"),
            ints=ranges.padded,
        ),
        OpDef(
            "maxpool",
            "max over a sliding window of the spatial axes",
            "pool",
            "maxpool",
            dict(_SPATIAL),
            acts_on=_keys("spatial"),
        ),
        OpDef(
            "avgpool",
            "mean over a sliding window of the spatial axes",
            "pool",
            "avgpool",
            {**_SPATIAL, "count_include_pad": Attr("bool", True)},
            acts_on=_keys("spatial"),
        ),
        OpDef(
            "upsample",
            "repeat (nearest) or interpolate (linear) each spatial axis by `scale`",
            "pool",
            "upsample",
            {"spatial": Attr("pairs"), "scale": Attr("ints"), "mode": Attr("str", "nearest", ("nearest", "linear"))},
            acts_on=_keys("spatial"),
        ),
    ]
    return ops


#: Every op the IR may contain, by name.
OPS: dict[str, OpDef] = {op.name: op for op in _entries()}

#: Ops applied elementwise that keep their input's layout.
ELEMENTWISE: frozenset[str] = frozenset(name for name, op in OPS.items() if op.elementwise)
#: Ops that own learned parameters.
LEARNED: frozenset[str] = frozenset(name for name, op in OPS.items() if op.learned)


def attr_problem(op: OpDef, attrs: dict[str, Any], axes: dict[str, Any]) -> str | None:
    """Why ``attrs`` do not fit ``op``'s entry (missing, unknown, wrong kind, unknown axis); None when they do."""
    missing = [k for k in op.attrs if k not in attrs]
    unknown = [k for k in attrs if k not in op.attrs]
    if missing or unknown:
        return f"attributes missing {missing}, unknown {unknown}"
    for key, spec in op.attrs.items():
        value = attrs[key]
        problem = _kind_problem(spec, value, axes)
        if problem:
            return f"attribute {key!r} = {value!r}: {problem}"
    return None


def _kind_problem(spec: Attr, value: Any, axes: dict[str, Any]) -> str | None:
    kind = spec.kind
    if kind == "axis?" and value is None:
        return None
    if kind in ("float?", "int?") and value is None:
        return None
    if kind == "int?":
        kind = "int"
    if kind in ("axis", "axis?"):
        return None if isinstance(value, str) and value in axes else "not an axis of the model"
    if kind == "axes":
        ok = isinstance(value, list | tuple) and all(isinstance(a, str) and a in axes for a in value)
        return None if ok else "not a list of the model's axes"
    if kind == "pairs":
        ok = isinstance(value, list | tuple) and all(
            isinstance(p, list | tuple) and len(p) == 2 and all(a in axes for a in p) for p in value
        )
        return None if ok else "not a list of [input axis, output axis] pairs"
    if kind == "map":
        ok = isinstance(value, dict) and all(k in axes and v in axes for k, v in value.items())
        return None if ok else "not a map between the model's axes"
    if kind == "ints":
        ok = isinstance(value, list | tuple) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        return None if ok else "not a list of ints"
    if kind == "int":
        return None if isinstance(value, int) and not isinstance(value, bool) else "not an int"
    if kind in ("float", "float?"):
        return None if isinstance(value, int | float) and not isinstance(value, bool) else "not a number"
    if kind == "bool":
        return None if isinstance(value, bool) else "not a bool"
    if kind == "str":
        if not isinstance(value, str):
            return "not a string"
        return None if not spec.choices or value in spec.choices else f"not one of {list(spec.choices)}"
    return f"unknown attribute kind {kind!r}"
