"""Token generation through a decoding step graph, with torch or onnxruntime.

A *decoder* feeds new tokens with their position offset and keeps the key/value
cache; :func:`generate` runs the prompt through it once, then one token per
call, and yields each token as it is chosen. Two decoders:

* :class:`OrtDecoder`: an ONNX step graph (``ncdl export --decoding``) in
  onnxruntime; the ``present`` outputs of one call are the ``past`` inputs of
  the next.
* :class:`TorchDecoder`: the torch step module
  (:func:`ncdl.compiler.fx.decoding.lower_fx_step`) with a preallocated cache
  of the sequence's bound: each step writes only the new keys and values.

Both read the cache layout from the ``ncdl.decoding`` description
(:meth:`ncdl.compiler.decoding.Decoding.layout`).

Example:
    >>> decoder = OrtDecoder("gpt.step.onnx")
    >>> for token in generate(decoder, [1, 2, 3], 20, Sampling(temperature=0.8, seed=0)):
    ...     print(token)
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

__all__ = ["Decoder", "OrtDecoder", "Sampling", "TorchDecoder", "generate", "pick"]


@dataclass(frozen=True)
class Sampling:
    """How the next token is chosen: greedy at temperature 0, else sampled from the softmax of the logits
    divided by ``temperature``, restricted to the ``top_k`` most likely and to the smallest set whose
    probability reaches ``top_p``; ``seed`` makes the draws repeatable."""

    temperature: float = 0.0
    top_k: int | None = None
    top_p: float | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if self.top_k is not None and self.top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {self.top_k}")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")


def pick(logits: np.ndarray, sampling: Sampling, rng: np.random.Generator) -> int:
    """The next token from one row of logits (see :class:`Sampling`)."""
    logits = np.asarray(logits, dtype=np.float64).reshape(-1)
    if sampling.temperature == 0:
        return int(np.argmax(logits))
    z = logits / sampling.temperature
    order = np.argsort(-z, kind="stable")
    if sampling.top_k is not None:
        order = order[: sampling.top_k]
    p = np.exp(z[order] - z[order[0]])
    p /= p.sum()
    if sampling.top_p is not None:
        keep = int(np.searchsorted(np.cumsum(p), sampling.top_p) + 1)
        order, p = order[:keep], p[:keep] / p[:keep].sum()
    return int(order[rng.choice(len(order), p=p)])


class Decoder(Protocol):
    """Runs new tokens of one sequence through the step graph and keeps its cache."""

    #: The most positions the model takes (the sequence axis's bound), or None.
    bound: int | None

    def reset(self) -> None:
        """Forget the cache (a new sequence)."""

    def feed(self, tokens: Sequence[int]) -> np.ndarray:
        """Run ``tokens`` after those fed since :meth:`reset`; the logits at the last one (``[vocab]``)."""
        ...


def generate(
    decoder: Decoder,
    prompt: Sequence[int],
    max_new_tokens: int,
    sampling: Sampling | None = None,
    *,
    context: int | None = None,
) -> Iterator[int]:
    """Yield up to ``max_new_tokens`` tokens after ``prompt``, each as soon as it is chosen.

    With ``context``, the text may run longer than the model's positions: when the cache holds ``context``
    positions it restarts from the last ``context // 2`` tokens (one prefill), so every token still sees
    at least ``context // 2`` before it. Without it, prompt and new tokens must fit the model's bound.

    Raises:
        ValueError: an empty prompt, or prompt plus new tokens beyond the model's positions (its bound).
    """
    sampling = sampling or Sampling()
    if not prompt:
        raise ValueError("the prompt is empty; give at least one token")
    if context is not None:
        yield from _windowed(decoder, list(prompt), max_new_tokens, sampling, context)
        return
    bound = decoder.bound
    if bound is not None and len(prompt) + max_new_tokens - 1 > bound:
        raise ValueError(
            f"prompt ({len(prompt)} tokens) + {max_new_tokens} new tokens exceed the model's {bound} positions; "
            f"ask for at most {bound - len(prompt) + 1} new tokens"
        )
    rng = np.random.default_rng(sampling.seed)
    decoder.reset()
    logits = decoder.feed(list(prompt))
    for i in range(max_new_tokens):
        token = pick(logits, sampling, rng)
        yield token
        if i + 1 < max_new_tokens:
            logits = decoder.feed([token])


def _windowed(decoder: Decoder, ids: list[int], count: int, sampling: Sampling, context: int) -> Iterator[int]:
    """:func:`generate` over a sliding window of ``context`` positions (see there)."""
    if decoder.bound is not None and context > decoder.bound:
        raise ValueError(f"context {context} exceeds the model's {decoder.bound} positions")
    if context < 2:
        raise ValueError(f"context must be at least 2, got {context}")
    rng = np.random.default_rng(sampling.seed)
    decoder.reset()
    held = ids[-context:]
    logits = decoder.feed(held)
    for i in range(count):
        token = pick(logits, sampling, rng)
        yield token
        if i + 1 == count:
            break
        held.append(token)
        if len(held) > context:
            held = held[-(context // 2) :]
            decoder.reset()
            logits = decoder.feed(held)
        else:
            logits = decoder.feed([token])


def _layout(text: str | None) -> dict[str, Any]:
    if not text:
        raise ValueError(
            "the model has no `ncdl.decoding` metadata: export its step graph with `ncdl export --decoding`"
        )
    return json.loads(text)


class OrtDecoder:
    """An ONNX step graph in onnxruntime (see module doc).

    Args:
        model: a path to the ``.onnx`` file, its bytes or an ``onnx.ModelProto``.
        threads: onnxruntime's intra-op threads (default: its own choice).
        providers: execution providers (default: CPU).
    """

    def __init__(self, model: Any, threads: int | None = None, providers: list[str] | None = None) -> None:
        import onnxruntime as ort

        if hasattr(model, "SerializeToString"):
            model = model.SerializeToString()
        elif not isinstance(model, bytes):
            model = os.fspath(model)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(model, options, providers=providers or ["CPUExecutionProvider"])
        meta = self.session.get_modelmeta().custom_metadata_map
        self.layout = _layout(meta.get("ncdl.decoding"))
        self.metadata: dict[str, str] = dict(meta)
        self.bound: int | None = self.layout.get("bound")
        inputs = {arg.name: arg for arg in self.session.get_inputs()}
        self._tokens = next(name for name in inputs if name != self.layout["offset"] and not name.startswith("past_"))
        self._float = {
            "tensor(float)": np.float32,
            "tensor(float16)": np.float16,
        }.get(inputs[self.layout["layers"][0]["past_key"]].type, np.float32)
        self._outputs = [arg.name for arg in self.session.get_outputs()]
        self.reset()

    def reset(self) -> None:
        """An empty cache (``past_seq`` = 0)."""
        self._offset = 0
        self._past: dict[str, np.ndarray] = {}
        for layer in self.layout["layers"]:
            for which in ("key", "value"):
                shape = [0 if a == self.layout["past"] else self.layout["sizes"].get(a, 1) for a in layer[which]]
                self._past[layer[f"past_{which}"]] = np.zeros(shape, self._float)

    def feed(self, tokens: Sequence[int]) -> np.ndarray:
        """Run ``tokens`` (batch 1) after the cached ones; the last position's logits."""
        feeds = {
            self._tokens: np.asarray([list(tokens)], dtype=np.int64),
            self.layout["offset"]: np.asarray(self._offset, dtype=np.int64),
            **self._past,
        }
        out = dict(zip(self._outputs, self.session.run(self._outputs, feeds), strict=True))
        for layer in self.layout["layers"]:
            for which in ("key", "value"):
                self._past[layer[f"past_{which}"]] = out[layer[f"present_{which}"]]
        self._offset += len(tokens)
        return np.asarray(out[self._outputs[0]])[0, -1].astype(np.float32)


