#!/usr/bin/env bash
# The decoder study (issue 15, docs/results/decoder/): Gemma-3-270m with the verbalizer, Gemma-3-270m
# with a linear head on the last real token, and multilingual-e5-small with its head, on SIB-200
# (seven languages) and XNLI (five families); soft-prompt tuning, monolingual / centralized /
# federated, each cell over seeds with its seeds report. Resumable: every finished seed is skipped,
# a killed one resumes from its checkpoint; rerun the same command to continue.
#
#   SEEDS="0" DATASETS="sib200" bash scripts/decoder_study.sh      # a first pass
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${SEEDS:-0 1 2}
datasets=${DATASETS:-sib200 xnli}
cells=${CELLS:-gemma-verbalizer gemma-head e5-head}
# the head cells: the toolkit's recipe (probe-initialised head, stopped on dev, best state kept);
# the configs' own train.stop / prompt_init are the verbalizer's
head=(--set train.stop='"dev"' --set method.prompt_init='"vocab"')
for ds in $datasets; do
  config=configs/decoder_$ds.toml
  for cell in $cells; do
    case $cell in
      gemma-verbalizer) set -- ;;
      gemma-head) set -- --set method.classifier='"head"' --set method.pooling='"last"' "${head[@]}" ;;
      e5-head) set -- --set backbone.name='"e5-small"' --set method.classifier='"head"' --set method.template='""' --set train.lr=0.03 "${head[@]}" ;;
      *) echo "unknown cell $cell" >&2; exit 2 ;;
    esac
    # shellcheck disable=SC2086
    bash scripts/seeds.sh "$config" "docs/results/decoder/$ds/$cell" $seeds -- "$@"
  done
done
