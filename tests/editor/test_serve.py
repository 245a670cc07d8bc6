"""``ncdl serve``: the preview server's routes and safety, and the page in
headless Chromium updating itself when the file is saved."""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from cdp import Browser, find_browser

from ncdl.cli import main
from ncdl.serve.app import make_server
from ncdl.serve.state import Preview

PROGRAM = """\
# a small program with two models
axis batch, seq <= 16, model = 32, hidden = 4 * model

# The feed-forward block.
circuit MLP(x: [model]) -> [model] {
    return x -> linear[model -> hidden] -> gelu -> linear[hidden -> model]
}

circuit Block(x: [seq, model]) -> [seq, model] {
    return x + MLP(layernorm[model](x)) as mlp
}

model Small(x: [batch, seq, model]) -> [batch, seq, model] {
    return MLP(x)
}

model Net(x: [batch, seq, model]) -> [batch, seq, model] {
    y = Block(x) as block
    return layernorm[model](y)
}
"""
BROKEN = PROGRAM.replace("layernorm[model](y)", "layernorm[modle](y)")


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path]]:
    """The preview of a fresh ``main.ncd``, served on a free port until the test ends."""
    source = tmp_path / "main.ncd"
    source.write_text(PROGRAM)
    monkeypatch.chdir(tmp_path)
    preview = Preview(Path("main.ncd"))
    httpd = make_server(preview)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    preview.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}/", source
    finally:
        preview.stop()
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)


def get(url: str, host: str | None = None) -> tuple[int, bytes, dict[str, str]]:
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, reply.read(), dict(reply.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read(), dict(err.headers)


def state(url: str, query: str = "") -> dict:
    status, body, _ = get(url + "api/state" + query)
    assert status == 200
    return json.loads(body)


def save(path: Path, text: str) -> None:
    """Save the file as many editors do: write a temporary file, rename it over."""
    before = path.stat().st_mtime_ns
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text)
    os.replace(temporary, path)
    if path.stat().st_mtime_ns == before:  # a coarse clock: make the change visible
        os.utime(path, ns=(before + 1_000_000, before + 1_000_000))


def test_state_has_models_diagram_stats_and_diagnostics(served: tuple[str, Path]) -> None:
    url, _ = served
    s = state(url)
    assert (s["version"], s["models"], s["model"], s["diagnostics"]) == (1, ["Small", "Net"], "Net", [])
    assert s["svg"].lstrip().startswith("<?xml") and "<title>Net</title>" in s["svg"]
    assert s["stats"]["params"] == (32 * 128 + 128) + (128 * 32 + 32) + 2 * 32 + 2 * 32  # MLP, two layernorms
    assert [r["path"] for r in s["stats"]["circuits"]] == ["block", "block.mlp"]
    small = state(url, "?model=Small&depth=0")
    assert small["model"] == "Small" and "<title>box mlp</title>" in small["svg"]
    opened = state(url, "?model=Net&depth=0&expand=block")
    assert "<title>cluster block</title>" in opened["svg"] and "<title>box block.mlp</title>" in opened["svg"]
    assert "depth must be a whole number" in state(url, "?depth=deep")["error"]


def test_saving_the_file_publishes_a_new_version(served: tuple[str, Path]) -> None:
    url, source = served
    with urllib.request.urlopen(url + "events", timeout=30) as stream:
        assert stream.readline() == b"data: 1\n"
        save(source, BROKEN)
        line = b""
        while not line.startswith(b"data:"):
            line = stream.readline()
        assert line == b"data: 2\n"
    s = state(url)
    assert [(d["severity"], d["code"], d["where"]) for d in s["diagnostics"]] == [("error", "E101", "main.ncd:19:22")]
    assert "unknown axis 'modle'" in s["diagnostics"][0]["text"] and "^^^^^" in s["diagnostics"][0]["text"]
    assert s["svg"] is not None and s["stats"] is None  # the partial graph is drawn, with the error


def test_only_fixed_routes_on_loopback_for_its_own_host(served: tuple[str, Path]) -> None:
    url, source = served
    port = int(url.rsplit(":", 1)[1].strip("/"))
    (source.parent / "secret.txt").write_text("not for the browser")
    for path in (
        "secret.txt",
        "main.ncd",
        "../etc/passwd",
        "%2e%2e/%2e%2e/etc/passwd",
        "static/app.js",
        "api/../secret.txt",
    ):
        status, body, _ = get(url + path)
        assert status == 404 and b"not for the browser" not in body, path
    status, _, _ = get(url, host=f"attacker.example:{port}")
    assert status == 403
    status, body, headers = get(url)
    assert status == 200 and b"<title>ncdl preview</title>" in body
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    with socket.socket() as other:  # bound to loopback only: another local address is refused
        addresses = {a[4][0] for a in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)} - {"127.0.0.1"}
        if addresses:
            assert other.connect_ex((addresses.pop(), port)) != 0


