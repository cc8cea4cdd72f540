#!/usr/bin/env bash
# Refresh requirements.lock after changing a dependency in pyproject.toml (needs .venv: run
# scripts/setup.sh once first; it installs uv). Pins every direct and transitive dependency, with
# hashes, for CPython 3.11 on x86-64 Linux. torch is left out on purpose: setup.sh installs
# torch==2.13.0 with pip, which finds the local CPU build (uv would resolve the CUDA one).
# TORCH_WHEELS: folder(s) holding that CPU wheel, so the lock pins torch's own dependencies as it needs them.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/uv ]; then
  echo "lock.sh: .venv/bin/uv not found; run 'bash scripts/setup.sh' first" >&2
  exit 2
fi
links=()
for d in ${TORCH_WHEELS:-/opt/wheels}; do
  if [ -d "$d" ]; then links+=(--find-links "$d"); fi
done
cp requirements.lock requirements.lock.new  # uv keeps the pins already there: only what changed moves
PYTHONPATH=src .venv/bin/python -m borderless.lockfile build-requires \
  | .venv/bin/uv pip compile pyproject.toml - --extra test --generate-hashes \
      --python-version 3.11 --python-platform x86_64-manylinux_2_28 --no-emit-package torch \
      "${links[@]}" --custom-compile-command "bash scripts/lock.sh" --quiet -o requirements.lock.new
PYTHONPATH=src .venv/bin/python -m borderless.lockfile stamp requirements.lock.new
mv requirements.lock.new requirements.lock
PYTHONPATH=src .venv/bin/python -m borderless.lockfile check
