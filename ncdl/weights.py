"""Copying trained weights from a torch ``state_dict`` into a compiled ncdl module.

Weights are matched by name: an ncdl parameter ``blocks.0.attn.q.weight``
reads the source tensor of the same name unless ``mapping`` says otherwise.
A source tensor whose element count matches is reshaped, so torch.nn's flat
``[out, in]`` weights load into ncdl's axis-shaped ones (``linear[model ->
heads head]`` stores ``[heads, head, model]``). This module imports torch;
nothing else in ncdl's front end depends on it. The bundled architectures
carry their references' own names (nanoGPT's fused ``c_attn``,
``nn.MultiheadAttention``'s ``in_proj_weight``), so their checkpoints load with
``module.load_state_dict`` and need no mapping; this loader is for sources
that fuse or rename tensors where an ncdl program keeps them apart, such as
``nn.MultiheadAttention`` into attention.ncd's ``MultiHeadAttention`` (the
paper's, with separate q, k, v and its output ``o``).

Example:
    >>> mha = torch.nn.MultiheadAttention(128, 4, bias=False, batch_first=True)
    >>> load_torch_state_dict(gm, mha.state_dict(), {
    ...     "attn.q.weight": ("in_proj_weight", 0, 3),   # first third of the rows
    ...     "attn.k.weight": ("in_proj_weight", 1, 3),
    ...     "attn.v.weight": ("in_proj_weight", 2, 3),
    ...     "attn.o": "out_proj",                         # attn.o.weight <- out_proj.weight
    ... })
"""

from __future__ import annotations

import pickle
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path

import torch

__all__ = ["Source", "load_file", "load_torch_state_dict"]

#: Where one ncdl tensor comes from: a source name; ``(name, i, n)``, the
#: i-th of n equal chunks of that tensor along its first dimension (a fused
#: q/k/v projection); or a function of the whole source state dict.
Source = str | tuple[str, int, int] | Callable[[Mapping[str, torch.Tensor]], torch.Tensor]


def load_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from a file: ``.safetensors`` (the format checkpoints ship in,
    read with the ``safetensors`` package) or a ``torch.save`` file of plain tensors
    (read with ``weights_only=True``, so a file that would run code is refused).

    The result goes to ``module.load_state_dict(...)``, ``program.to_onnx(state_dict=...)``
    or :func:`load_torch_state_dict`; torch.nn's flat shapes are accepted by all three.

    Raises:
        ValueError: the file is missing, unreadable, or not a plain state dict (one line, no traceback needed).
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file as read_safetensors
        except ImportError:
            raise ValueError(
                "reading .safetensors needs the safetensors package: pip install 'ncdl[weights]'"
            ) from None
        try:
            return dict(read_safetensors(str(path), device="cpu"))
        except Exception as err:  # noqa: BLE001 - any unreadable file is the caller's input
            raise ValueError(f"cannot read weights ({type(err).__name__}: {_first_line(err)})") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # weights_only refused it: the file would run code or is no state_dict
        raise ValueError(
            "refused: not a plain state_dict of tensors (save one with torch.save(module.state_dict(), path))"
        ) from None
    except Exception as err:  # noqa: BLE001 - any unreadable file is the caller's input
        raise ValueError(f"cannot read weights ({type(err).__name__}: {_first_line(err)})") from None
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(
            "refused: not a plain state_dict of tensors (save one with torch.save(module.state_dict(), path))"
        )
    for name, value in state.items():
        if not isinstance(name, str):
            raise ValueError(f"refused: the key {name!r} is not a parameter name")
        if value.layout != torch.strided:
            raise ValueError(f"refused: `{name}` is a sparse tensor; save dense ones (tensor.to_dense())")
        if value.is_meta:
            raise ValueError(f"refused: `{name}` is a meta tensor, which holds no values")
    return dict(state)


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else ""