def test_cli_serve_reports_a_missing_file_and_a_bad_port(tmp_path: Path, capsys) -> None:
    assert main(["serve", str(tmp_path / "nope.ncd")]) == 1
    assert "nope.ncd: no such file" in capsys.readouterr().err
    (tmp_path / "m.ncd").write_text(PROGRAM)
    assert main(["serve", str(tmp_path / "m.ncd"), "--model", "Big"]) == 1
    assert "no model 'Big'; models: Small, Net" in capsys.readouterr().err
    assert main(["serve", str(tmp_path / "m.ncd"), "--port", "70000"]) == 2


def choose(page: Browser, select: str, value: str) -> None:
    """Pick ``value`` in the page's ``<select id=select>`` as a user would."""
    page.js(
        f"{{ const s = document.getElementById('{select}'); s.value = '{value}'; s.dispatchEvent(new Event('change')) }}"
    )


def _browser_or_skip() -> str:
    browser = find_browser()
    if browser is None:
        pytest.skip("Chromium is not installed and setup.sh could not install it (apt-get install chromium)")
    return browser


def test_page_in_headless_chromium_follows_saves(served: tuple[str, Path], tmp_path: Path) -> None:
    url, source = served
    shots = tmp_path / "shots"
    shots.mkdir()
    with Browser(_browser_or_skip(), tmp_path / "profile") as page:
        page.goto(url)
        page.wait_for("document.body.dataset.version === '1' && document.querySelector('#diagram svg') !== null")
        assert page.js("document.getElementById('status').textContent") == "ok"
        assert page.js("document.querySelector('#diagnostics li').textContent") == "no diagnostics"
        assert page.js("[...document.querySelectorAll('#model option')].map(o => o.value)") == ["Small", "Net"]
        assert page.js("document.querySelectorAll('#circuits tr').length") == 3  # header + 2 instances
        first_svg = page.js("document.querySelector('#diagram svg').outerHTML")

        # depth control, then click-to-expand on a closed circuit
        choose(page, "depth", "0")
        page.wait_for("document.querySelector('#diagram g.node.circuit') !== null")
        assert page.js("document.querySelector('#diagram g.node.circuit').dataset.path") == "block"
        page.js(
            "document.querySelector('#diagram g.node.circuit').dispatchEvent(new MouseEvent('click', {bubbles: true}))"
        )
        page.wait_for("document.querySelector('#diagram g.cluster.open') !== null")
        assert page.js("document.querySelector('#diagram g.cluster.open').dataset.path") == "block"
        choose(page, "depth", "auto")
        page.wait_for("document.querySelector('#diagram g.node.circuit') === null")
        page.screenshot(shots / "preview.png")

        # edit the file on disk: the page updates itself
        save(source, BROKEN)
        page.wait_for("document.body.dataset.version === '2'")
        assert page.js("document.getElementById('status').textContent") == "1 error"
        assert page.js("document.querySelector('#diagnostics li').dataset.code") == "E101"
        assert "unknown axis 'modle'" in page.js("document.querySelector('#diagnostics li pre').textContent")
        assert page.js("document.querySelector('#diagram svg').outerHTML") != first_svg
        assert page.js("document.getElementById('stats').textContent") == "no stats while the model has errors"
        page.screenshot(shots / "preview-error.png")

        # and back
        save(source, PROGRAM)
        page.wait_for("document.body.dataset.version === '3'")
        assert page.js("document.getElementById('status').textContent") == "ok"

        # the model picker
        choose(page, "model", "Small")
        page.wait_for("document.querySelector('#diagram svg title').textContent === 'Small'")

    for name in ("preview.png", "preview-error.png"):
        data = (shots / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    keep = os.environ.get("NCDL_SCREENSHOT_DIR")
    if keep:  # refresh the screenshots the docs show (a folder relative to the repository root)
        for name in ("preview.png", "preview-error.png"):
            shutil.copy(shots / name, Path(__file__).resolve().parents[2] / keep / name)


def test_cli_serve_prints_its_loopback_address_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    (tmp_path / "m.ncd").write_text(PROGRAM)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ncdl.cli", "serve", "m.ncd"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a suite started in the background by a non-interactive shell has SIGINT ignored, and the child
        # would inherit that (Python then never raises KeyboardInterrupt): give it the terminal's default
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("ncdl serve: m.ncd at http://127.0.0.1:") and line.rstrip().endswith("(Ctrl-C to stop)")
        url = line.split(" at ")[1].split()[0]
        assert state(url)["models"] == ["Small", "Net"]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
        assert proc.stderr.read().strip() == "stopped"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_the_watcher_survives_a_failing_check_and_tries_again(tmp_path: Path, monkeypatch, capsys) -> None:
    import ncdl.serve.state as state_module

    source = tmp_path / "m.ncd"
    source.write_text(PROGRAM)
    preview = Preview(source)
    real, calls = state_module.analyse, []

    def flaky(path: Path, version: int):
        calls.append(version)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return real(path, version)

    monkeypatch.setattr(state_module, "analyse", flaky)
    preview.start()
    try:
        save(source, BROKEN)
        assert preview.wait(1, 30) == 2
    finally:
        preview.stop()
    assert calls == [2, 2]
    assert [d.code for d in preview.snapshot.diagnostics] == ["E101"]
    assert "RuntimeError: boom" in capsys.readouterr().err
