"""Property tests: valid programs compile and agree across backends; any
edit of a bundled architecture ends in a Program or located diagnostics."""

from __future__ import annotations

import pytest
from hypothesis import given
from ncd_fuzz import (
    ARCHITECTURES,
    assert_parity,
    check_outcome,
    examples,
    exercise,
    grammar_text,
    mutations,
    valid_programs,
)

import ncdl


@examples(80)
@given(valid_programs())
def test_generated_programs_check_and_backends_agree(text: str) -> None:
    program = ncdl.loads(text, "generated.ncd")
    assert program.models == ["Gen"]
    exercise(program)
    assert_parity(program)


@pytest.mark.parametrize("path", ARCHITECTURES, ids=[p.stem for p in ARCHITECTURES])
def test_mutated_architecture_ends_in_program_or_located_diagnostics(path) -> None:
    source = path.read_text(encoding="utf-8")

    @examples(20)
    @given(mutations(source))
    def run(text: str) -> None:
        result = check_outcome(text, str(path), seconds=5.0)
        if result is not None:
            exercise(result)  # the report, IR JSON, diagram and stats of whatever checks

    run()


@examples(40)
@given(grammar_text())
def test_random_grammar_text_ends_in_program_or_located_diagnostics(text: str) -> None:
    result = check_outcome(text, "random.ncd", seconds=5.0)
    if result is not None:
        exercise(result)


def test_unmutated_architectures_check() -> None:
    for path in ARCHITECTURES:
        assert isinstance(check_outcome(path.read_text(encoding="utf-8"), str(path), seconds=20.0), ncdl.Program)
