"""Character-level language modelling with an ncdl model: encode, train, evaluate, sample.

Used by ``ncdl demo`` and ``examples/char_gpt.py``. A model qualifies when it
takes one integer input ``[batch, seq] of vocab`` and returns
``[batch, seq, vocab]`` (see :func:`lm_shape`), like the bundled GPT.

Example:
    >>> program = ncdl.architectures.load("gpt")
    >>> module = program.to_torch()
    >>> vocab = Vocabulary.of(ncdl.demo.data.text())
    >>> ids = vocab.tensor(ncdl.demo.data.text())
    >>> losses = train(module, ids, TrainConfig(steps=100))
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TextIO

import networkx as nx
import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

__all__ = [
    "Progress",
    "TrainConfig",
    "Vocabulary",
    "evaluate",
    "lm_shape",
    "sample",
    "sample_cached",
    "split",
    "train",
    "windows",
]


@dataclass(frozen=True)
class Vocabulary:
    """The characters of a text, sorted; a character's id is its position."""

    chars: str

    @classmethod
    def of(cls, text: str) -> Vocabulary:
        """The vocabulary of every character in ``text``."""
        return cls("".join(sorted(set(text))))

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        """Ids of ``text``'s characters; raises ValueError naming an unknown one."""
        index = {c: i for i, c in enumerate(self.chars)}
        try:
            return [index[c] for c in text]
        except KeyError as err:
            raise ValueError(f"character {err.args[0]!r} is not in the vocabulary") from None

    def tensor(self, text: str) -> torch.Tensor:
        """``encode(text)`` as a 1-D int64 tensor."""
        return torch.tensor(self.encode(text), dtype=torch.int64)

    def decode(self, ids: Sequence[int]) -> str:
        """The characters of ``ids``."""
        return "".join(self.chars[int(i)] for i in ids)


@dataclass(frozen=True)
class TrainConfig:
    """Settings of :func:`train`: AdamW with linear warm-up and cosine decay to a tenth."""

    steps: int = 300
    batch: int = 32
    seq: int = 64
    lr: float = 3e-3
    weight_decay: float = 0.01
    warmup: int = 20
    clip: float = 1.0
    seed: int = 0


def lm_shape(g: nx.MultiDiGraph) -> tuple[int, int | None] | None:
    """``(vocab size, seq bound)`` when the model is a character LM (see the module doc), else None."""
    inputs, outputs = g.graph["inputs"], g.graph["outputs"]
    if len(inputs) != 1 or len(outputs) != 1:
        return None
    data, out = g.nodes[inputs[0]], g.nodes[outputs[0]]
    axes = g.graph["axes"]
    if data["dtype"] != "int64" or len(data["axes"]) != 2:
        return None
    vocab = data["attrs"].get("of")
    batch, seq = data["axes"]
    if out["axes"] != [batch, seq, vocab] or axes[vocab].fixed is None:
        return None
    if axes[batch].fixed is not None or axes[seq].fixed is not None:
        return None
    return axes[vocab].fixed, axes[seq].bound


def split(ids: torch.Tensor, held_out: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``1 - held_out`` of ``ids`` for training, the rest for evaluation."""
    cut = int(len(ids) * (1 - held_out))
    return ids[:cut], ids[cut:]


def windows(ids: torch.Tensor, batch: int, seq: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch`` random windows of ``seq`` ids and the same windows shifted by one (the targets)."""
    if len(ids) <= seq:
        raise ValueError(f"the text has {len(ids)} characters; windows of {seq} need more")
    starts = torch.randint(0, len(ids) - seq, (batch,), generator=generator)
    offsets = torch.arange(seq)
    x = ids[starts[:, None] + offsets]
    y = ids[starts[:, None] + offsets + 1]
    return x, y


def _lr(step: int, config: TrainConfig) -> float:
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    t = (step - config.warmup) / max(config.steps - config.warmup, 1)
    return config.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))


def train(
    module: torch.nn.Module,
    ids: torch.Tensor,
    config: TrainConfig = TrainConfig(),  # noqa: B008 - frozen dataclass
    progress: bool = True,
    on_step: Callable[[int, float], None] | None = None,
) -> list[float]:
    """Train ``module`` to predict each next id of ``ids``; return the loss (nats) of every step.

    Args:
        module: maps int64 ``[batch, seq]`` to logits ``[batch, seq, vocab]``.
        ids: the training text as a 1-D int64 tensor.
        config: steps, batch, window length, learning rate, ...
        progress: show progress on stderr (tokens, loss, tokens/s; see :class:`Progress`).
        on_step: called with (step, loss) after every step.
    """
    gen = torch.Generator().manual_seed(config.seed)
    decay = [p for p in module.parameters() if p.dim() >= 2]
    other = [p for p in module.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": other, "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=config.lr, betas=(0.9, 0.99))
    bar = Progress(config.steps * config.batch * config.seq, enabled=progress)
    losses: list[float] = []
    smooth = None
    module.train()
    for step in range(config.steps):
        for group in optimizer.param_groups:
            group["lr"] = _lr(step, config)
        x, y = windows(ids, config.batch, config.seq, gen)
        logits = module(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), config.clip)
        optimizer.step()
        value = loss.item()
        losses.append(value)
        smooth = value if smooth is None else 0.9 * smooth + 0.1 * value
        bar.update(x.numel(), loss=smooth)
        if on_step is not None:
            on_step(step, value)
    bar.close()
    module.eval()
    return losses


