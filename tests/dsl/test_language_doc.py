"""Every example in docs/language.md checks (or fails exactly as it says)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import ncdl

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "language.md"
BLOCKS = re.findall(r"```ncdl\n(.*?)```", DOC.read_text(), flags=re.S)
README_BLOCKS = re.findall(r"```ncdl\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)


def test_the_reference_has_examples() -> None:
    assert len(BLOCKS) >= 20


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_example(index: int) -> None:
    source = BLOCKS[index]
    expected = re.match(r"# error: (E\d+)", source)
    if expected:
        with pytest.raises(ncdl.NcdlError) as info:
            ncdl.loads(source, "doc.ncd")
        assert info.value.diagnostics[0].code == expected.group(1)
    else:
        program = ncdl.loads(source, "doc.ncd")
        assert program.models


@pytest.mark.parametrize("index", range(len(README_BLOCKS)))
def test_readme_example(index: int) -> None:
    program = ncdl.loads(README_BLOCKS[index], "readme.ncd")
    assert program.models == ["GPT"]
