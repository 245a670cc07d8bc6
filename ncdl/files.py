"""Writing files atomically: every file ncdl writes goes through here.

The data goes to a temporary file beside the target, is flushed to disk, and
is renamed over the target, so a failure leaves any earlier file untouched
and never a half-written one. :func:`save_onnx` does the same for an ONNX
model (and its external-data file); it lives here, below the compiler and
the runtime, because both save models. A file gets the mode any other tool
would give it: 0666 less the umask (0644 under the usual umask 022), not the
0600 of a temporary file.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import onnx

#: Models whose tensors exceed this many bytes are saved with external data (protobuf's limit is 2 GiB).
EXTERNAL_DATA_BYTES = 2**31 - 2**26


class UnsafeTarget(ValueError):
    """An output path that is not a regular file or a new name; one line, e.g.::

    cannot write /dev/null: it is a device, not a regular file
    """


def check_target(path: str | Path) -> None:
    """Refuse to write over anything but a regular file (or a new name).

    The write is a rename over the target, which would replace a device node,
    a FIFO or a socket with a plain file (as root, ``-o /dev/null`` would
    replace the real one) and would replace a symbolic link instead of
    following it; so those are refused.
    """
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise UnsafeTarget(f"cannot write {path}: {exc.strerror or exc}") from None
    if stat.S_ISLNK(mode):
        raise UnsafeTarget(f"cannot write {path}: it is a symbolic link; give the path it points to")
    if stat.S_ISDIR(mode):
        raise UnsafeTarget(f"cannot write {path}: it is a folder")
    if not stat.S_ISREG(mode):
        kind = (
            "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "a socket"
        )
        raise UnsafeTarget(f"cannot write {path}: it is {kind}, not a regular file")


def write_atomic(path: str | Path, data: bytes | str) -> None:
    """Write ``data`` (text is UTF-8 encoded) to ``path`` via a temporary file and a rename.

    Raises:
        UnsafeTarget: ``path`` is a device, FIFO, socket, symbolic link or folder.
        OSError: the write failed; its ``filename`` is ``path``, never the temporary file.
    """
    path = Path(path)
    check_target(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _about(exc, path) from None
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        os.unlink(tmp)
        raise _about(exc, path) from None
    except BaseException:
        os.unlink(tmp)
        raise


def _about(exc: OSError, path: Path) -> OSError:
    """``exc`` naming the target ``path`` (not the temporary file, nor nothing: a full disk names no file)."""
    return OSError(exc.errno, exc.strerror or str(exc), str(path))


def tensor_bytes(model: onnx.ModelProto) -> int:
    """The bytes held by the model's initializers and constants."""
    total = sum(t.ByteSize() for t in model.graph.initializer)
    for node in model.graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                total += attr.t.ByteSize()
    return total


def save_onnx(model: onnx.ModelProto, path: str | os.PathLike[str]) -> None:
    """Write ``model`` to ``path`` atomically.

    The model is written to a temporary file in the same directory and moved
    over ``path`` with ``os.replace``, so a failed write leaves any old file
    intact. Models over 2 GB keep their tensors in ``<name>.data`` next to it
    (ONNX external data), moved into place first.
    """
    import onnx  # only writers of ONNX files pay for the import

    path = Path(path)
    check_target(path)
    directory = path.parent if str(path.parent) else Path(".")
    try:
        staging = Path(tempfile.mkdtemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp"))
    except OSError as exc:
        raise _about(exc, path) from None
    try:
        staged = staging / path.name
        if tensor_bytes(model) > EXTERNAL_DATA_BYTES:
            copy = onnx.ModelProto()
            copy.CopyFrom(model)  # conversion to external data rewrites the tensors in place
            data_name = path.name + ".data"
            check_target(directory / data_name)
            onnx.save_model(
                copy,
                staged,
                save_as_external_data=True,
                all_tensors_to_one_file=True,
                location=data_name,
                size_threshold=0,
            )
            os.replace(staging / data_name, directory / data_name)
        else:
            onnx.save_model(model, staged)
        os.replace(staged, path)
    except OSError as exc:
        raise _about(exc, path) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _umask() -> int:
    """The process umask (read by setting it and setting it back: there is no getter)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
