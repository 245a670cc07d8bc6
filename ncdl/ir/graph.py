"""The IR: the one contract between the front end and every backend.

A model's IR is a ``networkx.MultiDiGraph``. The checker builds it; backends
(torch.fx, ONNX, Graphviz, stats) read it and never look at source text.

Graph attributes (``g.graph``):
    ``model``    the model's name.
    ``axes``     ordered dict ``name -> Axis``: every axis any wire carries.
    ``inputs``   node ids of the ``input`` nodes, in signature order.
    ``outputs``  node ids of the ``output`` nodes, in signature order.
    ``bindings`` ``free axis -> [input node id, dim]``: where each free axis
                 size is read at run time (the first input that carries it).
    ``source``   ``{"file": str, "sha256": str}``.
    ``repeats``  ``path -> count`` for every ``repeat`` block (for folding).
    ``circuits`` ``path -> circuit name`` for every circuit instance.
    ``empty_axes`` (optional) free axes that may have size 0 at run time (a
                 decoding step's ``past_seq``); every other free axis is at
                 least 1 (:mod:`ncdl.ir.requirements`).
    ``circuit_args`` ``path -> {int parameter: value}``: the integer parameters
                 each circuit instance was called with (the diagram titles a
                 collapsed ``BasicBlock`` box ``BasicBlock(stride=2)``).

Node attributes (every node; node ids are strings ``n0, n1, ...``):
    ``op``       a key of :data:`ncdl.ir.ops.OPS` (the op registry).
    ``name``     a readable value name from the source (``q``, ``s``, ``x``).
    ``axes``     the output tensor's axes, ordered: that order *is* the
                 physical layout of the tensor.
    ``dtype``    ``"float32"``, ``"int64"`` or ``"bool"``.
    ``attrs``    the op's attributes, exactly those its registry entry declares.
    ``params``   learned tensors: a list of :class:`Param` dicts (may be []).
    ``buffers``  non-learned state (batchnorm running stats), same shape.
    ``scope``    the instance path, e.g. ``blocks.3.attn.q``; parameter names
                 are ``scope + "." + key``.
    ``frames``   the nesting of the node: a list of ``[path, circuit, kind]``
                 with kind ``"circuit"``, ``"repeat"`` or ``"iteration"``,
                 outermost first, for diagrams that draw nested boxes.
    ``span``     ``{"file", "line", "col", "end_line", "end_col"}`` (1-based).

Edge attributes (one edge per wire, a consumer's input slot):
    ``port``     the position of the input on the consumer (0-based).
    ``axes``     the tensor's axes (equal to the producer's ``axes``).

A Param dict: ``{"key": "weight", "name": "blocks.0.attn.q.weight",
"axes": [...], "shape": [ints], "init": {"kind": ..., ...}, "tied_to":
name or None}``, and ``"flat"`` (torch.nn's shape of the same numbers, when
it differs: see :mod:`ncdl.ir.flat`). ``shape`` is authoritative (conv kernels have no named
axes: their axis labels are ``"<kernel y>"``). When ``tied_to`` is set the
tensor is the same object as the named parameter and is not created again.
Inits: ``{"kind": "uniform", "low", "high"}``, ``{"kind": "normal", "mean",
"std"}``, ``{"kind": "zeros"}``, ``{"kind": "ones"}``, ``{"kind": "constant", "value"}``.

Layout rules every backend may rely on (the checker guarantees them):
    * elementwise ops, softmax, norms, dropout, causal keep the input order;
    * ops that produce new axes (linear, embed, contract, reductions, conv,
      pooling, upsample) list the axes that passed by first, in input order,
      then the produced axes;
    * split puts the new axes in place of the split axis; merge puts the
      merged axis in place of the first merged axis; concat keeps the layout
      of its widest input with the concatenated axis in its place.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import networkx as nx

from ncdl.ir.ops import OPS, REQUIRED, attr_problem
from ncdl.ir.ranges import Range
from ncdl.ir.sizes import Size


@dataclass
class Axis:
    """One wire type: a name and a size.

    ``size`` is a :class:`Size`: constant for sized axes, a symbol for free
    axes (aliases share their root's symbol), an expression for derived axes.
    ``bound`` is the declared upper bound of a free axis (or None).
    """

    name: str
    size: Size
    bound: int | None = None

    @property
    def fixed(self) -> int | None:
        """The integer size, or None when it is known only at run time."""
        return self.size.as_int()

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {"name": self.name, "size": self.size.to_json(), "text": str(self.size), "bound": self.bound}

    @staticmethod
    def from_json(data: dict[str, Any]) -> Axis:
        """Inverse of :meth:`to_json`."""
        return Axis(data["name"], Size.from_json(data["size"]), data.get("bound"))


def new_graph(model: str) -> nx.MultiDiGraph:
    """An empty IR graph with every graph attribute present."""
    g = nx.MultiDiGraph()
    g.graph.update(
        model=model, axes={}, inputs=[], outputs=[], bindings={}, source={}, repeats={}, circuits={}, circuit_args={}
    )
    return g


def add_node(
    g: nx.MultiDiGraph,
    op: str,
    inputs: Iterable[str],
    axes: Iterable[str],
    *,
    name: str = "",
    dtype: str = "float32",
    attrs: dict[str, Any] | None = None,
    params: list[dict[str, Any]] | None = None,
    buffers: list[dict[str, Any]] | None = None,
    scope: str = "",
    frames: list[list[Any]] | None = None,
    span: dict[str, Any] | None = None,
) -> str:
    """Append a node fed by ``inputs`` (node ids, in port order); return its id.

    Attributes the caller leaves out take their registry defaults.
    """
    if op not in OPS:
        raise ValueError(f"unknown IR op {op!r}")
    defaults = {k: a.default for k, a in OPS[op].attrs.items() if a.default is not REQUIRED}
    attrs = {**defaults, **(attrs or {})}
    node_id = f"n{g.number_of_nodes()}"
    while node_id in g:
        node_id += "_"
    g.add_node(
        node_id,
        op=op,
        name=name or op,
        axes=list(axes),
        dtype=dtype,
        attrs=attrs,
        params=params or [],
        buffers=buffers or [],
        scope=scope,
        frames=frames or [],
        span=span or {},
    )
    for port, src in enumerate(inputs):
        g.add_edge(src, node_id, port=port, axes=list(g.nodes[src]["axes"]))
    return node_id


def node_inputs(g: nx.MultiDiGraph, node: str) -> list[str]:
    """The producers feeding ``node``, in port order."""
    edges = sorted(g.in_edges(node, data=True), key=lambda e: e[2]["port"])
    return [src for src, _, _ in edges]


def topological(g: nx.MultiDiGraph) -> list[str]:
    """Node ids in a deterministic topological order: creation order when that is one."""
    order = list(g.nodes)
    index = {n: i for i, n in enumerate(order)}
    if all(index[u] < index[v] for u, v in g.edges()):
        return order
    return list(nx.lexicographical_topological_sort(g, key=lambda n: index[n]))


def integer_range(g: nx.MultiDiGraph, node: str, memo: dict[str, Range | None] | None = None) -> Range | None:
    """The values integer node ``node`` can hold, proved from the registry's ``ints`` rules; None when unknown.

    A bool node holds 0..1; a float node, or an op without a rule (an input), has no range. ``memo`` keeps
    the answers for nodes seen (a graph's nodes do not change once added, so it may outlive one call).
    """
    memo = {} if memo is None else memo
    stack = [node]
    while stack:
        n = stack[-1]
        if n in memo:
            stack.pop()
            continue
        data = g.nodes[n]
        rule = OPS[data["op"]].ints
        if data["dtype"] == "bool":
            memo[n] = Range(Size.const(0), Size.const(1))
        elif data["dtype"] != "int64" or rule is None:
            memo[n] = None
        else:
            ins = node_inputs(g, n)
            todo = [src for src in ins if src not in memo]
            if todo:
                stack.extend(todo)
                continue
            known = [memo[src] for src in ins]
            memo[n] = None if None in known else rule(data["attrs"], known, lambda axis: g.graph["axes"][axis].size)
        stack.pop()
    return memo[node]


def all_params(g: nx.MultiDiGraph) -> list[dict[str, Any]]:
    """Every parameter that owns storage (tied ones excluded), in node order."""
    return [p for n in topological(g) for p in g.nodes[n]["params"] if not p.get("tied_to")]


def all_buffers(g: nx.MultiDiGraph) -> list[dict[str, Any]]:
    """Every buffer, in node order."""
    return [b for n in topological(g) for b in g.nodes[n]["buffers"]]


def param_count(g: nx.MultiDiGraph) -> int:
    """The number of learned scalars (tied parameters counted once)."""
    total = 0
    for p in all_params(g):
        n = 1
        for s in p["shape"]:
            n *= s
        total += n
    return total


#: The element types a wire may carry.
DTYPES: tuple[str, ...] = ("float32", "int64", "bool")


class IRError(Exception):
    """The IR breaks its contract (a bug in a pass, never a user mistake)."""


def verify(g: nx.MultiDiGraph) -> None:
    """Check the IR contract; raise :class:`IRError` naming the first violation."""
    axes = g.graph["axes"]
    if not nx.is_directed_acyclic_graph(g):
        raise IRError("the IR has a cycle")
    for node, data in g.nodes(data=True):
        op = data.get("op")
        if op not in OPS:
            raise IRError(f"{node}: unknown op {op!r}")
        problem = attr_problem(OPS[op], data["attrs"], axes)
        if problem:
            raise IRError(f"{node} ({op}): {problem}")
        if data.get("dtype") not in DTYPES:
            raise IRError(f"{node} ({op}): dtype {data.get('dtype')!r} is not one of {list(DTYPES)}")
        for ax in data["axes"]:
            if ax not in axes:
                raise IRError(f"{node} ({op}): axis {ax!r} is not in the axis table")
        if len(set(data["axes"])) != len(data["axes"]):
            raise IRError(f"{node} ({op}): repeated axis in {data['axes']}")
        ports = sorted(e[2]["port"] for e in g.in_edges(node, data=True))
        if ports != list(range(len(ports))):
            raise IRError(f"{node} ({op}): input ports {ports} are not 0..n-1")
        lo, hi = OPS[op].arity
        if len(ports) < lo or (hi is not None and len(ports) > hi):
            raise IRError(f"{node} ({op}): {len(ports)} inputs, the op takes {lo} to {hi}")
        for src, _, edata in g.in_edges(node, data=True):
            if edata["axes"] != g.nodes[src]["axes"]:
                raise IRError(f"edge {src}->{node}: axes {edata['axes']} differ from producer's")
    for node in g.graph["inputs"]:
        if g.nodes[node]["op"] != "input":
            raise IRError(f"{node} listed as an input but is {g.nodes[node]['op']}")
    for node in g.graph["outputs"]:
        if g.nodes[node]["op"] != "output":
            raise IRError(f"{node} listed as an output but is {g.nodes[node]['op']}")
    names: set[str] = set()
    for p in all_params(g) + all_buffers(g):
        if p["name"] in names:
            raise IRError(f"parameter {p['name']!r} defined twice")
        names.add(p["name"])
    for _node, data in g.nodes(data=True):
        for p in data["params"]:
            if p.get("tied_to") and p["tied_to"] not in names:
                raise IRError(f"{p['name']} is tied to unknown parameter {p['tied_to']!r}")


def to_json(g: nx.MultiDiGraph) -> dict[str, Any]:
    """The IR as stable JSON-serialisable data (see :func:`from_json`)."""
    graph = dict(g.graph)
    graph["axes"] = [a.to_json() for a in g.graph["axes"].values()]
    nodes = [{"id": n, **g.nodes[n]} for n in topological(g)]
    edges = [
        {"src": u, "dst": v, "port": d["port"], "axes": d["axes"]}
        for u, v, d in sorted(g.edges(data=True), key=lambda e: (e[1], e[2]["port"]))
    ]
    return {"format": "ncdl-ir", "version": 1, "graph": graph, "nodes": nodes, "edges": edges}


def from_json(data: dict[str, Any]) -> nx.MultiDiGraph:
    """Rebuild the graph written by :func:`to_json`."""
    g = nx.MultiDiGraph()
    graph = dict(data["graph"])
    graph["axes"] = {a["name"]: Axis.from_json(a) for a in graph["axes"]}
    g.graph.update(graph)
    for node in data["nodes"]:
        node = dict(node)
        g.add_node(node.pop("id"), **node)
    for e in data["edges"]:
        g.add_edge(e["src"], e["dst"], port=e["port"], axes=e["axes"])
    return g


def dumps(g: nx.MultiDiGraph) -> str:
    """:func:`to_json` as text, keys sorted, for diffs and golden files."""
    return json.dumps(to_json(g), indent=1, sort_keys=True)
