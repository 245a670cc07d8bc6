"""Highlighting: the Pygments lexer and the TextMate grammar on every bundled file."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from importlib import import_module
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from pygments.token import Error, Keyword, Name, Token

from ncdl.dsl.primitives import PRIMITIVES
from ncdl.highlight.lexer import NcdlLexer

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = sorted(
    [*ROOT.glob("ncdl/architectures/*.ncd"), *ROOT.glob("examples/*.ncd"), *ROOT.glob("tests/dsl/programs/*.ncd")]
)
GRAMMAR = json.loads((ROOT / "editors/vscode/syntaxes/ncdl.tmLanguage.json").read_text())


def test_there_are_bundled_files() -> None:
    assert len(BUNDLED) >= 15 and all(p.suffix == ".ncd" for p in BUNDLED)


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: str(p.relative_to(ROOT)))
def test_pygments_lexes_bundled_file_without_errors(path: Path) -> None:
    text = path.read_text()
    tokens = list(NcdlLexer().get_tokens(text))
    assert [value for kind, value in tokens if kind in Error] == []
    assert "".join(value for _, value in tokens) == text + ("" if text.endswith("\n") else "\n")


def test_pygments_token_classes() -> None:
    text = 'use "a.ncd"\naxis model = 4, b\nmodel M[n: int = 2](x: int[b] of model) -> [b, model] {\n'
    text += "    y = embed[model -> model](x) + F(x) * 1.5  # note\n    return y -> softmax[model]\n}\n"
    kinds = {(str(v), k) for k, v in NcdlLexer().get_tokens(text) if v.strip()}
    assert {("use", Keyword.Declaration), ("axis", Keyword.Declaration), ("model", Keyword.Declaration)} < kinds
    assert ("model", Name.Variable) in kinds and ("b", Name.Variable) in kinds  # names an axis line declares
    assert ("M", Name.Class) in kinds and ("F", Name.Function) in kinds
    assert ("embed", Name.Builtin) in kinds and ("softmax", Name.Builtin) in kinds
    assert ("model", Name) in kinds  # the axis in brackets is not the keyword
    assert ("int", Keyword.Type) in kinds and ("of", Keyword) in kinds
    assert ("# note", Token.Comment.Single) in kinds and ('"a.ncd"', Token.Literal.String) in kinds


def test_lexer_is_registered_in_pyproject() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["pygments.lexers"]
    module, _, name = declared["ncdl"].partition(":")
    assert getattr(import_module(module), name) is NcdlLexer


def test_pygmentize_finds_the_lexer_by_name(tmp_path: Path) -> None:
    if "ncdl" not in {ep.name for ep in entry_points(group="pygments.lexers")}:
        pytest.skip("the installed ncdl predates its pygments entry point: run setup.sh (pip install -e .)")
    out = subprocess.run(
        [sys.executable, "-m", "pygments", "-l", "ncdl", "-f", "html", str(ROOT / "ncdl/architectures/gpt.ncd")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert '<span class="nb">embed</span>' in out and 'class="err"' not in out


# ---- the TextMate grammar, with a small tokenizer of its own ----------------------------


def _rules(patterns: list[dict]) -> list[dict]:
    """Patterns with every ``include`` of the repository expanded."""
    out: list[dict] = []
    for p in patterns:
        if "include" in p:
            target = GRAMMAR["repository"][p["include"].lstrip("#")]
            out += _rules(target["patterns"]) if "patterns" in target and "begin" not in target else _rules([target])
        else:
            out.append(p)
    return out


def _scopes(rule: dict, m: re.Match, key: str) -> set[str]:
    found = set()
    for group, capture in rule.get(key, {}).items():
        if m.group(int(group)):
            found.add(capture["name"])
    return found


def tokenize(text: str) -> tuple[set[str], list[str], int]:
    """Scopes used, unmatched non-blank text, and regions left open at the end:
    TextMate's rules (line by line; the earliest match wins, the first rule
    on a tie; a region's end is tried before its patterns)."""
    seen: set[str] = set()
    unmatched: list[str] = []
    stack: list[tuple[re.Pattern | None, list[dict], dict]] = [(None, _rules(GRAMMAR["patterns"]), GRAMMAR)]
    for number, line in enumerate(text.splitlines(), 1):
        pos = 0
        while True:
            end, rules, region = stack[-1]
            best: tuple[re.Match, dict | None] | None = None
            if end is not None and (m := end.search(line, pos)):
                best = (m, None)
            for rule in rules:
                m = re.compile(rule.get("match") or rule["begin"]).search(line, pos)
                if m and (best is None or m.start() < best[0].start()):
                    best = (m, rule)
            if best is None:
                break
            m, rule = best
            if line[pos : m.start()].strip():
                unmatched.append(f"{number}: {line[pos : m.start()]!r}")
            if rule is None:
                seen |= _scopes(region, m, "endCaptures")
                stack.pop()
            elif "match" in rule:
                seen |= {rule["name"]} if "name" in rule else set()
                seen |= _scopes(rule, m, "captures")
            else:
                seen |= ({rule["name"]} if "name" in rule else set()) | _scopes(rule, m, "beginCaptures")
                stack.append((re.compile(rule["end"]), _rules(rule["patterns"]), rule))
            if m.end() == pos and rule is not None and "match" in rule:
                break  # an empty match: nothing left to read on this line
            pos = m.end()
            if pos >= len(line) and (stack[-1][0] is None or not stack[-1][0].search(line, pos)):
                break
        if line[pos:].strip():
            unmatched.append(f"{number}: {line[pos:]!r}")
    return seen, unmatched, len(stack) - 1


