"""`ncdl check` and `ncdl ir`: what they print, and that they stay light."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ncdl import ir
from ncdl.cli import main

PROGRAMS = Path(__file__).parent / "programs"


def test_check_prints_signature_axes_and_parameters(capsys) -> None:
    assert main(["check", str(PROGRAMS / "gpt.ncd")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "model GPT(tokens: int[batch, seq] of vocab) -> [batch, seq, vocab]"
    assert "  seq     free, <= 256" in out
    assert "  key     free (seq), <= 256" in out
    assert "  blocks.0.attn.q.weight     [heads, head, model]  4x32x128" in out
    assert "  head.weight                [vocab, model]  65x128  (tied to tok.weight)" in out
    assert out[-1] == "total: 832,896 parameters in 56 tensors"


def test_check_reports_diagnostics_with_exit_code_1(tmp_path, capsys) -> None:
    bad = tmp_path / "bad.ncd"
    bad.write_text("axis n = 4\nmodel M(x: [n]) -> [n] { return relu(y) }\n")
    assert main(["check", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{bad}:2:38: error[E102]: unknown value 'y'")
    assert "Traceback" not in err


def test_check_does_not_import_torch_or_onnx() -> None:
    code = (
        "import sys, ncdl.cli; rc = ncdl.cli.main(['check', sys.argv[1]]); "
        "assert rc == 0; assert 'torch' not in sys.modules and 'onnx' not in sys.modules, 'heavy import'"
    )
    done = subprocess.run([sys.executable, "-c", code, str(PROGRAMS / "gpt.ncd")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_ir_json_loads_back_into_the_same_graph(tmp_path, capsys) -> None:
    out = tmp_path / "gpt.json"
    assert main(["ir", str(PROGRAMS / "gpt.ncd"), "--json", "-o", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["format"] == "ncdl-ir" and data["version"] == 1
    g = ir.from_json(data)
    ir.verify(g)
    assert ir.dumps(g) == out.read_text().strip()
    assert ir.param_count(g) == 832_896