class Progress:
    """Training progress in items (tokens by default), with the loss: a live ``tqdm`` bar on a terminal;
    elsewhere (a log file, a pipe, CI) about ten plain lines in tqdm's format, one per tenth of the run.

    Example:
        >>> bar = Progress(300 * 2048)
        >>> for step in range(300):
        ...     bar.update(2048, loss=1.23)
        >>> bar.close()
    """

    def __init__(self, total: int, enabled: bool = True, stream: TextIO | None = None, unit: str = "tok") -> None:
        self.total, self.enabled, self.unit = max(total, 1), enabled, unit
        self.stream = stream if stream is not None else sys.stderr
        live = enabled and getattr(self.stream, "isatty", lambda: False)()
        self.bar = tqdm(total=self.total, unit=unit, unit_scale=True, file=self.stream, disable=not live)
        self.done, self.start, self.last_tenth = 0, time.perf_counter(), 0

    def update(self, items: int, loss: float) -> None:
        """Record ``items`` more trained on, at (smoothed) loss ``loss``."""
        self.done += items
        if not self.bar.disable:
            self.bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
            self.bar.update(items)
            return
        tenth = self.done * 10 // self.total
        if self.enabled and tenth > self.last_tenth:
            self.last_tenth = tenth
            elapsed = time.perf_counter() - self.start
            line = tqdm.format_meter(
                self.done,
                self.total,
                elapsed,
                unit=self.unit,
                unit_scale=True,
                postfix=f"loss={loss:.4f}",
                ncols=100,
                ascii=True,
            )
            self.stream.write(line + "\n")
            self.stream.flush()

    def close(self) -> None:
        """Finish the bar (on a terminal)."""
        self.bar.close()


@torch.no_grad()
def evaluate(module: torch.nn.Module, ids: torch.Tensor, batch: int = 16, seq: int = 64, batches: int = 8) -> float:
    """Mean next-id loss (nats) of ``module`` on ``batches`` fixed random windows of ``ids``."""
    gen = torch.Generator().manual_seed(1234)
    was_training = module.training
    module.eval()
    total = 0.0
    for _ in range(batches):
        x, y = windows(ids, batch, seq, gen)
        logits = module(x)
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)).item()
    module.train(was_training)
    return total / batches


def sample(
    logits_of: Callable[[np.ndarray], np.ndarray],
    vocab: Vocabulary,
    prompt: str,
    length: int = 200,
    temperature: float = 0.8,
    context: int = 128,
    seed: int = 0,
) -> str:
    """Generate ``length`` characters after ``prompt``.

    Args:
        logits_of: maps int64 ids ``[1, t]`` to logits ``[1, t, vocab]`` (an
            onnxruntime session or a torch module wrapped in a function).
        temperature: 0 picks the most likely character (greedy); higher is more varied.
        context: the most recent characters fed to the model (its ``seq`` bound).
    """
    rng = np.random.default_rng(seed)
    ids = vocab.encode(prompt)
    for _ in range(length):
        window = np.asarray([ids[-context:]], dtype=np.int64)
        last = np.asarray(logits_of(window), dtype=np.float64)[0, -1, : len(vocab)]
        if temperature <= 0:
            ids.append(int(last.argmax()))
            continue
        z = last / temperature
        p = np.exp(z - z.max())
        ids.append(int(rng.choice(len(p), p=p / p.sum())))
    return vocab.decode(ids)


def sample_cached(
    decoder: object,
    vocab: Vocabulary,
    prompt: str,
    length: int = 200,
    temperature: float = 0.8,
    context: int = 128,
    seed: int = 0,
) -> tuple[str, float]:
    """``length`` characters after ``prompt`` through a decoding step graph with its key/value cache, and the
    tokens per second of the generation (prompt included in the time).

    Args:
        decoder: an :class:`ncdl.runtime.generate.OrtDecoder` or ``TorchDecoder``.
        context: the most positions the model sees; past them the cache restarts from the last half
            (:func:`ncdl.runtime.generate.generate`).
    """
    from ncdl.runtime.generate import Sampling, generate

    start = time.perf_counter()
    chars = _FirstLogits(decoder, len(vocab))  # the model may have more outputs than the text has characters
    ids = list(generate(chars, vocab.encode(prompt), length, Sampling(temperature, seed=seed), context=context))
    rate = len(ids) / (time.perf_counter() - start)
    return prompt + vocab.decode(ids), rate


class _FirstLogits:
    """A decoder whose logits are cut to the first ``n`` (the characters of the vocabulary)."""

    def __init__(self, decoder: object, n: int) -> None:
        self.decoder, self.n = decoder, n
        self.bound = decoder.bound  # type: ignore[attr-defined]

    def reset(self) -> None:
        self.decoder.reset()  # type: ignore[attr-defined]

    def feed(self, tokens: Sequence[int]) -> np.ndarray:
        return self.decoder.feed(tokens)[: self.n]  # type: ignore[attr-defined]
