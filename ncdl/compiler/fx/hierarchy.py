"""Hierarchical lowering: each circuit instance as its own ``torch.fx.GraphModule``.

:func:`ncdl.compiler.fx.lower_fx` first writes one flat graph; with a
hierarchy other than ``"flat"`` this module then cuts it along the IR's
``frames`` into *units* -- every iteration of a ``repeat`` and every circuit
call (an iteration and the circuit it calls share one path, so one unit) --
and gives each unit a submodule with its own ``forward``, called from its
parent with ``call_module``. This is what FSDP2 (``fully_shard`` per block),
activation checkpointing, regional ``torch.compile`` and pipeline splitting
need: a real module per block.

The rules:

* A value made in a unit and read outside it is one of its outputs; a value
  read inside but made outside is one of its inputs (in first-use order).
* Parameters and buffers stay where the flat module has them: a parameter
  ``transformer.h.0.attn.c_attn.weight`` sits on unit ``transformer.h.0.attn``
  (the deepest unit whose path prefixes it) as ``c_attn.weight``, so ``state_dict()`` and
  ``named_parameters()`` keep the flat names. A unit reads its own parameters
  with ``get_attr``; one outside its path (a tie across units) comes in as an
  input. A ``repeat``'s iterations sit in an ``nn.ModuleList``.
* Run-time sizes (``x.size(1)``) and the ``training`` flag are re-read inside
  each unit instead of being passed in, so every iteration of a ``repeat``
  gets the same code; iterations with the same code share one class, so
  ``torch.compile`` on each block compiles once (see docs/torch.md).
* The input checks stay in the root's ``forward``.
* ``depth`` keeps only the outermost ``depth`` levels of units (1: the blocks
  of a ``repeat``, not the attention inside them).

Example:
    >>> gm = lower_fx(graph, hierarchy="instances")
    >>> gm.transformer.h[0]            # DecoderBlock(...), a GraphModule
    >>> print(gm.transformer.h[0].code)
"""

from __future__ import annotations

import copy
import heapq
import keyword
import operator
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import torch.fx as fx
from torch import nn

from ncdl.compiler.fx.lower import FxEmitter, Rule, _Codegen, _node_name
from ncdl.compiler.fx.weights import Instance
from ncdl.compiler.passes.marks import Marks
from ncdl.ir import node_inputs

#: Meta keys on flat fx nodes: the unit path that emitted the node, and the name the emitter asked for.
UNIT, NAME = "ncdl_unit", "ncdl_name"

#: ``hierarchy`` values of :func:`ncdl.compiler.fx.lower_fx` besides a depth (an int >= 1).
HIERARCHIES = ("flat", "instances")


def unit_depth(hierarchy: str | int) -> int | None:
    """How many levels of units ``hierarchy`` keeps: 0 for flat, None for all; ValueError when unknown."""
    if hierarchy == "flat":
        return 0
    if hierarchy == "instances":
        return None
    if isinstance(hierarchy, int) and not isinstance(hierarchy, bool) and hierarchy >= 1:
        return hierarchy
    raise ValueError(f"hierarchy must be 'flat', 'instances' or a depth >= 1, got {hierarchy!r}")


def unit_chain(data: dict[str, Any], depth: int | None) -> list[str]:
    """The unit paths enclosing an IR node, outermost first (at most ``depth`` of them)."""
    chain: list[str] = []
    for path, _circuit, kind in data["frames"]:
        if kind in ("iteration", "circuit") and (not chain or chain[-1] != path):
            chain.append(path)
    return chain if depth is None else chain[:depth]


def unit_of(data: dict[str, Any], depth: int | None) -> str:
    """The innermost unit path of an IR node ('' for the root)."""
    chain = unit_chain(data, depth)
    return chain[-1] if chain else ""


