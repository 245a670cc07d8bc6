"""A learned position table written as nanoGPT writes it: an ``embed`` of ``positions`` over a bounded axis."""

from __future__ import annotations

import torch
import torch.nn.functional as F

import ncdl

SOURCE = """
axis batch, seq <= 16, vocab = 10, model = 4
model M(ids: int[batch, seq] of vocab) -> [batch, seq, model] {
    return embed[vocab -> model](ids) as wte + embed[seq -> model](positions[seq]()) as wpe
}
"""


def test_the_table_has_a_row_per_position_up_to_the_bound() -> None:
    gm = ncdl.loads(SOURCE).to_torch()
    assert tuple(gm.get_parameter("wpe.weight").shape) == (16, 4)


def test_each_position_reads_its_own_row_at_any_length() -> None:
    gm = ncdl.loads(SOURCE).to_torch()
    wte, wpe = gm.get_parameter("wte.weight"), gm.get_parameter("wpe.weight")
    for length in (1, 7, 16):
        ids = torch.randint(0, 10, (2, length))
        torch.testing.assert_close(gm(ids), F.embedding(ids, wte) + wpe[:length])


def test_nn_embeddings_state_dict_loads_as_it_is() -> None:
    source = {"wte.weight": torch.randn(10, 4), "wpe.weight": torch.randn(16, 4)}
    gm = ncdl.loads(SOURCE).to_torch()
    gm.load_state_dict(source, strict=True)
    torch.testing.assert_close(gm.get_parameter("wpe.weight"), source["wpe.weight"])
