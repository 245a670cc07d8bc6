"""Data shipped with ncdl: an original English-like text for character models.

``circuits.txt`` (about 150 KB, 65 distinct characters: the bundled GPT's
``vocab``) is written by :mod:`ncdl.demo.data.make_corpus` from a small
hand-written grammar with a fixed seed.

Example:
    >>> from ncdl.demo import data
    >>> text = data.text()
    >>> round(data.unigram_entropy(text), 2)  # nats per character
    3.13
"""

from __future__ import annotations

import math
from collections import Counter
from importlib import resources

__all__ = ["CORPUS", "text", "unigram_entropy"]

#: The file name of the shipped text inside this package.
CORPUS = "circuits.txt"


def text() -> str:
    """The shipped training text (``circuits.txt``) as a string."""
    return resources.files(__name__).joinpath(CORPUS).read_text(encoding="ascii")


def unigram_entropy(text: str) -> float:
    """The entropy of ``text``'s character frequencies, in nats per character.

    This is the loss of a model that knows how often each character occurs but
    nothing about context: a character model that learns anything beats it.
    """
    if not text:
        raise ValueError("cannot compute the entropy of an empty text")
    n = len(text)
    return -sum(c / n * math.log(c / n) for c in Counter(text).values())