def keep_marks_within_units(g: nx.MultiDiGraph, depth: int | None) -> nx.MultiDiGraph:
    """``g`` without the marks that would cross a unit boundary.

    A fused attention chain or a group of sibling linears is lowered where its
    first node lives; when its members sit in different units, the chain is
    unmarked (each box then lowers on its own, in its own unit). A box marked
    to overwrite an input in place (``passes/inplace.py``) keeps the mark only
    when that tensor is made in its own unit: a submodule's output may be a
    view that hooks wrap (FSDP2's pre-backward hook is lost when its output
    is modified in place), so hand-written torch adds residuals out of place.
    """
    out = Marks(g)
    for node, data in g.nodes(data=True):
        if data.get("inplace") is not None and not _overwrites_within_unit(g, node, depth):
            out.nodes[node].pop("inplace")
    groups: dict[str, list[str]] = {}
    for node, data in g.nodes(data=True):
        if data.get("fused_into"):
            groups.setdefault(data["fused_into"], []).append(node)
    for head, members in groups.items():
        units = {unit_of(g.nodes[n], depth) for n in [head, *members]}
        if _routed_within(g, head, members, depth):
            continue
        if len(units) > 1:
            for n in [head, *members]:
                for mark in ("fused", "fused_into", "siblings"):
                    out.nodes[n].pop(mark, None)
    return out.graph()


def _overwrites_within_unit(g: nx.MultiDiGraph, node: str, depth: int | None) -> bool:
    """Whether the tensor that in-place ``node`` overwrites is made in ``node``'s unit (through any dropouts)."""
    data = g.nodes[node]
    home = unit_of(data, depth)
    inputs = node_inputs(g, node)
    src = inputs[0] if data["op"] == "relu" else inputs[data["inplace"]]
    while True:
        if unit_of(g.nodes[src], depth) != home:
            return False
        if g.nodes[src]["op"] != "dropout":
            return True
        (src,) = node_inputs(g, src)


def _routed_within(g: nx.MultiDiGraph, head: str, members: list[str], depth: int | None) -> bool:
    """Whether ``head`` is a routed ``moe`` whose experts' boxes all sit in its unit or in units below it.

    Such a region is lowered inside the ``moe``'s unit (the experts' own units
    keep their parameters, read with ``get_attr`` from below), so the experts
    still run on their routed rows only.
    """
    mark = g.nodes[head].get("fused")
    if not isinstance(mark, dict) or mark.get("kind") != "moe":
        return False
    home = unit_of(g.nodes[head], depth)
    return all(_below(unit_of(g.nodes[n], depth), home) for n in members)


def _below(path: str, parent: str) -> bool:
    return not parent or path == parent or path.startswith(parent + ".")


class TaggingEmitter(FxEmitter):
    """An :class:`FxEmitter` that labels each fx node with its IR node's unit and intended name."""

    def __init__(self, g: nx.MultiDiGraph, depth: int | None) -> None:
        super().__init__(g)
        self.depth = depth
        self.unit = ""

    def call(self, fn: Any, *args: Any, name: str, **kwargs: Any) -> fx.Node:
        """As :meth:`FxEmitter.call`, tagged."""
        return self._tag(super().call(fn, *args, name=name, **kwargs), name)

    def method(self, method: str, *args: Any, name: str, **kwargs: Any) -> fx.Node:
        """As :meth:`FxEmitter.method`, tagged."""
        return self._tag(super().method(method, *args, name=name, **kwargs), name)

    def _tag(self, node: fx.Node, name: str) -> fx.Node:
        node.meta[UNIT] = self.unit
        node.meta[NAME] = _node_name(name)
        return node

    def tagged(self, rules: dict[str, Rule]) -> dict[str, Rule]:
        """``rules`` wrapped so that each sets the current unit before it emits."""

        def wrap(rule: Rule) -> Rule:
            def run(lw: FxEmitter, data: dict[str, Any], ins: list[Any]) -> fx.Node:
                self.unit = unit_of(data, self.depth)
                return rule(lw, data, ins)

            return run

        return {key: wrap(rule) for key, rule in rules.items()}


@dataclass
class _Unit:
    path: str
    circuit: str
    parent: str | None
    children: list[str] = field(default_factory=list)
    ancestors: set[str] = field(default_factory=set)  # itself and every enclosing unit, '' included


def _units(g: nx.MultiDiGraph, depth: int | None) -> dict[str, _Unit]:
    units = {"": _Unit("", g.graph.get("model") or "Model", None)}
    names = {path: circuit for data in g.nodes.values() for path, circuit, _ in data["frames"]}
    circuits = g.graph.get("circuits", {})
    for _, data in sorted(g.nodes(data=True), key=lambda item: int(item[0][1:])):
        parent = ""
        for path in unit_chain(data, depth):
            if path not in units:
                if parent and not path.startswith(parent + "."):
                    raise ValueError(f"unit {path!r} is not inside its parent {parent!r}")
                units[path] = _Unit(path, circuits.get(path) or names.get(path, "Block"), parent)
                units[parent].children.append(path)
            parent = path
    for unit in units.values():
        unit.ancestors = {unit.path}
        up = unit.parent
        while up is not None:
            unit.ancestors.add(up)
            up = units[up].parent
    return units


