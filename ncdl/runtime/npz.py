"""What an ``.npz`` file holds, read from its array headers before any array is unpacked.

An ``.npz`` is a zip of ``.npy`` files; each starts with a header giving its
shape and dtype. A few megabytes of zeros compressed can unpack to
gigabytes, so ``ncdl run`` reads the headers first (:func:`placeholders`),
bounds the bytes they declare and checks them against the model's inputs,
and only then unpacks the arrays.

Example::

    >>> import io, numpy as np
    >>> buf = io.BytesIO(); np.savez_compressed(buf, x=np.zeros((1000, 1000), np.float32)); _ = buf.seek(0)
    >>> arrays = placeholders(np.load(buf))
    >>> arrays["x"].shape, arrays["x"].dtype, arrays["x"].nbytes
    ((1000, 1000), dtype('float32'), 4000000)
"""

from __future__ import annotations

from typing import Any

import numpy as np


def placeholders(npz: Any) -> dict[str, np.ndarray]:
    """Name -> a zero array of the declared shape and dtype that takes no memory (every
    element is the one same zero), for each array of an opened ``np.load`` of an ``.npz``.

    Raises:
        ValueError: a header that cannot be read, or an object dtype (it would need pickle).
    """
    out: dict[str, np.ndarray] = {}
    for name in npz.files:
        with npz.zip.open(f"{name}.npy") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(f)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(f)
        if dtype.hasobject:
            raise ValueError("Object arrays cannot be loaded when allow_pickle=False")  # numpy's own words
        out[name] = np.lib.stride_tricks.as_strided(np.zeros(1, dtype), shape, (0,) * len(shape), writeable=False)
    return out
