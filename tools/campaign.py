"""The generator campaign: seeded valid programs through every backend, outcomes classified.

Usage::

    .venv/bin/python tools/campaign.py --seeds 0:100000 --jobs 2 [--findings campaign-findings]
    .venv/bin/python tools/campaign.py --mode mistakes --seeds 0:20000 --jobs 2

Each seed gives one program (``tests/robustness/ncd_gen.py``; the same seed
always gives the same text). In ``valid`` mode every program is checked,
compiled to torch and run forward and backward, exported to ONNX (opsets 17,
20 and 23 in turn) and run in onnxruntime, at two sizes of each free axis;
the outputs must agree within 1e-4 relative. In ``mistakes`` mode each
program carries one injected mistake whose verdict is known, and the checker
must give it (``ncdl_mistakes``).

Outcomes:

* ``ok``: everything agreed; ``refused-input``: both backends refused a size
  with their one-line input error (the model does not run at that size);
* ``rejected``: the checker refused a generated program with a diagnostic (a
  generator limitation or an over-strict check: the first of each kind is
  saved for review, and the count is reported);
* findings, each saved as ``<kind>-<hash>.ncd`` (the program) and ``.txt``
  (seed, what happened) in the findings folder, once per signature:
  ``internal`` (an exception that is not an ``NcdlError``, anywhere before the
  run), ``crash`` (the worker process died), ``hang`` (no answer after 10 s),
  ``traceback`` (a raw exception when running inputs the model accepts),
  ``disagree`` (torch and onnxruntime differ, or only one of them refuses an
  input), ``silent`` (mistakes mode: a mistake accepted without its verdict).

Every program runs in a worker process (``--jobs`` of them, one thread each),
so a crash or a hang costs one worker, which is restarted. The summary
(counts by outcome and feature, seeds, programs per second) is printed and
saved as ``summary.json``; the exit code is 1 when there is any finding.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
import traceback
from collections import Counter
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "robustness"))

HANG_SECONDS = 10.0
TOLERANCE = 1e-4
FINDINGS = ("internal", "crash", "hang", "traceback", "disagree", "silent")


# ---- one program, inside a worker -----------------------------------------------


class Finding(Exception):
    """An outcome that is a bug: ``kind`` is one of :data:`FINDINGS`."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


def _where(exc: BaseException) -> str:
    """The innermost ncdl frame of ``exc`` (file:line), for a finding's signature."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/ncdl/" in f.filename]
    return f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"


def _internal(stage: str, exc: BaseException) -> Finding:
    text = "".join(traceback.format_exception(exc))
    message = str(exc).splitlines()[0][:160] if str(exc) else ""
    return Finding("internal", f"{stage}: {type(exc).__name__} at {_where(exc)}: {message}\n\n{text}")


def _feeds(graph: Any, run: dict[str, int], seed: int) -> dict[str, Any]:
    """Random inputs for ``graph`` with its free axes at the sizes of ``run``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    sizes = {root: run[root] for root in graph.graph["bindings"] if root in run}
    out = {}
    for node in graph.graph["inputs"]:
        data = graph.nodes[node]
        shape = []
        for a in data["axes"]:
            axis = graph.graph["axes"][a]
            shape.append(axis.fixed if axis.fixed is not None else int(axis.size.evaluate(sizes)))
        name = data["attrs"]["name"]
        if data["dtype"] == "bool":
            out[name] = rng.random(shape) < 0.7
        elif data["dtype"] == "int64":
            of = graph.graph["axes"][data["attrs"]["of"]]
            high = of.fixed if of.fixed is not None else int(of.size.evaluate(sizes))
            out[name] = rng.integers(0, max(1, high), size=shape).astype(np.int64)
        else:
            out[name] = rng.standard_normal(shape).astype(np.float32)
    return out


def _torch_run(module: Any, inputs: dict[str, Any]) -> tuple[Any, ...] | str:
    """Forward in eval mode: the outputs, or the input error's text."""
    import torch

    from ncdl.compiler.fx.runtime import InputShapeError

    try:
        with torch.no_grad():
            got = module(*(torch.from_numpy(v) for v in inputs.values()))
    except InputShapeError as exc:
        return f"refused: {exc}"
    except Exception as exc:  # noqa: BLE001 - any other exception is the finding
        raise Finding("traceback", f"torch forward: {type(exc).__name__} at {_where(exc)}: {exc}") from exc
    return got if isinstance(got, tuple) else (got,)