class _Splitter:
    """Cuts one flat tagged fx graph into one graph per unit."""

    def __init__(self, flat: fx.Graph, units: dict[str, _Unit]) -> None:
        self.units = units
        self.nodes = list(flat.nodes)
        self.index = {n: i for i, n in enumerate(self.nodes)}
        self.output = self.nodes[-1]
        self.body = [n for n in self.nodes if not _floating(n) and n.op != "output"]
        self._inputs: dict[str, list[fx.Node]] = {}
        self._outputs: dict[str, list[fx.Node]] = {}
        self._indexed = False
        # the flat position of each unit's first node (its own or a descendant's); a unit with none is absent
        self._first: dict[str, int] = {}
        for n in reversed(self.body):
            for path in self.units[self.unit(n)].ancestors:
                self._first[path] = self.index[n]
        # each unit's own nodes, in flat order (one pass, not one scan per unit)
        self._own: dict[str, list[fx.Node]] = {}
        for n in self.body:
            self._own.setdefault(self.unit(n), []).append(n)

    # the unit of a value, and what a node needs ------------------------------------
    def unit(self, n: fx.Node) -> str:
        return n.meta.get(UNIT, "")

    def inside(self, n: fx.Node, path: str) -> bool:
        return path in self.units[self.unit(n)].ancestors

    def resolve(self, a: Any, path: str) -> list[fx.Node]:
        """The values ``a`` stands for in unit ``path``: [] for what the unit re-reads itself."""
        if not isinstance(a, fx.Node):
            return []
        if a.op == "get_attr":
            return [] if _local_attr(a.target, path) is not None else [a]
        if _is_size(a):
            return self.resolve(a.args[0], path)
        return [a]

    def needs(self, n: fx.Node, path: str) -> list[fx.Node]:
        found: list[fx.Node] = []
        fx.node.map_arg((n.args, n.kwargs), lambda a: found.extend(self.resolve(a, path)))
        return found

    def inputs(self, path: str) -> list[fx.Node]:
        """The values unit ``path`` reads from outside, in first-use order."""
        self._index()
        return self._inputs.get(path, [])

    def outputs(self, path: str) -> list[fx.Node]:
        """The values made in unit ``path`` and read outside it, in the order they are made."""
        self._index()
        return self._outputs.get(path, [])

    def _index(self) -> None:
        """Every unit's inputs and outputs, in one pass over the nodes: a node concerns only
        the units that enclose it or what it reads (a few), where a scan per unit would be
        quadratic in a model of many repeat iterations."""
        if self._indexed:
            return
        inputs: dict[str, dict[fx.Node, None]] = {}
        outputs: dict[str, set[fx.Node]] = {}
        for n in self.body:
            for path in self.units[self.unit(n)].ancestors:
                for v in self.needs(n, path):
                    if v.op == "get_attr" or not self.inside(v, path):
                        inputs.setdefault(path, {}).setdefault(v)
        for n in [*self.body, self.output]:
            home = self.units[self.unit(n)].ancestors
            for v in self.needs(n, self.unit(n)):
                for path in self.units[self.unit(v)].ancestors - home:
                    outputs.setdefault(path, set()).add(v)
        self._inputs = {path: list(seen) for path, seen in inputs.items()}
        self._outputs = {path: sorted(seen, key=self.index.__getitem__) for path, seen in outputs.items()}
        self._indexed = True

    # one unit's graph ------------------------------------------------------------------
    def graph(self, path: str, names: list[str] | None = None, into: Any = None) -> fx.Graph:
        """The graph of unit ``path``: its own nodes, and one ``call_module`` per child unit.

        ``names`` are its inputs' names (default: the names of the values passed in);
        ``into`` is what to write it into (default: a new ``fx.Graph``; a
        :class:`_Recorder` to learn its structure).
        """
        graph = fx.Graph() if into is None else into
        graph.set_codegen(_Codegen())
        env: dict[fx.Node, fx.Node] = {}
        local: dict[Any, fx.Node] = {}

        # two functions, not one calling itself: a closure that refers to itself is a reference
        # cycle, which would keep env and the graph alive until the next full garbage collection
        def tensor(a: fx.Node) -> fx.Node:
            if a in env:
                return env[a]
            if a.op == "get_attr" and (target := _local_attr(a.target, path)) is not None:
                if target not in local:
                    local[target] = graph.get_attr(target)
                return local[target]
            raise KeyError(f"unit {path!r}: no value for {a.name}")

        def value(a: fx.Node) -> fx.Node:
            if _is_size(a) and a not in env:
                key = (tensor(a.args[0]), a.args[1])
                if key not in local:
                    local[key] = graph.create_node("call_method", "size", key, name=_name(a))
                return local[key]
            return tensor(a)

        if path:
            taken: set[str] = set()
            for i, v in enumerate(self.inputs(path)):
                env[v] = graph.placeholder(_fresh(names[i] if names else _name(v), taken))
        for item in self._order(path):
            if isinstance(item, str):
                self._call_child(graph, path, item, value, env)
            elif item.op == "placeholder":
                env[item] = graph.placeholder(item.target)
            else:
                args, kwargs = fx.node.map_arg((item.args, item.kwargs), value)
                node = graph.create_node(item.op, item.target, args, kwargs, name=_name(item))
                node.meta.update({k: v for k, v in item.meta.items() if k not in (UNIT, NAME)})
                env[item] = node
        if path:
            outs = [value(v) for v in self.outputs(path)]
            graph.output(outs[0] if len(outs) == 1 else tuple(outs))
        else:
            graph.output(fx.node.map_arg(self.output.args[0], value))
        return graph

    def _call_child(self, graph: fx.Graph, path: str, child: str, value: Any, env: dict[fx.Node, fx.Node]) -> None:
        rel = _relative(child, path)
        args = tuple(value(v) for v in self.inputs(child))
        call = graph.create_node("call_module", rel, args, name=rel.replace(".", "_"))
        outs = self.outputs(child)
        if len(outs) == 1:
            env[outs[0]] = call
        else:
            for i, v in enumerate(outs):
                env[v] = graph.create_node("call_function", operator.getitem, (call, i), name=_name(v))

    def empty(self, path: str) -> bool:
        """Whether no node was lowered inside unit ``path`` (a parent lowered all of its boxes)."""
        return path not in self._first

    def first_index(self, path: str) -> int:
        """The flat position of unit ``path``'s first node."""
        return self._first.get(path, 0)

    def _order(self, path: str) -> list[fx.Node | str]:
        """The unit's own nodes and child units, in dependency order (flat order among the ready ones)."""
        unit = self.units[path]
        own = self._own.get(path, [])
        first: dict[Any, int] = {n: self.index[n] for n in own}
        children = [c for c in unit.children if not self.empty(c)]
        for child in children:
            first[child] = self.first_index(child)

        def item_of(v: fx.Node) -> fx.Node | str | None:
            if v.op == "get_attr" or not self.inside(v, path):
                return None
            u = self.unit(v)
            if u == path:
                return v
            return next(c for c in children if c in self.units[u].ancestors)

        deps: dict[Any, set[Any]] = {}
        for n in own:
            deps[n] = {item_of(v) for v in self.needs(n, path)} - {None}
        for child in children:
            deps[child] = {item_of(v) for v in self.inputs(child)} - {None, child}
        users: dict[Any, list[Any]] = {item: [] for item in deps}
        for item, ds in deps.items():
            for d in ds:
                users[d].append(item)
        waiting = {item: len(ds) for item, ds in deps.items()}
        ready = [(first[item], i, item) for i, item in enumerate(deps) if not waiting[item]]
        heapq.heapify(ready)
        order: list[Any] = []
        tiebreak = len(deps)
        while ready:
            _, _, item = heapq.heappop(ready)
            order.append(item)
            for user in users[item]:
                waiting[user] -= 1
                if not waiting[user]:
                    tiebreak += 1
                    heapq.heappush(ready, (first[user], tiebreak, user))
        if len(order) != len(deps):
            raise ValueError(f"unit {path!r}: its values depend on each other in a cycle")
        return order