def load_torch_state_dict(
    module: torch.nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    mapping: Mapping[str, Source] | Callable[[str], Source | None] | None = None,
    *,
    strict: bool = True,
) -> list[str]:
    """Copy ``state_dict``'s tensors into ``module``'s parameters and buffers.

    Args:
        module: a module from ``program.to_torch()`` (or any ``nn.Module``).
        state_dict: the source tensors, e.g. a torch.nn module's ``state_dict()``.
        mapping: where names differ. A dict maps an ncdl name to a :data:`Source`;
            a key may also be a name *prefix* ending at a dot boundary, mapped to
            the source prefix that replaces it (``{"encoder": "model.encoder"}``;
            ``""`` drops the prefix); the longest matching key wins. A function
            gets each ncdl name and returns a Source, or None for the same name.
        strict: raise when an ncdl tensor has no source (tied copies of a loaded
            tensor are exempt); otherwise leave it as it is.

    Returns:
        The source names that were never read (torch's "unexpected keys").

    Raises:
        KeyError: a tensor has no source (with ``strict``).
        ValueError: a source tensor's element count differs from the target's.
    """
    targets = module.state_dict(keep_vars=True)
    used: set[str] = set()
    filled: set[int] = set()
    for name, target in targets.items():
        source = _source_of(name, mapping)
        tensor = _fetch(source, state_dict, used)
        if tensor is None:
            if id(target) in filled or not strict:
                continue
            raise KeyError(f"no source tensor for '{name}' (looked for {_describe(source)}); add it to `mapping`")
        if tensor.numel() != target.numel():
            raise ValueError(
                f"'{name}' has shape {list(target.shape)} but its source {_describe(source)} "
                f"has shape {list(tensor.shape)}"
            )
        with torch.no_grad():
            target.copy_(tensor.reshape(target.shape).to(target.dtype))
        filled.add(id(target))
    return [k for k in state_dict if k not in used]


def _source_of(name: str, mapping: Mapping[str, Source] | Callable[[str], Source | None] | None) -> Source:
    if mapping is None:
        return name
    if callable(mapping) and not isinstance(mapping, Mapping):
        found = mapping(name)
        return name if found is None else found
    if name in mapping:
        return mapping[name]
    best = None
    for key in mapping:
        if (key == "" or name.startswith(key + ".")) and (best is None or len(key) > len(best)):
            best = key
    if best is None:
        return name
    prefix = mapping[best]
    if not isinstance(prefix, str):
        raise ValueError(f"mapping entry '{best}' is a prefix of '{name}', so it must map to a name prefix")
    rest = name[len(best) + 1 :] if best else name
    return f"{prefix}.{rest}" if prefix else rest


def _fetch(source: Source, state_dict: Mapping[str, torch.Tensor], used: set[str]) -> torch.Tensor | None:
    if isinstance(source, str):
        if source not in state_dict:
            return None
        used.add(source)
        return state_dict[source]
    if isinstance(source, tuple):
        key, index, count = source
        if key not in state_dict:
            return None
        used.add(key)
        return state_dict[key].chunk(count, dim=0)[index]
    return source(_Recording(state_dict, used))


class _Recording(Mapping[str, torch.Tensor]):
    """A read-only view of a state dict that notes which names a mapping function reads."""

    def __init__(self, state_dict: Mapping[str, torch.Tensor], used: set[str]) -> None:
        self._sd, self._used = state_dict, used

    def __getitem__(self, key: str) -> torch.Tensor:
        value = self._sd[key]
        self._used.add(key)
        return value

    def __iter__(self):  # noqa: ANN204
        return iter(self._sd)

    def __len__(self) -> int:
        return len(self._sd)


def _describe(source: Source) -> str:
    if isinstance(source, str):
        return f"'{source}'"
    if isinstance(source, tuple):
        return f"chunk {source[1]} of {source[2]} of '{source[0]}'"
    return "a mapping function"
