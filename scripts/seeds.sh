#!/usr/bin/env bash
# One config over seeds, then the seeds report: `borderless run CONFIG --set run.seed=S -o OUT/seedS`
# for each seed, then `borderless report OUT/seed* -o OUT`. Resumable: a seed whose results.json
# exists is skipped and a seed killed half-way continues from its checkpoint (`borderless run
# --resume`), so rerunning the same command continues an interrupted study. checkpoint.pt is in
# .gitignore; to carry a stopped seed to another machine with the uncommitted working tree, copy it to
# checkpoint.carry.pt beside it (not ignored, never committed): `borderless run --resume` moves it back
# first (borderless.checkpoint.restore_carried), and a stale one beside a finished seed is removed here.
#
#   bash scripts/seeds.sh configs/nusax.toml docs/results/nusax 0 1 2 [-- --set key=value ...]
set -euo pipefail
cd "$(dirname "$0")/.."
config=$1 out=$2; shift 2
seeds=()
while [[ $# -gt 0 && $1 != "--" ]]; do seeds+=("$1"); shift; done
[[ $# -gt 0 ]] && shift
runs=()
for seed in "${seeds[@]}"; do
  run="$out/seed$seed"
  runs+=("$run")
  if [[ -f "$run/results.json" ]]; then rm -f "$run/checkpoint.carry.pt"; echo "done: $run"; continue; fi
  if [[ -f "$run/checkpoint.pt" || -f "$run/checkpoint.carry.pt" ]]; then
    echo "$(date +%T) resume: $run"
    .venv/bin/borderless run --resume "$run" --quiet
  else
    echo "$(date +%T) start: $run"
    .venv/bin/borderless run "$config" --set run.seed="$seed" "$@" -o "$run" --overwrite --quiet
  fi
  echo "$(date +%T) end: $run"
done
.venv/bin/borderless report "${runs[@]}" -o "$out"
