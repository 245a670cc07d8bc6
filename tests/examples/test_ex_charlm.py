"""Character-level training of the bundled GPT: helpers, the progress display, and a short run that learns."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from ncdl import architectures
from ncdl.demo import data
from ncdl.demo.charlm import (
    Progress,
    TrainConfig,
    Vocabulary,
    evaluate,
    lm_shape,
    sample,
    sample_cached,
    split,
    train,
    windows,
)


def test_vocabulary_round_trip_and_unknown_character() -> None:
    vocab = Vocabulary.of("hello world")
    assert vocab.chars == " dehlorw"
    assert vocab.decode(vocab.encode("low hold")) == "low hold"
    with pytest.raises(ValueError, match="'z'"):
        vocab.encode("zap")


def test_windows_targets_are_the_inputs_shifted_by_one() -> None:
    ids = torch.arange(100)
    x, y = windows(ids, batch=5, seq=8, generator=torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (5, 8)
    assert torch.equal(y, x + 1)
    with pytest.raises(ValueError, match="10 characters"):
        windows(torch.arange(10), 2, 10, torch.Generator())


def test_lm_shape_recognises_the_gpt_and_nothing_else() -> None:
    assert lm_shape(architectures.load("gpt").graph("GPT")) == (65, 128)
    assert lm_shape(architectures.load("mlp").graph("MLP")) is None
    assert lm_shape(architectures.load("cnn1d").graph()) is None  # int input, but classes out


def test_progress_off_a_terminal_prints_about_ten_plain_lines() -> None:
    stream = io.StringIO()
    bar = Progress(100 * 64, stream=stream)
    for _ in range(100):
        bar.update(64, loss=2.5)
    bar.close()
    text = stream.getvalue()
    lines = text.splitlines()
    assert 10 <= len(lines) <= 11
    assert "\r" not in text
    assert lines[-1].startswith("100%|") and "6.40k/6.40k" in lines[-1]
    assert "loss=2.5000" in lines[-1] and "tok/s" in lines[-1]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_on_a_terminal_is_a_live_tqdm_bar() -> None:
    stream = _Terminal()
    bar = Progress(10, stream=stream)
    for _ in range(10):
        bar.update(1, loss=1.0)
    bar.close()
    assert "\r" in stream.getvalue() and "loss=1.0000" in stream.getvalue().split("\r")[-1]


def test_progress_disabled_writes_nothing() -> None:
    stream = _Terminal()
    bar = Progress(5, stream=stream, enabled=False)
    bar.update(5, loss=1.0)
    bar.close()
    assert stream.getvalue() == ""


def test_short_training_run_falls_below_the_unigram_entropy() -> None:
    torch.manual_seed(0)
    text = data.text()
    vocab = Vocabulary.of(text)
    train_ids, held_out = split(vocab.tensor(text))
    module = architectures.load("gpt").to_torch("GPT")
    before = evaluate(module, held_out, seq=64, batches=2)
    losses = train(module, train_ids, TrainConfig(steps=60, batch=16, seq=64, lr=6e-3), progress=False)
    after = evaluate(module, held_out, seq=64, batches=4)
    entropy = data.unigram_entropy(text)
    assert len(losses) == 60
    assert after < before
    assert after < entropy - 0.3, f"held-out loss {after:.3f} vs unigram entropy {entropy:.3f}"


def test_sampling_is_greedy_at_temperature_zero() -> None:
    vocab = Vocabulary("ab")

    def always_b(ids: np.ndarray) -> np.ndarray:
        logits = np.zeros((1, ids.shape[1], 2), np.float32)
        logits[..., 1] = 5.0
        return logits

    assert sample(always_b, vocab, "a", length=4, temperature=0) == "abbbb"
    assert len(sample(always_b, vocab, "a", length=4, temperature=1.0, seed=3)) == 5


class _CountingDecoder:
    """Logits that favour the character after the last one fed; records what it was fed."""

    bound = 8

    def __init__(self) -> None:
        self.fed: list[list[int]] = []

    def reset(self) -> None:
        self.fed.append([])

    def feed(self, tokens: list[int]) -> np.ndarray:
        self.fed[-1].extend(tokens)
        logits = np.zeros(5)  # one more output than the vocabulary has characters: never picked
        logits[(tokens[-1] + 1) % 3] = 5.0
        logits[4] = 9.0
        return logits


def test_sample_cached_feeds_one_token_at_a_time_and_restarts_past_the_context() -> None:
    vocab = Vocabulary("abc")
    decoder = _CountingDecoder()
    text, rate = sample_cached(decoder, vocab, "ab", length=7, temperature=0, context=4)
    assert text == "ab" + "cabcabc" and rate > 0
    # the prompt, then one token per call; at 4 positions the cache restarts from the last 2
    assert decoder.fed == [[0, 1, 2, 0], [0, 1, 2, 0], [0, 1]]
