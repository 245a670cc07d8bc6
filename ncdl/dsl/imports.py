"""``use "file.ncd"``: finding, reading and ordering the files a program imports.

A path resolves relative to the importing file, then in the bundled library
(``ncdl/architectures``). A path that leaves the project (absolute, or with
``..`` climbing out of the top-level file's folder) is refused unless the
caller allows its folder explicitly.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from ncdl.dsl import ast
from ncdl.dsl.diagnostics import Diagnostic, NcdlError
from ncdl.dsl.parse import parse
from ncdl.dsl.source import lines, normalize, read_source

#: The standard library of architectures, written in ncdl.
LIBRARY = Path(__file__).resolve().parent.parent / "architectures"
MAX_IMPORT_DEPTH = 32


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
        return True
    except ValueError:
        return False


def load_modules(
    text: str, file: str, allow_paths: tuple[str, ...] = ()
) -> tuple[list[ast.Module], dict[str, list[str]]]:
    """Parse ``text`` and everything it imports; modules come imports-first.

    Returns the modules and each file's source lines (for diagnostics).
    Raises NcdlError listing every import problem.
    """
    text = normalize(text)
    sources: dict[str, list[str]] = {file: lines(text)}
    root_dir = Path(file).resolve().parent if not file.startswith("<") else Path.cwd().resolve()
    allowed = [root_dir, LIBRARY] + [Path(p).resolve() for p in allow_paths]
    diagnostics: list[Diagnostic] = []
    ordered: list[ast.Module] = []
    done: dict[str, ast.Module] = {}

    def visit(module: ast.Module, key: str, stack: list[str]) -> None:
        base = Path(key).parent  # the file's real folder: a library file's imports resolve in the library
        for use in module.uses:
            line = sources[module.file][use.span.line - 1] if use.span.line <= len(sources[module.file]) else None
            target = _resolve(use.path, base)
            pointed = _naive(use.path, base)
            if target is None and pointed is not None and not any(_inside(pointed, f) for f in allowed):
                target = pointed  # refused whether or not it exists: no probing outside the project
            if target is None:
                diagnostics.append(
                    Diagnostic(
                        "E170",
                        f"cannot find '{use.path}'",
                        use.span,
                        f"looked next to {module.file} and in the bundled library",
                        line,
                    )
                )
                continue
            if not any(_inside(target, folder) for folder in allowed):
                diagnostics.append(
                    Diagnostic(
                        "E171",
                        f"`use` path '{use.path}' leaves the project folder",
                        use.span,
                        f"imports resolve inside {root_dir} and the bundled library; pass --allow-path {target.parent} to allow it",
                        line,
                    )
                )
                continue
            tkey = str(target)
            if tkey in stack:
                cycle = " -> ".join(Path(s).name for s in stack[stack.index(tkey) :] + [tkey])
                diagnostics.append(
                    Diagnostic(
                        "E172", f"import cycle: {cycle}", use.span, "move the shared circuits into a third file", line
                    )
                )
                continue
            if tkey in done:
                continue
            if len(stack) >= MAX_IMPORT_DEPTH:
                diagnostics.append(
                    Diagnostic("E173", f"imports nest deeper than {MAX_IMPORT_DEPTH} files", use.span, None, line)
                )
                continue
            shown = os.path.relpath(tkey) if not _inside(target, LIBRARY) else f"<ncdl>/{target.name}"
            try:
                child_text = read_source(tkey)
                sources[shown] = lines(child_text)
                child = parse(child_text, shown)
            except NcdlError as err:  # a file-level problem (unreadable, too big) is reported at the `use`
                diagnostics.extend(
                    replace(d, span=use.span, source_line=line) if d.code in ("E002", "E003") else d
                    for d in err.diagnostics
                )
                continue
            child.file = shown
            child_key_stack = stack + [tkey]
            visit(child, tkey, child_key_stack)
            done[tkey] = child
            ordered.append(child)

    root = parse(text, file)
    visit(root, str(Path(file).resolve()), [str(Path(file).resolve())])
    if diagnostics:
        raise NcdlError(diagnostics)
    ordered.append(root)
    return ordered, sources


def _naive(path: str, base: Path) -> Path | None:
    """Where ``use "path"`` points from ``base``, symlinks followed, existing or not
    (None for a name the system cannot resolve: a symlink loop, a name too long)."""
    try:
        return (base / path).resolve()
    except (OSError, RuntimeError, ValueError):
        return None


def _resolve(path: str, base: Path) -> Path | None:
    """The file ``use "path"`` means, or None when there is none."""
    candidate = Path(path)
    for folder in (base,) if candidate.is_absolute() else (base, LIBRARY):
        full = _naive(path, folder)
        try:
            if full is not None and full.is_file():
                return full
        except OSError:  # a name too long or otherwise unusable: not a file
            continue
    return None
