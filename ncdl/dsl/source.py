"""Reading source files safely: size, encoding and nesting limits.

Hostile input (random bytes, huge files, deep nesting) gets a diagnostic
before the parser sees it, so parsing never hangs or exhausts the stack.
"""

from __future__ import annotations

import os
import re
import stat

from ncdl.dsl.diagnostics import Diagnostic, NcdlError, Span

#: Largest source file accepted, in bytes.
MAX_FILE_BYTES = 8 * 1024 * 1024
#: Deepest nesting of ( [ { accepted.
MAX_NESTING = 64

# Comments and strings are matched whole so that brackets inside them are skipped.
_BRACKETS = re.compile(r'#[^\n]*|"[^"\n]*"?|[()\[\]{}]')


def normalize(text: str) -> str:
    """``text`` without a leading UTF-8 byte-order mark and with ``\n`` for every line end (``\r\n``, ``\r``)."""
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def lines(text: str) -> list[str]:
    """The source lines of normalised ``text``, split as the lexer counts them (only at ``\n``;
    ``str.splitlines`` also splits at form feeds and other separators, shifting line numbers)."""
    return text.split("\n")


def read_source(path: str) -> str:
    """Read a ``.ncd`` file as UTF-8 text, or raise NcdlError saying why not.

    Only a regular file is read: a FIFO or a device would block or never end.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode) and not stat.S_ISDIR(os.fstat(fh.fileno()).st_mode):
                raise NcdlError([Diagnostic("E002", f"{path} is not a regular file", None, "give a .ncd file")])
            data = fh.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise NcdlError([Diagnostic("E002", f"no such file: {path}", None, "check the path")]) from None
    except IsADirectoryError:
        raise NcdlError([Diagnostic("E002", f"{path} is a directory, not a .ncd file", None)]) from None
    except OSError as err:
        raise NcdlError([Diagnostic("E002", f"cannot read {path}: {err.strerror}", None)]) from None
    return decode_source(data, path)


def decode_source(data: bytes, path: str) -> str:
    """Decode bytes as UTF-8 with a located diagnostic for bad bytes."""
    if len(data) > MAX_FILE_BYTES:
        raise NcdlError(
            [
                Diagnostic(
                    "E003",
                    f"file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB",
                    Span(path, 1, 1, 1, 1),
                    "split the architecture into files joined with `use`",
                )
            ]
        )
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]  # a byte-order mark some editors write
    try:
        return normalize(data.decode("utf-8"))
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        col = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        source = data.split(b"\n")[line - 1].decode("utf-8", "replace")
        span = Span(path, line, col, line, col + 1)
        message = f"the file is not UTF-8 text (byte 0x{data[err.start]:02x})"
        raise NcdlError([Diagnostic("E004", message, span, "save the file as UTF-8", source)]) from None


def check_text(text: str, path: str) -> None:
    """Reject NUL bytes, oversize text and nesting deeper than :data:`MAX_NESTING`."""
    if len(text) > MAX_FILE_BYTES:
        decode_source(text.encode("utf-8", "replace"), path)
    if not text.strip():
        raise NcdlError(
            [
                Diagnostic(
                    "E006",
                    "the file is empty",
                    Span(path, 1, 1, 1, 1),
                    "declare axes and a model: see docs/language.md",
                    "",
                )
            ]
        )
    nul = text.find("\0")
    if nul >= 0:
        raise NcdlError([_at(text, path, nul, "E004", "the file contains a NUL byte", "a .ncd file is plain text")])
    depth = 0
    for match in _BRACKETS.finditer(text):
        ch = match.group()
        if ch in "([{":
            depth += 1
            if depth > MAX_NESTING:
                message = f"nesting deeper than {MAX_NESTING} levels"
                raise NcdlError([_at(text, path, match.start(), "E005", message, "name intermediate values with `=`")])
        elif ch in ")]}":
            depth = max(0, depth - 1)


def _at(text: str, path: str, offset: int, code: str, message: str, hint: str) -> Diagnostic:
    line = text.count("\n", 0, offset) + 1
    start = text.rfind("\n", 0, offset) + 1
    end = text.find("\n", offset)
    source = text[start : end if end >= 0 else len(text)].replace("\0", " ")
    col = offset - start + 1
    return Diagnostic(code, message, Span(path, line, col, line, col + 1), hint, source)