def _rounding_run(module: Any, inputs: dict[str, Any], seed: int) -> tuple[Any, ...]:
    """Forward with every intermediate float32 result moved by about one rounding step.

    Each torch call's float32 result is multiplied by ``1 + 2**-23 * N(0, 1)``:
    the outputs then move as far as float32 rounding inside the model can carry
    them. Nudging only the inputs misses an ill-conditioned step whose input
    does not depend on them (a layernorm of a constant, made by a zero weight,
    turns a one-ulp difference in its mean into 1e-4).
    """
    import torch
    from torch.overrides import TorchFunctionMode

    gen = torch.Generator().manual_seed(seed)

    def move(value: Any) -> Any:
        if isinstance(value, torch.Tensor) and value.dtype == torch.float32 and value.numel():
            return value * (1 + 2.0**-23 * torch.randn(value.shape, generator=gen))
        if type(value) in (tuple, list):
            return type(value)(move(v) for v in value)
        return value

    class Rounding(TorchFunctionMode):
        def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            return move(func(*args, **(kwargs or {})))

    with Rounding():
        got = _torch_run(module, inputs)
    assert not isinstance(got, str)
    return got


def _backward(module: Any, inputs: dict[str, Any]) -> None:
    """Forward in training mode and backward from the sum of the float outputs."""
    import torch

    args = []
    for v in inputs.values():
        t = torch.from_numpy(v.copy())
        if t.is_floating_point():
            t.requires_grad_(True)
        args.append(t)
    module.train()
    try:
        got = module(*args)
        got = got if isinstance(got, tuple) else (got,)
        loss = sum(o.float().sum() for o in got if o.is_floating_point())
        if isinstance(loss, torch.Tensor) and loss.requires_grad:
            loss.backward()
    except Exception as exc:  # noqa: BLE001 - any exception is the finding
        raise Finding("traceback", f"torch backward: {type(exc).__name__} at {_where(exc)}: {exc}") from exc
    finally:
        module.eval()


def _compare(name: str, got: Any, want: Any, moved: Any, rounded: Any) -> None:
    """``got`` (onnxruntime) equals ``want`` (torch) within the tolerance, widened by torch's own noise:
    how far ``want`` moves with nudged inputs (``moved``) or with every step's rounding nudged (``rounded``)."""
    import numpy as np

    want, moved, rounded = want.numpy(), moved.numpy(), rounded.numpy()
    if got.shape != want.shape or got.dtype != want.dtype:
        raise Finding(
            "disagree", f"{name}: onnxruntime gives {got.dtype}{list(got.shape)}, torch {want.dtype}{list(want.shape)}"
        )
    if want.dtype == np.bool_ or np.issubdtype(want.dtype, np.integer):
        if not np.array_equal(got, want):
            raise Finding("disagree", f"{name}: integer outputs differ")
        return
    noise = 0.0
    for other in (moved, rounded):
        finite = np.isfinite(want) & np.isfinite(other)
        noise = max(noise, float(np.abs(want - other)[finite].max(initial=0.0)))
    inf_got, inf_want = np.where(np.isinf(got), np.sign(got), 0), np.where(np.isinf(want), np.sign(want), 0)
    if not np.array_equal(np.isnan(got), np.isnan(want)) or not np.array_equal(inf_got, inf_want):
        raise Finding("disagree", f"{name}: NaN or infinite entries differ")
    both = np.isfinite(got) & np.isfinite(want)
    err = np.abs(got - want)[both]
    limit = (TOLERANCE + 10 * noise + TOLERANCE * np.abs(want[both])) if both.any() else 0
    if err.size and bool((err > limit).any()):
        worst = int(np.argmax(err - limit))
        raise Finding(
            "disagree",
            f"{name}: max difference {float(err.max()):.3g} (torch {float(want[both][worst]):.6g}, "
            f"onnxruntime {float(got[both][worst]):.6g}; noise {noise:.2g})",
        )


