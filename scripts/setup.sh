#!/usr/bin/env bash
# Create .venv (once) and install exactly requirements.lock into it, then borderless itself.
# Idempotent; safe to re-run. Every package comes from the lock (pinned, hash-checked) except
# torch==2.13.0, which pip installs itself: it finds the CPU build on this machine, where uv or an
# unpinned torch would pull several GB of CUDA. Refresh the lock with: bash scripts/lock.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
pip=(.venv/bin/python -m pip --disable-pip-version-check)
"${pip[@]}" install -q --require-hashes --no-deps -r requirements.lock
"${pip[@]}" install -q "torch==2.13.0"
"${pip[@]}" install -q --no-deps --no-build-isolation -e .
"${pip[@]}" check >/dev/null || { "${pip[@]}" check; exit 1; }
