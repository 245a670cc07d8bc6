"""The standard library of architectures: ``.ncd`` files bundled with ncdl.

Library files (``attention``, ``transformer``, ``convnets``) hold generic
circuits and no models; the others import them with ``use "file.ncd"`` and
declare models. A ``use`` in any file also finds these files by name.

Example:
    >>> from ncdl import architectures
    >>> "gpt" in architectures.list_architectures()
    True
    >>> architectures.load("gpt").models
    ['GPT2Small', 'GPT2Medium', 'GPT']
"""

from __future__ import annotations

from pathlib import Path

from ncdl.dsl.diagnostics import did_you_mean
from ncdl.program import Program
from ncdl.program import load as _load_file

__all__ = ["FOLDER", "list_architectures", "load", "path"]

#: Where the bundled ``.ncd`` files live.
FOLDER = Path(__file__).resolve().parent


def list_architectures() -> list[str]:
    """The names of the bundled ``.ncd`` files (without the suffix), sorted."""
    return sorted(p.stem for p in FOLDER.glob("*.ncd"))


def path(name: str) -> Path:
    """The file of the bundled architecture ``name`` (``"gpt"`` or ``"gpt.ncd"``).

    Raises:
        ValueError: no bundled file has that name.
    """
    stem = name.removesuffix(".ncd")
    names = list_architectures()
    if stem not in names:
        hint = did_you_mean(stem, names) or f"bundled: {', '.join(names)}"
        raise ValueError(f"no bundled architecture '{name}'; {hint}")
    return FOLDER / f"{stem}.ncd"


def load(name: str) -> Program:
    """Parse and check the bundled architecture ``name`` (see :func:`ncdl.load`)."""
    return _load_file(path(name))