def run_valid(seed: int) -> tuple[str, str, list[str]]:
    """Everything for the valid program of ``seed``: (outcome, detail, features); raises Finding."""
    import ncd_gen
    import numpy as np
    import torch

    import ncdl
    from ncdl.runtime import Session
    from ncdl.runtime.session import InputError

    gen = ncd_gen.program(seed)
    try:
        program = ncdl.loads(gen.text, "gen.ncd")
    except ncdl.NcdlError as err:
        d = err.diagnostics[0]
        return "rejected", f"{d.code} {d.message}\n\n{err}", gen.features
    except Exception as exc:  # noqa: BLE001 - any other exception is the finding
        raise _internal("check", exc) from exc
    stage = "to_torch"
    try:
        graph = program.graph()
        torch.manual_seed(seed)
        module = program.to_torch(hierarchy=gen.hierarchy)
        module.eval()
        stage = f"to_onnx(opset={gen.opset})"
        onnx_model = program.to_onnx(state_dict=module.state_dict(), opset=gen.opset)
        stage = "onnxruntime session"
        session = Session(onnx_model)
    except Exception as exc:  # noqa: BLE001 - a checked program must compile (an NcdlError here is late)
        raise _internal(stage, exc) from exc
    outcome = "ok"
    accepted = []
    for i, run in enumerate(gen.runs):
        inputs = _feeds(graph, run, seed + i)
        rng = np.random.default_rng(seed + 7)
        nudged = {
            k: v * (1 + 1e-6 * rng.standard_normal(v.shape)).astype(v.dtype) if v.dtype == np.float32 else v
            for k, v in inputs.items()
        }
        want = _torch_run(module, inputs)
        try:
            got = session.run(inputs)
        except InputError as exc:
            got = f"refused: {exc}"
        except Exception as exc:  # noqa: BLE001 - any other exception is the finding
            raise Finding("traceback", f"onnxruntime run at {run}: {type(exc).__name__}: {exc}") from exc
        if isinstance(want, str) or isinstance(got, str):
            if isinstance(want, str) and isinstance(got, str):
                outcome = "refused-input"
                continue
            raise Finding(
                "disagree",
                f"at {run}: torch {'refused' if isinstance(want, str) else 'ran'}, onnxruntime {got if isinstance(got, str) else 'ran'}: {want if isinstance(want, str) else ''}",
            )
        moved = _torch_run(module, nudged)
        assert not isinstance(moved, str)
        rounded = _rounding_run(module, inputs, seed + 11)
        for name, w, m, r in zip(session.output_names, want, moved, rounded, strict=True):
            try:
                _compare(name, got[name], w, m, r)
            except Finding as finding:
                finding.detail = f"at {run}, opset {gen.opset}: {finding.detail}"
                raise
        accepted.append(inputs)
    for inputs in accepted:  # training mode moves batchnorm's statistics: after every comparison
        _backward(module, inputs)
    return outcome, "", gen.features


def run_mistake(seed: int) -> tuple[str, str, list[str]]:
    """The mistake program of ``seed`` gets its expected verdict: (outcome, detail, features); raises Finding."""
    import ncd_mistakes

    return ncd_mistakes.judge(seed)


def run_selftest(seed: int) -> tuple[str, str, list[str]]:
    """The pool's own negative controls: seed % 5 is 0 fine, 1 a crash, 2 a hang, 3 an internal error, 4 silence."""
    kind = seed % 5
    if kind == 1:
        os.abort()
    if kind == 2:
        time.sleep(3600)
    if kind == 3:
        raise _internal("selftest", KeyError("selftest"))
    if kind == 4:
        raise Finding("silent", "selftest: a mistake accepted without its verdict")
    return "ok", "", ["selftest"]


MODES = {"valid": run_valid, "mistakes": run_mistake, "selftest": run_selftest}


def _text_of(mode: str, seed: int) -> str:
    if mode == "selftest":
        return f"# selftest seed {seed}\n"
    if mode == "valid":
        import ncd_gen

        return ncd_gen.program(seed).text
    import ncd_mistakes

    return ncd_mistakes.mistake(seed).text


