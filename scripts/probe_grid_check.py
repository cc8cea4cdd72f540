"""How much a run's probe floor depends on the weight-decay grid it was chosen from: refits every
paradigm's frozen-feature probe of committed runs (their own config.toml, cached features, no
training) under the grid the run used and under another, and prints dev / test means beside the
run's tuned test means. Training is not repeated; nothing in the run folders is changed.

    .venv/bin/python scripts/probe_grid_check.py docs/results/seven_full/seed0 docs/results/demo_prompt ... \
        [--grid 1e-4 3e-4 1e-3 3e-3 1e-2 3e-2 1e-1] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
from dataclasses import replace
from pathlib import Path

from borderless.backbones.resolve import load_configured
from borderless.config import PARADIGMS, load_config
from borderless.runner import build_workload, fit_probes, load_data, probe_data

HALF_DECADE = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)


def floors(cfg, grid, cache: dict) -> dict[str, dict[str, float]]:
    key = repr((cfg.backbone, cfg.data, cfg.method.pooling, cfg.method.template, cfg.run.seed))
    if key not in cache:
        backbone = load_configured(cfg.backbone)
        work, labels = build_workload(cfg, backbone, cfg.backbone.max_length, load_data(cfg))
        cache[key] = probe_data(cfg, backbone, work, len(labels))[0]
    data = cache[key]
    probes = fit_probes(replace(cfg, probe=replace(cfg.probe, weight_decays=tuple(grid))), data)
    mean = lambda d: round(100 * statistics.fmean(d[l] for l in data.languages), 1)  # noqa: E731
    return {p: {"dev": mean(probes[p].dev_score), "test": mean(probes[p].test_accuracy),
                "weight_decay": probes[p].weight_decay} for p in PARADIGMS if p in probes}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--grid", nargs="+", type=float, default=list(HALF_DECADE))
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    cache, out = {}, {}
    for run in args.runs:
        cfg = load_config(run / "config.toml")
        summary = json.loads((run / "results.json").read_text(encoding="utf-8"))
        tuned = {p: round(100 * statistics.fmean(e["test_accuracy"][l] for l in summary["languages"]), 1)
                 for p, e in summary["paradigms"].items() if p in PARADIGMS}
        row = {"run_grid": floors(cfg, cfg.probe.weight_decays, cache), "grid": floors(cfg, args.grid, cache),
               "tuned": tuned}
        out[str(run)] = row
        for p in tuned:
            a, b = row["run_grid"].get(p), row["grid"].get(p)
            print(f"{run}  {p:>18}: tuned {tuned[p]:5.1f} | probe, run's grid: test {a['test']:5.1f} (dev {a['dev']:5.1f})"
                  f" | probe, --grid: test {b['test']:5.1f} (dev {b['dev']:5.1f})", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"grid": args.grid, "runs": out}, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