def _floating(n: fx.Node) -> bool:
    return n.op == "get_attr" or _is_size(n)


def _is_size(n: fx.Node) -> bool:
    """``x.size(dim)``: re-read inside each unit (a whole ``x.size()`` is an ordinary value)."""
    return n.op == "call_method" and n.target == "size" and len(n.args) == 2


def _name(n: fx.Node) -> str:
    return n.meta.get(NAME) or n.name


def _fresh(name: str, taken: set[str]) -> str:
    """``name``, or ``name_1``, ``name_2``, ... when taken (placeholders are the forward's argument names).

    A value named by a dotted label (``mlp.2``) becomes an identifier (``mlp_2``): an argument name
    must be one.
    """
    name = re.sub(r"\W", "_", name)
    if not name.isidentifier() or keyword.iskeyword(name):
        name = f"v_{name}"
    fresh, i = name, 0
    while fresh in taken:
        i += 1
        fresh = f"{name}_{i}"
    taken.add(fresh)
    return fresh


def _relative(path: str, parent: str) -> str:
    return path[len(parent) + 1 :] if parent else path


def _local_attr(target: str, path: str) -> str | None:
    """``target`` as unit ``path`` reads it, or None when it lives outside the unit."""
    if not path or target == "training":
        return target
    return target[len(path) + 1 :] if target.startswith(path + ".") else None