class TorchDecoder:
    """The torch step module with a preallocated cache (see module doc).

    Args:
        step: the module from :func:`ncdl.compiler.fx.decoding.lower_fx_step`.
        layout: its layout (the second result of that function).
        capacity: cache positions to preallocate (default: the sequence's bound, else 256); a longer sequence
            moves the cache to a buffer twice as large.
    """

    def __init__(self, step: Any, layout: dict[str, Any], capacity: int | None = None) -> None:
        import torch

        self.step, self.layout = step, layout
        self.bound: int | None = layout.get("bound")
        cap = capacity or self.bound or 256
        weight = next(iter(step.parameters()), None)
        dtype = weight.dtype if weight is not None else torch.float32
        device = weight.device if weight is not None else None
        self._buffers = []
        for layer in layout["layers"]:
            for which in ("key", "value"):
                axes = layer[which]
                shape = [cap if a == layout["past"] else layout["sizes"].get(a, 1) for a in axes]
                self._buffers.append((torch.zeros(shape, dtype=dtype, device=device), axes.index(layout["past"])))
        self._device = device
        self.reset()

    def reset(self) -> None:
        """An empty cache (the buffers stay allocated)."""
        self._offset = 0

    def feed(self, tokens: Sequence[int]) -> np.ndarray:
        """Run ``tokens`` (batch 1) after the cached ones; the last position's logits."""
        import torch

        n = self._offset
        if n + len(tokens) > self._buffers[0][0].shape[self._buffers[0][1]]:
            self._grow(n + len(tokens))
        past = [buf.narrow(dim, 0, n) for buf, dim in self._buffers]
        with torch.inference_mode():
            ids = torch.tensor([list(tokens)], dtype=torch.int64, device=self._device)
            out = self.step(ids, torch.tensor(n, device=self._device), *past)
            for (buf, dim), present in zip(self._buffers, out[1:], strict=True):
                if present.data_ptr() != buf.data_ptr():  # the module concatenated: keep the cache in the buffer
                    buf.narrow(dim, 0, present.shape[dim]).copy_(present)
        self._offset += len(tokens)
        return out[0][0, -1].float().cpu().numpy()

    def _grow(self, needed: int) -> None:
        """Move the cache to buffers of at least ``needed`` positions (twice the old size or more)."""
        import torch

        grown = []
        for buf, dim in self._buffers:
            shape = list(buf.shape)
            shape[dim] = max(needed, 2 * shape[dim])
            bigger = torch.zeros(shape, dtype=buf.dtype, device=buf.device)
            bigger.narrow(dim, 0, self._offset).copy_(buf.narrow(dim, 0, self._offset))
            grown.append((bigger, dim))
        self._buffers = grown
