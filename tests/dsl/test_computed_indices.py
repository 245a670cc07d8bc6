"""``gather`` by integers computed from positions: the checker proves them in range (ncdl.ir.ranges) or says E260."""

from __future__ import annotations

import pytest

import ncdl
from ncdl.ir import integer_range
from ncdl.ir.ranges import Range, le, nonneg
from ncdl.ir.sizes import Size

SWIN_INDEX = """axis ty = 3, tx = 2, ky = ty, kx = tx, heads = 2, rel = (2 * ty - 1) * (2 * tx - 1)
model M(table: [rel, heads]) -> [ty, tx, ky, kx, heads] {
    dy = positions[ty](-positions[ky]()) + (ty - 1)
    index = positions[tx](-positions[kx](-(dy * (2 * tx - 1) + (tx - 1))))
    return gather[rel](table, index)
}
"""


def _error(source: str) -> str:
    with pytest.raises(ncdl.NcdlError) as err:
        ncdl.loads(source, "m.ncd")
    return str(err.value)


def _range_of(source: str, op: str) -> Range | None:
    """The proved range of the index wire of the model's (single) ``op`` node."""
    g = ncdl.loads(source, "m.ncd").graph()
    (node,) = [n for n, d in g.nodes(data=True) if d["op"] == op]
    index = sorted(g.in_edges(node, data=True), key=lambda e: e[2]["port"])[-1][0]
    return integer_range(g, index)


def test_nonneg_is_proved_for_every_size_of_at_least_one() -> None:
    seq, y = Size.symbol("seq"), Size.symbol("y")
    assert nonneg(seq - 1) and nonneg(2 * seq * y - seq - y) and nonneg(Size.const(0))
    assert not nonneg(seq - 2) and not nonneg(seq * y - 2 * seq)
    assert nonneg((y + -1) // 2) and le(seq - 1, seq) and not le(seq, seq - 1)


def test_swin_s_relative_position_index_fills_the_table_exactly() -> None:
    assert str(_range_of(SWIN_INDEX, "gather")) == "0..14"  # (2*3 - 1) * (2*2 - 1) = 15 entries


def test_a_free_axis_keeps_its_range_symbolic() -> None:
    # positions of `key` index `seq` (the same size): a reversal, proved for every length
    source = (
        "axis seq, key ~ seq, d = 2\nmodel M(t: [seq, d]) -> [key, d] { return gather[seq](t, positions[key]()) }\n"
    )
    assert str(_range_of(source, "gather")) == "0..seq + -1"
    flipped = source.replace("positions[key]()", "flip[key](positions[key]())")
    assert str(_range_of(flipped, "gather")) == "0..seq + -1"


def test_gather_by_a_computed_index_is_accepted_in_a_generic_circuit_and_proved_at_each_call_site() -> None:
    library = """axis heads = 2, t3 = 3, r5 = 5
circuit Bias[t, rel, shift: int = 0, k = t](table: [rel, heads]) -> [t, heads] {
    return sum[k](gather[rel](table, positions[t](-positions[k]()) + (t - 1 + shift)))
}
model Good(table: [r5, heads]) -> [t3, heads] { return Bias[t = t3, rel = r5](table) }
"""
    assert ncdl.loads(library, "m.ncd").models == ["Good"]
    bad = library + "model Bad(table: [r5, heads]) -> [t3, heads] { return Bias[t = t3, rel = r5, shift=1](table) }\n"
    assert _error(bad) == (
        "m.ncd:3:38: error[E260]: gather[r5] needs indices from 0 to 4 (the positions of 'r5'), but these computed "
        "integers may hold values from 1 to 5\n"
        " 3 |     return sum[k](gather[rel](table, positions[t](-positions[k]()) + (t - 1 + shift)))\n"
        "   |                                      ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
        "  note: in 'Bias', called at m.ncd:6:55\n"
        "  help: check the arithmetic: its smallest value must be at least 0 and its largest below the axis size"
    )


def test_an_index_one_past_the_table_is_e260_with_its_range() -> None:
    source = SWIN_INDEX.replace("+ (ty - 1)", "+ ty")
    assert _error(source) == (
        "m.ncd:5:31: error[E260]: gather[rel] needs indices from 0 to 14 (the positions of 'rel'), but these "
        "computed integers may hold values from 3 to 17\n"
        " 5 |     return gather[rel](table, index)\n"
        "   |                               ^^^^^\n"
        "  help: check the arithmetic: its smallest value must be at least 0 and its largest below the axis size"
    )


def test_a_free_size_the_index_may_exceed_is_e260() -> None:
    # seq may be 1, and then the constant 1 is past the end
    source = "axis seq, key ~ seq, d = 2\nmodel M(x: [seq, d]) -> [key, d] { return gather[seq](x, where(positions[key]() < 2, 1, 0)) }\n"
    assert _error(source).splitlines()[0] == (
        "m.ncd:2:58: error[E260]: gather[seq] needs indices from 0 to seq + -1 (the positions of 'seq'), but these "
        "computed integers may hold values from 0 to 1"
    )


def test_integers_computed_from_an_input_are_e260() -> None:
    # an input's values are checked at run time only where they index directly; arithmetic on them proves nothing
    source = "axis seq, d = 2\nmodel M(x: [seq, d], t: int[seq] of seq) -> [seq, d] { return gather[seq](x, t + 1) }\n"
    assert _error(source) == (
        "m.ncd:2:78: error[E260]: gather[seq] needs indices from 0 to seq + -1 (the positions of 'seq'), but nothing "
        "bounds these computed integers\n"
        " 2 | model M(x: [seq, d], t: int[seq] of seq) -> [seq, d] { return gather[seq](x, t + 1) }\n"
        "   |                                                                              ^^^^^\n"
        "  help: compute them with + - * and constants from positions, whose ranges are known; or index with an "
        "input `of seq` (checked when the model runs) or argtopk's indices"
    )


def test_positions_of_a_shorter_axis_index_a_longer_one() -> None:
    source = "axis a = 3, b = 5, d = 2\nmodel M(x: [b, d]) -> [a, d] { return gather[b](x, positions[a]() + 2) }\n"
    assert str(_range_of(source, "gather")) == "2..4"
    assert _error(source.replace("+ 2", "+ 3")).splitlines()[0].endswith("may hold values from 3 to 5")
