#!/usr/bin/env bash
# Create .venv (once) and install borderless with its test extras. Idempotent; safe to re-run.
# torch is pinned to 2.13.0 (the CPU build); an unpinned torch would pull several GB of CUDA.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[test]"
