"""A small reader for the DOT text the graphviz package writes (one statement a line).

Enough for the diagram tests: nodes, edges, clusters (with their parents and
direct nodes) and anonymous ``rank=`` groups, each with its attributes.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Cluster:
    """A ``subgraph cluster...`` block."""

    name: str
    parent: str | None
    attrs: dict[str, str] = field(default_factory=dict)
    nodes: list[str] = field(default_factory=list)


@dataclass
class Dot:
    """The parsed statements of one graph."""

    nodes: dict[str, dict[str, str]] = field(default_factory=dict)
    edges: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    clusters: dict[str, Cluster] = field(default_factory=dict)
    ranks: list[tuple[str, list[str]]] = field(default_factory=list)

    def edges_between(self, tail: str, head: str) -> list[dict[str, str]]:
        """Attributes of every edge that carries a wire from ``tail`` into ``head``.

        A wire may pass a copy dot (``copy X``) or wrap to another row
        through a stub pair (``to k`` … ``from k``); those hops are followed.
        """
        return [a for t, h, a in self.edges if h == head and self.source(t) == tail]

    def source(self, node: str) -> str:
        """The box a wire really starts at, through copy dots and row stubs."""
        prefix, _, last = node.rpartition("/ ")
        prefix = prefix + "/ " if prefix else ""
        if last.startswith("copy "):
            return prefix + last[len("copy ") :]
        if last.startswith("from "):
            (tail,) = {t for t, h, _ in self.edges if h == prefix + "to " + last[len("from ") :]}
            return self.source(tail)
        return node

    def producers(self, head: str) -> set[str]:
        """Every box a wire into ``head`` starts at."""
        return {self.source(t) for t, h, _ in self.edges if h == head}

    def cluster_of(self, node: str) -> str | None:
        """The innermost cluster that declares ``node`` (None at top level)."""
        for c in self.clusters.values():
            if node in c.nodes:
                return c.name
        return None


def _word(text: str, i: int) -> tuple[str, int]:
    """Read an ID, a quoted string or an HTML ``<...>`` value starting at ``i``."""
    if text[i] == '"':
        j = i + 1
        while text[j] != '"':
            j += 2 if text[j] == "\\" else 1
        return text[i + 1 : j].replace('\\"', '"'), j + 1
    if text[i] == "<":
        depth, j = 0, i
        while True:
            depth += {"<": 1, ">": -1}.get(text[j], 0)
            j += 1
            if depth == 0:
                return text[i:j], j
    j = i
    while j < len(text) and text[j] not in " =[]\t{}":
        j += 1
    return text[i:j], j


def _attrs(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    i = 0
    while i < len(text):
        if text[i] in " \t[]":
            i += 1
            continue
        key, i = _word(text, i)
        assert text[i] == "=", text
        out[key], i = _word(text, i + 1)
    return out


def parse(source: str) -> Dot:
    """Parse ``graphviz.Digraph.source``."""
    dot = Dot()
    stack: list[tuple[str, object]] = []  # ("cluster", name) or ("anon", rank list)
    for raw in source.splitlines()[1:]:
        line = raw.strip()
        if not line:
            continue
        if line == "}":
            if stack:
                stack.pop()
            continue
        if line == "{":
            group: list[str] = []
            dot.ranks.append(("", group))
            stack.append(("anon", len(dot.ranks) - 1))
            continue
        if line.startswith("subgraph"):
            name, _ = _word(line, len("subgraph "))
            parents = [s[1] for s in stack if s[0] == "cluster"]
            dot.clusters[name] = Cluster(name, parents[-1] if parents else None)  # type: ignore[arg-type]
            stack.append(("cluster", name))
            continue
        first, i = _word(line, 0)
        rest = line[i:].strip()
        if first in ("graph", "node", "edge") and rest.startswith("["):
            if first == "graph" and stack and stack[-1][0] == "cluster":
                dot.clusters[stack[-1][1]].attrs.update(_attrs(rest))  # type: ignore[index]
            continue
        if rest.startswith("="):  # a bare attribute statement: key=value ...
            target = stack[-1] if stack else None
            attrs = _attrs(line)
            if target and target[0] == "cluster":
                dot.clusters[target[1]].attrs.update(attrs)  # type: ignore[index]
            elif target:
                index = target[1]
                dot.ranks[index] = (attrs.get("rank", ""), dot.ranks[index][1])  # type: ignore[index]
            continue
        if rest.startswith("->"):
            head, j = _word(rest, 3)
            dot.edges.append((first, head, _attrs(rest[j:])))
            continue
        dot.nodes.setdefault(first, {}).update(_attrs(rest))
        if stack and stack[-1][0] == "cluster":
            dot.clusters[stack[-1][1]].nodes.append(first)  # type: ignore[index]
        elif stack:
            dot.ranks[stack[-1][1]][1].append(first)  # type: ignore[index]
    return dot