def _all_scopes(node: object) -> set[str]:
    if isinstance(node, dict):
        own = {node["name"]} if isinstance(node.get("name"), str) and node is not GRAMMAR else set()
        return own | set().union(*(_all_scopes(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_all_scopes(v) for v in node))
    return set()


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: str(p.relative_to(ROOT)))
def test_textmate_grammar_matches_all_of_each_bundled_file(path: Path) -> None:
    _, unmatched, still_open = tokenize(path.read_text())
    assert unmatched == [] and still_open == 0


def test_every_textmate_scope_appears_in_the_bundled_files() -> None:
    seen: set[str] = set()
    for path in BUNDLED:
        seen |= tokenize(path.read_text())[0]
    assert _all_scopes(GRAMMAR) - seen == set()


def test_textmate_and_pygments_know_the_same_boxes() -> None:
    builtin = next(p for p in GRAMMAR["repository"]["expression"]["patterns"] if "builtin" in p.get("name", ""))
    listed = set(re.fullmatch(r"\\b\((.*)\)\\b", builtin["match"]).group(1).split("|"))
    assert listed == set(PRIMITIVES), "run tools/textmate_boxes.py to bring the grammar in step"


def test_tokenizer_reports_unmatched_text() -> None:
    seen, unmatched, still_open = tokenize("axis a\nreturn x $ y\nlinear[a")
    assert unmatched == ["2: ' $ '"] or unmatched == ["2: '$ '"] or unmatched == ["2: ' $'"]
    assert still_open == 1 and "support.function.builtin.ncdl" in seen


DOC_BLOCKS = [
    (path, n, block)
    for path in sorted([ROOT / "README.md", *ROOT.glob("docs/*.md")])
    for n, block in enumerate(re.findall(r"```ncdl\n(.*?)```", path.read_text(), re.S))
]


@pytest.mark.parametrize("path,n,block", DOC_BLOCKS, ids=lambda x: x.name if isinstance(x, Path) else str(x)[:0])
def test_ncdl_blocks_in_the_docs_lex_without_errors(path: Path, n: int, block: str) -> None:
    assert [value for kind, value in NcdlLexer().get_tokens(block) if kind in Error] == []
    assert tokenize(block)[1] == []


def test_vscode_extension_points_at_its_files() -> None:
    folder = ROOT / "editors/vscode"
    package = json.loads((folder / "package.json").read_text())
    assert (folder / package["main"]).is_file()
    (language,) = package["contributes"]["languages"]
    assert language["extensions"] == [".ncd"] and (folder / language["configuration"]).is_file()
    json.loads((folder / language["configuration"]).read_text())
    grammars = {g["scopeName"]: folder / g["path"] for g in package["contributes"]["grammars"]}
    assert json.loads(grammars["source.ncdl"].read_text())["scopeName"] == "source.ncdl"
    assert all(path.is_file() for path in grammars.values())
    assert "ncdl/diagram" in (folder / "extension.js").read_text()


def test_vscode_client_script_parses() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed; it only checks extension.js's syntax")
    subprocess.run([node, "--check", str(ROOT / "editors/vscode/extension.js")], check=True)
