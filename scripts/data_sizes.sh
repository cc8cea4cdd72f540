#!/usr/bin/env bash
# Data-size study (issue 11): the demo recipe (configs/demo_prompt.toml) at 50, 100 and 200 training
# sentences per language, 3 seeds each, then one mean ± std report per size. The 701-sentence point
# is configs/seven_full.toml (docs/results/seven_full). Resumable: a seed whose results.json exists is
# skipped, so rerunning the same command continues an interrupted study.
#
#   bash scripts/data_sizes.sh [sizes...]        (default: 50 100 200; about 4 minutes per run here)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=docs/results/data_sizes
if [[ $# -eq 0 ]]; then set -- 50 100 200; fi
for size in "$@"; do
  for seed in 0 1 2; do
    run="$OUT/cap$size/seed$seed"
    if [[ -f "$run/results.json" ]]; then echo "done: $run"; continue; fi
    .venv/bin/borderless run configs/demo_prompt.toml --set data.max_train_per_language="$size" \
      --set run.seed="$seed" -o "$run" --overwrite --quiet
  done
  .venv/bin/borderless report "$OUT/cap$size/seed0" "$OUT/cap$size/seed1" "$OUT/cap$size/seed2" -o "$OUT/cap$size"
done
