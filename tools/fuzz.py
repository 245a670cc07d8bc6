"""Fuzz the ncdl front end and backends for a fixed time; record every crash.

Usage::

    .venv/bin/python tools/fuzz.py --minutes 10 [--findings fuzz-findings] [--seed 0]

Three sources of input take turns, each in rounds of hypothesis examples:

* ``mutated``: the bundled architectures after random token-level edits;
* ``grammar``: random derivations of ``grammar.lark`` (mostly nonsense that lexes);
* ``valid``: programs that check by construction, which must check, compile
  to torch and ONNX, and agree numerically (fp32, 1e-4).

A crash is anything but a Program or an ``ncdl.NcdlError`` with located
diagnostics: another exception, a run over 5 s, a RecursionError or
MemoryError, a valid program rejected, or a torch/ONNX mismatch. Each unique
crash (by kind and the innermost ncdl frame) is written to the findings
folder as ``<id>.ncd`` (the input) and ``<id>.txt`` (what happened), and the
statistics are printed at the end (and saved as ``stats.json``). The exit
code is 1 when anything new was found.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "robustness"))

import hypothesis  # noqa: E402
import ncd_fuzz  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402

import ncdl  # noqa: E402

HANG_SECONDS = 5.0
ROUND = 100


class Campaign:
    """Counts outcomes and writes unique crashes to ``findings``."""

    def __init__(self, findings: Path, stop_at: float) -> None:
        self.findings = findings
        self.stop_at = stop_at
        self.outcomes: Counter[str] = Counter()
        self.signatures: dict[str, str] = {}
        findings.mkdir(parents=True, exist_ok=True)
        for old in findings.glob("*.txt"):
            self.signatures[old.read_text(encoding="utf-8").splitlines()[0]] = old.stem

    def record(self, source: str, text: str, exc: BaseException) -> None:
        """Save ``text`` and the exception unless this crash was seen before."""
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/ncdl/" in f.filename]
        where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"
        detail = str(exc).splitlines()[0][:80] if isinstance(exc, AssertionError) else ""
        signature = f"{source} {type(exc).__name__} at {where} {detail}".strip()
        self.outcomes[f"{source}:crash"] += 1
        if signature in self.signatures:
            return
        ident = hashlib.sha256(signature.encode()).hexdigest()[:12]
        self.signatures[signature] = ident
        (self.findings / f"{ident}.ncd").write_text(text, encoding="utf-8")
        report = "".join(traceback.format_exception(exc))
        (self.findings / f"{ident}.txt").write_text(f"{signature}\n\n{report}", encoding="utf-8")
        print(f"NEW  {signature}  -> {self.findings / ident}.ncd", flush=True)

    def run_text(self, source: str, path: str, text: str, parity: bool) -> None:
        """One example: check (and compare backends); count or record the outcome."""
        if time.monotonic() > self.stop_at:
            return
        try:
            if parity:
                with ncd_fuzz.deadline(HANG_SECONDS):
                    program = ncdl.loads(text, path)  # a valid program must check
            else:
                program = ncd_fuzz.check_outcome(text, path, HANG_SECONDS)
            if program is None:
                self.outcomes[f"{source}:diagnostic"] += 1
                return
            with ncd_fuzz.deadline(60):
                ncd_fuzz.exercise(program)
            if parity:
                with ncd_fuzz.deadline(60):
                    ncd_fuzz.assert_parity(program)
            elif program.models and ncd_fuzz.small_enough(program):
                source = f"{source}-parity"
                with ncd_fuzz.deadline(60):
                    ncd_fuzz.assert_parity(program, free=8)
            self.outcomes[f"{source}:ok"] += 1
        except Exception as exc:  # noqa: BLE001 - every other outcome (RecursionError, MemoryError, Hang) is a finding
            if isinstance(exc, ncdl.NcdlError):
                exc = AssertionError(
                    f"a valid program was rejected: {exc.diagnostics[0].code} {exc.diagnostics[0].message}"
                )
            self.record(source, text, exc)


def _round(campaign: Campaign, source: str, seed: int) -> None:
    common = settings(
        max_examples=ROUND,
        deadline=None,
        database=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
        phases=["generate"],
    )
    if source == "mutated":

        @common
        @given(ncd_fuzz.mutated_architectures())
        def body(case: tuple[str, str]) -> None:
            campaign.run_text(source, case[0], case[1], parity=False)

    elif source == "grammar":

        @common
        @given(ncd_fuzz.grammar_text(budget=80))
        def body(text: str) -> None:
            campaign.run_text(source, "grammar.ncd", text, parity=False)

    else:

        @common
        @given(ncd_fuzz.valid_programs(max_ops=10))
        def body(text: str) -> None:
            campaign.run_text(source, "valid.ncd", text, parity=True)

    hypothesis.seed(seed)(body)()  # a different stream each round


def main(argv: list[str] | None = None) -> int:
    """Run a campaign; exit 1 when it found something new."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="time budget (default 10)")
    parser.add_argument("--findings", default=str(ROOT / "fuzz-findings"), help="folder for crashes")
    parser.add_argument("--seed", type=int, default=int(time.time()), help="first round's seed")
    parser.add_argument("--sources", default="mutated,grammar,valid", help="comma-separated input sources")
    args = parser.parse_args(argv)
    start = time.monotonic()
    campaign = Campaign(Path(args.findings), start + args.minutes * 60)
    known = len(campaign.signatures)
    sources = args.sources.split(",")
    seed = args.seed
    while time.monotonic() < campaign.stop_at:
        for source in sources:
            _round(campaign, source, seed)
            seed += 1
    elapsed = time.monotonic() - start
    new = len(campaign.signatures) - known
    stats = {
        "seconds": round(elapsed, 1),
        "examples": sum(campaign.outcomes.values()),
        "outcomes": dict(sorted(campaign.outcomes.items())),
        "new_crashes": new,
        "known_crashes": known,
        "first_seed": args.seed,
        "last_seed": seed,
    }
    (Path(args.findings) / "stats.json").write_text(json.dumps(stats, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(stats, indent=1))
    return 1 if new else 0


if __name__ == "__main__":
    sys.exit(main())
