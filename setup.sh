#!/usr/bin/env bash
# Set up ncdl on a fresh machine: Graphviz's `dot` (Debian), a virtualenv in
# .venv with the CPU build of torch 2.13.0 first, then ncdl and its dev tools.
# Safe to run again: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v dot >/dev/null 2>&1; then
    echo "setup: installing Graphviz (dot)" >&2
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq graphviz >/dev/null
fi

PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
# torch first, pinned: an unpinned torch pulls a multi-GB CUDA build.
if ! .venv/bin/python -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '2.13.0')" 2>/dev/null; then
    .venv/bin/pip install -q --disable-pip-version-check torch==2.13.0
fi
.venv/bin/pip install -q --disable-pip-version-check -e ".[dev,bench,examples,lsp,weights,refs]"

# The preview page's test drives a headless Chromium (Debian's package).
# Only for the tests: ncdl itself never needs a browser.
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
    echo "setup: installing Chromium for the preview page's browser test" >&2
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium >/dev/null; } \
        || echo "setup: could not install chromium; tests/editor/test_serve.py's browser test will be skipped" >&2
fi