def split_into_units(flat: fx.Graph, g: nx.MultiDiGraph, state: nn.Module, depth: int | None) -> fx.GraphModule:
    """The hierarchical GraphModule for the tagged ``flat`` graph of ``g``, owning ``state``'s tensors."""
    units = _units(g, depth)
    splitter = _Splitter(flat, units)
    names, group = _shared_input_names(splitter, units)
    classes: dict[tuple[str, str], fx.GraphModule] = {}  # a group's first module: its class and code
    for path in sorted(units, key=lambda p: -len(units[p].ancestors)):
        unit = units[path]
        holder = _module_at(state, path)
        if path and splitter.empty(path):
            continue  # all its boxes were lowered in a parent (a routed moe's experts): it only holds tensors
        graph = splitter.graph(path, names.get(path))
        first = classes.get(group[path]) if path else None
        if first is not None:
            # same code as the group's first module: its class and forward, no code generated or compiled again
            gm = _sharing_class(first, graph)
        else:
            gm = fx.GraphModule(nn.Module(), fx.Graph(), class_name=unit.circuit)
        for name, child in holder._modules.items():
            gm.add_module(name, child)
        for name, param in holder._parameters.items():
            gm.register_parameter(name, param)
        for name, buf in holder._buffers.items():
            gm.register_buffer(name, buf, persistent=name not in holder._non_persistent_buffers_set)
        if first is None:
            gm.graph = graph  # generates and compiles the code
        if not path:
            root = gm
            continue
        if first is None:
            classes[group[path]] = gm  # one class, one forward: torch.compile compiles it once for all
            ins = ", ".join(gm.graph.find_nodes(op="placeholder")[i].target for i in range(len(splitter.inputs(path))))
            outs = ", ".join(_name(v) for v in splitter.outputs(path))
            type(gm).extra_repr = _signature(ins, outs)  # type: ignore[method-assign]
        _replace(state, path, gm)
    _lists_for_repeats(root, g.graph.get("repeats", {}))
    return root


def _sharing_class(first: fx.GraphModule, graph: fx.Graph) -> fx.GraphModule:
    """A module of ``first``'s class (so with its ``forward``) holding ``graph``, whose code is ``first``'s.

    ``fx.GraphModule()`` would make a class of its own, generate the code and
    compile it; for a model of many identical blocks that was most of the
    time of compiling. The fields ``GraphModule.__init__`` sets (code, line
    map, hooks, meta) are copied from ``first``.
    """
    gm = object.__new__(type(first))
    nn.Module.__init__(gm)
    gm.training = first.training
    for key, value in first.__dict__.items():
        if key not in gm.__dict__ and key != "_graph":
            gm.__dict__[key] = copy.copy(value)
    gm.__dict__["_graph"] = graph
    graph.owning_module = gm
    return gm


