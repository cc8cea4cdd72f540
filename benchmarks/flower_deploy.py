"""Flower deployment cost on this machine: wall time per round and bytes per client per round.

Runs configs/deploy.toml (real e5-small, real SIB-200, 3 languages as 3 SuperNodes, TLS + node
authentication) with `borderless deploy local`, then the same config in-process (`borderless run`,
federated only) for comparison, and writes results/flower_deploy.{json,md}. Run by hand:

    .venv/bin/python benchmarks/flower_deploy.py [--set federated.rounds=3 ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import shutil
import tempfile
import time
from pathlib import Path

import torch

from borderless.config import load_config, resolve_data_path
from borderless.flower.deploy import LocalDeployment
from borderless.runner import run

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default=str(HERE.parent / "configs" / "deploy.toml"))
    ap.add_argument("--set", action="append", default=[])
    args = ap.parse_args()
    cfg = load_config(args.config, args.set)
    tmp = Path(tempfile.mkdtemp(prefix="borderless-bench-"))
    try:
        t0 = time.perf_counter()
        with LocalDeployment(cfg, resolve_data_path(cfg.data), tmp / "work") as dep:
            up_s = time.perf_counter() - t0
            flower = dep.run(tmp / "flower", echo=False)
        t1 = time.perf_counter()
        federated_only = dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, paradigms=("federated",)))
        ref = run(federated_only, tmp / "inprocess", progress=False).results
        t2 = time.perf_counter()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    fed = ref["paradigms"]["federated"]
    out = {
        "config": args.config, "overrides": args.set, "languages": list(cfg.data.languages),
        "rounds": cfg.federated.rounds, "local_steps": cfg.train.local_steps, "batch_size": cfg.train.batch_size,
        "flower": {"startup_s": round(up_s, 1), "total_s": round(t1 - t0, 1), "round_wall_s": flower["round_wall_s"],
                   "bytes_per_client_per_round_up": flower["communication"]["bytes_per_client_per_round_up"],
                   "bytes_per_client_per_round_down": flower["communication"]["bytes_per_client_per_round_down"],
                   "state_bytes": flower["communication"]["state_bytes"], "test_accuracy": flower["test_accuracy"]},
        "in_process": {"total_s": round(t2 - t1, 1), "federated_wall_s": fed["wall_s"], "test_accuracy": fed["test_accuracy"]},
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}",
        "date": time.strftime("%Y-%m-%d"),
    }
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "flower_deploy.json").write_text(json.dumps(out, indent=2))
    f = out["flower"]
    md = [f"# Flower deployment vs in-process ({', '.join(out['languages'])}; {out['rounds']} rounds x "
          f"{out['local_steps']} steps x batch {out['batch_size']})", "",
          "| | wall time | per round | accuracy (mean) |", "|---|---:|---:|---:|",
          f"| Flower (SuperLink + 3 SuperNodes, TLS + auth) | {f['total_s']} s (start-up {f['startup_s']} s) | "
          f"{sum(f['round_wall_s']) / len(f['round_wall_s']):.1f} s | "
          f"{100 * sum(f['test_accuracy'].values()) / len(f['test_accuracy']):.1f} |",
          f"| in-process (`borderless run`, federated) | {out['in_process']['total_s']} s | "
          f"{out['in_process']['federated_wall_s'] / out['rounds']:.1f} s | "
          f"{100 * sum(out['in_process']['test_accuracy'].values()) / len(out['in_process']['test_accuracy']):.1f} |", "",
          f"Bytes per client per round (measured Flower message content): {f['bytes_per_client_per_round_up']:,.0f} up, "
          f"{f['bytes_per_client_per_round_down']:,.0f} down; raw trainable state {f['state_bytes']:,} bytes.", "",
          f"{out['machine']}, {out['date']}.", ""]
    (HERE / "results" / "flower_deploy.md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