def _worker(conn: Connection, mode: str) -> None:
    """Answer seeds from ``conn`` until it closes: one (seed, outcome, detail, features, seconds) each."""
    os.environ["OMP_NUM_THREADS"] = "1"
    run = MODES[mode]
    if mode != "selftest":  # imported before the first seed's clock starts
        import ncd_gen  # noqa: F401
        import onnxruntime
        import torch

        import ncdl.compiler.fx  # noqa: F401
        import ncdl.compiler.onnx  # noqa: F401
        import ncdl.runtime  # noqa: F401

        torch.set_num_threads(1)
        _single_threaded(onnxruntime)
    conn.send("ready")
    while True:
        try:
            seed = conn.recv()
        except EOFError:
            return
        start = time.perf_counter()
        try:
            outcome, detail, features = run(seed)
        except Finding as finding:
            outcome, detail, features = finding.kind, finding.detail, []
        except Exception as exc:  # noqa: BLE001 - a bug in the oracle itself is reported as internal too
            outcome, detail, features = "internal", _internal("oracle", exc).detail, []
        conn.send((seed, outcome, detail, features, time.perf_counter() - start))


def _single_threaded(onnxruntime: Any) -> None:
    """Make every onnxruntime session of this process use one thread (the pool is the parallelism)."""
    make = onnxruntime.SessionOptions

    def options() -> Any:
        o = make()
        o.intra_op_num_threads = 1
        o.inter_op_num_threads = 1
        return o

    onnxruntime.SessionOptions = options


# ---- the pool -----------------------------------------------------------------


class _Slot:
    """One worker process and the seed it is working on."""

    def __init__(self, ctx: Any, mode: str) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, args=(child, mode), daemon=True)
        self.proc.start()
        child.close()
        self.seed: int | None = None  # None until the worker is ready (its imports take seconds)
        self.since = 0.0
        self.finished = False

    def give(self, seed: int) -> None:
        self.seed, self.since = seed, time.monotonic()
        self.conn.send(seed)

    def stop(self) -> None:
        self.proc.join(timeout=0.5 if self.finished else 0)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        self.conn.close()


class Campaign:
    """Counts outcomes and writes each new finding (by kind and signature) to ``findings``."""

    def __init__(self, findings: Path, mode: str) -> None:
        self.findings = findings
        self.mode = mode
        self.outcomes: Counter[str] = Counter()
        self.features: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()
        self.seen: set[str] = set()
        self.seeds: dict[str, list[int]] = {}  # the first seeds of each finding kind
        self.seconds = 0.0
        findings.mkdir(parents=True, exist_ok=True)

    def record(self, seed: int, outcome: str, detail: str, features: list[str], seconds: float) -> None:
        """Count one answer; save it when it is a finding with a new signature (or a new rejection code)."""
        self.outcomes[outcome] += 1
        self.features.update(set(features))
        self.seconds += seconds
        if outcome == "rejected":
            code = detail.split(" ", 1)[0]
            self.rejected[detail.splitlines()[0][:80]] += 1
            if code in self.seen:
                return
            self.seen.add(code)
            self._save("rejected", code, seed, detail)
        elif outcome in FINDINGS:
            seeds = self.seeds.setdefault(outcome, [])
            if len(seeds) < 100:
                seeds.append(seed)
            signature = detail.splitlines()[0] if detail else outcome
            signature = "".join(ch for ch in signature if not ch.isdigit())
            if signature in self.seen:
                return
            self.seen.add(signature)
            self._save(outcome, signature, seed, detail)
            print(f"FINDING {outcome} seed {seed}: {detail.splitlines()[0] if detail else ''}", flush=True)

    def _save(self, kind: str, signature: str, seed: int, detail: str) -> None:
        ident = f"{kind}-{hashlib.sha256(signature.encode()).hexdigest()[:10]}"
        (self.findings / f"{ident}.ncd").write_text(_text_of(self.mode, seed), encoding="utf-8")
        note = f"mode {self.mode}, seed {seed}: {kind}\n(tools/campaign.py --mode {self.mode} --seeds {seed}:{seed + 1})\n\n{detail}\n"
        (self.findings / f"{ident}.txt").write_text(note, encoding="utf-8")