def _shared_input_names(
    splitter: _Splitter, units: dict[str, _Unit]
) -> tuple[dict[str, list[str]], dict[str, tuple[str, str]]]:
    """Input names per unit, the same for every instance whose code differs only in them (so they share a class);
    and each unit's group (circuit, what its graph is made of: :class:`_Recorder`).

    The names are those of the last such instance (in a ``repeat``, the value
    carried from one iteration to the next rather than what feeds the first).
    """
    groups: dict[tuple[str, str], list[str]] = {}
    group: dict[str, tuple[str, str]] = {}
    for path, unit in units.items():
        if path and not splitter.empty(path):
            positional = [f"input_{i}" for i in range(len(splitter.inputs(path)))]
            group[path] = (unit.circuit, splitter.graph(path, positional, _Recorder()).text())
            groups.setdefault(group[path], []).append(path)
    names = {}
    for paths in groups.values():
        last = max(paths, key=lambda p: splitter.first_index(p))
        for path in paths:
            names[path] = [_name(v) for v in splitter.inputs(last)]
    return names, group


class _Token:
    """A node of a :class:`_Recorder`: its position, and a ``meta`` to write to as on an ``fx.Node``."""

    __slots__ = ("i", "meta")

    def __init__(self, i: int) -> None:
        self.i = i
        self.meta: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"%{self.i}"


class _Recorder:
    """Takes the place of an ``fx.Graph`` in :meth:`_Splitter.graph` and records what it is made of, as text.

    Each node's operation, target (a function by identity), arguments (other
    nodes by position) and requested name: two units with the same text get
    the same graph, so the same code, once their inputs have the same names.
    Far cheaper than building the graph and generating its code.
    """

    def __init__(self) -> None:
        self.parts: list[str] = []

    def _add(self, *what: Any) -> _Token:
        self.parts.append(repr(what))
        return _Token(len(self.parts) - 1)

    def set_codegen(self, codegen: Any) -> None:
        """As ``fx.Graph.set_codegen`` (nothing to record)."""

    def placeholder(self, name: str) -> _Token:
        """As ``fx.Graph.placeholder``; the name is left out (the caller chooses it per group)."""
        return self._add("placeholder")

    def get_attr(self, target: str) -> _Token:
        """As ``fx.Graph.get_attr``."""
        return self._add("get_attr", target)

    def create_node(self, op: str, target: Any, args: Any = (), kwargs: Any = None, name: str | None = None) -> _Token:
        """As ``fx.Graph.create_node``."""
        return self._add(op, target if isinstance(target, str) else id(target), args, kwargs, name)

    def output(self, result: Any) -> None:
        """As ``fx.Graph.output``."""
        self._add("output", result)

    def text(self) -> str:
        """What was recorded."""
        return "\n".join(self.parts)


def _signature(ins: str, outs: str) -> Any:
    def extra_repr(self: nn.Module) -> str:
        return f"({ins}) -> ({outs})"

    return extra_repr


def _module_at(root: nn.Module, path: str) -> nn.Module:
    module = root
    for part in path.split(".") if path else []:
        if part not in module._modules:
            module.add_module(part, nn.Module())
        module = module._modules[part]  # type: ignore[assignment]
    return module


def _replace(root: nn.Module, path: str, module: nn.Module) -> None:
    *up, leaf = path.split(".")
    _module_at(root, ".".join(up))._modules[leaf] = module


def _lists_for_repeats(root: nn.Module, repeats: dict[str, int]) -> None:
    """Each ``repeat``'s container of iterations as an ``nn.ModuleList`` (``for block in gm.h``)."""
    for path, count in repeats.items():
        try:
            container = root.get_submodule(path)
        except AttributeError:
            continue
        if type(container) not in (nn.Module, Instance) or list(container._modules) != [str(i) for i in range(count)]:
            continue
        _replace(root, path, nn.ModuleList(_children(container)))


def _children(module: nn.Module) -> Iterable[nn.Module]:
    return [m for m in module._modules.values() if m is not None]


def module_code(gm: fx.GraphModule) -> str:
    """The Python of ``gm``'s ``forward`` and of each submodule class below it (once per class).

    Each submodule's code is headed by a comment naming the instances that run
    it, e.g. ``# transformer.h.0, transformer.h.1, transformer.h.2, transformer.h.3: DecoderBlock``; what
    ``ncdl compile --print`` shows.
    """
    by_class: dict[type, list[str]] = {}
    for name, module in gm.named_modules():
        if name and isinstance(module, fx.GraphModule):
            by_class.setdefault(type(module), []).append(name)
    parts = [gm.code.strip()]
    for names in by_class.values():
        module = gm.get_submodule(names[0])
        parts.append(f"# {', '.join(names)}: {module._get_name()}\n{module.code.strip()}")
    return "\n\n\n".join(parts)
