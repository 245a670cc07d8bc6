"""The reserved instance names (``ncdl/dsl/torch_names.txt``) are exactly torch's module attributes.

The front end reads the names from a file so that it never imports torch; this
test imports torch and fails as soon as the installed version adds or drops an
attribute. Regenerate the file with ``python tools/torch_names.py``.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import torch
import torch.fx as fx

from ncdl.dsl.names import MODULE_ATTRIBUTES

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
import torch_names  # noqa: E402


def test_the_reserved_names_are_torchs_module_attributes() -> None:
    gm = fx.GraphModule(torch.nn.Module(), fx.Graph())
    actual = {n for n in set(dir(gm)) | set(vars(gm)) if not n.startswith("__")}
    assert MODULE_ATTRIBUTES == actual, "torch changed; run `python tools/torch_names.py`"


def test_every_plain_module_attribute_is_reserved() -> None:
    module = torch.nn.Module()
    assert {n for n in set(dir(module)) | set(vars(module)) if not n.startswith("__")} <= MODULE_ATTRIBUTES


def test_the_generator_writes_what_the_front_end_reads() -> None:
    assert set(torch_names.module_attributes()) == MODULE_ATTRIBUTES


def test_the_front_end_does_not_import_torch() -> None:
    for path in (Path(__file__).resolve().parents[2] / "ncdl" / "dsl").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                assert not any(a.name.split(".")[0] == "torch" for a in node.names), path.name
            if isinstance(node, ast.ImportFrom):
                assert (node.module or "").split(".")[0] != "torch", path.name