def run_campaign(
    seeds: range,
    jobs: int,
    findings: Path,
    mode: str = "valid",
    quiet: bool = False,
    minutes: float | None = None,
    hang_seconds: float = HANG_SECONDS,
) -> dict[str, Any]:
    """Run ``seeds`` through ``jobs`` worker processes; return the summary (also saved as summary.json).

    With ``minutes``, no new seed starts after that time (the summary says
    which seeds ran: ``seeds`` START:NEXT).
    """
    ctx = mp.get_context("spawn")
    campaign = Campaign(findings, mode)
    todo = iter(seeds)
    slots = [_Slot(ctx, mode) for _ in range(max(1, jobs))]  # they import in parallel; each says "ready"
    start = time.monotonic()
    last_report = start
    done = 0
    stop_at = [start + minutes * 60 if minutes else float("inf")]
    next_seed = seeds.start

    def on_term(signum: int, frame: Any) -> None:
        stop_at[0] = 0.0  # finish the seeds in flight, then write the summary

    previous = signal.signal(signal.SIGTERM, on_term) if threading.current_thread() is threading.main_thread() else None

    def feed(slot: _Slot) -> None:
        nonlocal next_seed
        seed = next(todo, None) if time.monotonic() < stop_at[0] else None
        if seed is None:
            slot.seed, slot.finished = None, True
            slot.conn.close()  # the worker sees EOF and returns
        else:
            next_seed = seed + 1
            slot.give(seed)

    def restart(slot: _Slot) -> None:
        slot.stop()
        slot.__dict__.update(_Slot(ctx, mode).__dict__)

    try:
        while live := [s for s in slots if not s.finished]:
            ready = wait([s.conn for s in live], timeout=1.0)
            now = time.monotonic()
            for slot in live:
                if slot.conn in ready:
                    try:
                        message = slot.conn.recv()
                    except (EOFError, OSError):
                        slot.proc.join(timeout=5)
                        if slot.seed is None:
                            raise RuntimeError(f"a {mode} worker died while starting") from None
                        detail = f"worker died (exit code {slot.proc.exitcode})"
                        campaign.record(slot.seed, "crash", detail, [], now - slot.since)
                        done += 1
                        restart(slot)
                        continue
                    if message != "ready":
                        campaign.record(*message)
                        done += 1
                    feed(slot)
                elif slot.seed is not None and now - slot.since > hang_seconds:
                    campaign.record(slot.seed, "hang", f"no answer after {hang_seconds:g} s", [], now - slot.since)
                    done += 1
                    restart(slot)
            if not quiet and now - last_report > 60:
                last_report = now
                rate = done / (now - start)
                print(f"{done} programs, {rate:.1f}/s, {dict(campaign.outcomes)}", flush=True)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        for slot in slots:
            slot.stop()
    elapsed = time.monotonic() - start
    summary = {
        "mode": mode,
        "seeds": f"{seeds.start}:{next_seed}",
        "programs": done,
        "seconds": round(elapsed, 1),
        "programs_per_second": round(done / elapsed, 2) if elapsed else 0.0,
        "jobs": jobs,
        "outcomes": dict(sorted(campaign.outcomes.items())),
        "findings": {k: campaign.outcomes[k] for k in FINDINGS},
        "finding_seeds": campaign.seeds,
        "rejected": dict(campaign.rejected.most_common(20)),
        "features": dict(sorted(campaign.features.items())),
    }
    (findings / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    return summary


def main(argv: list[str] | None = None) -> int:
    """Run a campaign over a seed range; exit 1 when it found anything."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0:1000", help="seed range START:STOP (default 0:1000)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes")
    parser.add_argument("--mode", choices=sorted(MODES), default="valid")
    parser.add_argument("--minutes", type=float, help="start no seed after this many minutes")
    parser.add_argument("--findings", default=str(ROOT / "campaign-findings"), help="folder for findings")
    args = parser.parse_args(argv)
    start, _, stop = args.seeds.partition(":")
    seeds = range(int(start), int(stop)) if stop else range(int(start), int(start) + 1)
    summary = run_campaign(seeds, args.jobs, Path(args.findings), args.mode, minutes=args.minutes)
    print(json.dumps(summary, indent=1))
    return 1 if any(summary["findings"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
