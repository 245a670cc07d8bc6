"""The reserved instance names (``ncdl/dsl/torch_names.txt``) are exactly torch's module attributes.

The front end reads the names from a file so that it never imports torch; this
test asks torch and fails as soon as the installed version adds or drops an
attribute. Regenerate the file with ``python tools/torch_names.py``. Torch is
asked in a fresh interpreter: libraries imported by other tests patch
``nn.Module`` (transformers adds ``smart_apply``), which says nothing about torch.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

from ncdl.dsl.names import MODULE_ATTRIBUTES

TOOLS = Path(__file__).resolve().parents[2] / "tools"


def _in_fresh_torch(expression: str) -> set[str]:
    """The attribute names ``expression`` lists, in an interpreter that imported only torch (and tools/)."""
    code = (
        f"import json, sys; sys.path.insert(0, {str(TOOLS)!r}); import torch, torch.fx as fx, torch_names; "
        f"print(json.dumps(sorted({expression})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout))


def test_the_reserved_names_are_torchs_module_attributes() -> None:
    gm = "(lambda gm: {n for n in set(dir(gm)) | set(vars(gm)) if not n.startswith('__')})"
    actual = _in_fresh_torch(f"{gm}(fx.GraphModule(torch.nn.Module(), fx.Graph()))")
    assert MODULE_ATTRIBUTES == actual, "torch changed; run `python tools/torch_names.py`"


def test_every_plain_module_attribute_is_reserved() -> None:
    plain = "(lambda m: {n for n in set(dir(m)) | set(vars(m)) if not n.startswith('__')})(torch.nn.Module())"
    assert _in_fresh_torch(plain) <= MODULE_ATTRIBUTES


def test_the_generator_writes_what_the_front_end_reads() -> None:
    assert _in_fresh_torch("torch_names.module_attributes()") == MODULE_ATTRIBUTES


def test_the_front_end_does_not_import_torch() -> None:
    for path in (Path(__file__).resolve().parents[2] / "ncdl" / "dsl").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                assert not any(a.name.split(".")[0] == "torch" for a in node.names), path.name
            if isinstance(node, ast.ImportFrom):
                assert (node.module or "").split(".")[0] != "torch", path.name
