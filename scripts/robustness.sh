#!/usr/bin/env bash
# The attack study: every attack x aggregation rule, one cell (a `borderless run`) each, attacker by
# attacker. Resumable: a finished cell (results.json) is skipped, a killed one resumes from its
# checkpoint. Ends with the study's README table and plot (scripts/robustness_report.py).
#
#   ATTACKERS="hau_Latn yor_Latn" RULES="fedavg median" bash scripts/robustness.sh
set -euo pipefail
cd "$(dirname "$0")/.."
config=${CONFIG:-configs/robustness.toml}
out=${OUT:-docs/results/robustness}
attackers=${ATTACKERS:-hau_Latn}
rules=${RULES:-fedavg median trimmed_mean krum clipped_fedavg}
attacks=${ATTACKS:-sign_flip gaussian label_flip nan}
cell() {  # cell NAME --set ...
  local run="$out/cells/$1"; shift
  if [[ -f "$run/results.json" ]]; then echo "done: $run"; return; fi
  if [[ -f "$run/checkpoint.pt" ]]; then
    echo "$(date +%T) resume: $run"; .venv/bin/borderless run --resume "$run" --quiet
  else
    echo "$(date +%T) start: $run"
    .venv/bin/borderless run "$config" "$@" -o "$run" --overwrite --quiet
  fi
}
for rule in $rules; do  # what each rule costs when no one attacks
  cell "none-$rule" --set federated.aggregator="\"$rule\""
done
for attacker in $attackers; do
  for attack in $attacks; do
    for rule in $rules; do
      cell "$attack-$attacker-$rule" --set federated.aggregator="\"$rule\"" --set federated.attack="\"$attack\"" \
        --set federated.attack_clients="[\"$attacker\"]"
    done
  done
done
.venv/bin/python scripts/robustness_report.py "$out"
