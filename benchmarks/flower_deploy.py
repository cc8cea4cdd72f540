"""Flower deployment cost on this machine, side by side in one run: wall time per round and bytes per
client per round, for

  - in-process (`borderless run`, federated only),
  - Flower with warm nodes (the default: each SuperNode keeps its model in its warm worker, the
    server and nodes poll every deploy.poll_interval_s),
  - Flower as it comes (deploy.warm_nodes = false, deploy.poll_interval_s = 3: a fresh ClientApp
    process loads everything for every message, Flower's own 3 s waits).

Runs configs/deploy.toml (real e5-small, real SIB-200, 3 languages as 3 SuperNodes, TLS + node
authentication) and writes results/flower_deploy.{json,md}. Run by hand, alone on the machine:

    .venv/bin/python benchmarks/flower_deploy.py [--set federated.rounds=3 ...] [--skip-cold] [--threads N]

Like for like: every process that trains uses the same torch threads, ``--threads`` (default: the
config's ``deploy.node_threads``, 1 in configs/deploy.toml): the in-process run is set to it, and each
node gets ``deploy.node_threads`` = it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import torch

from borderless.config import load_config, resolve_data_path, with_overrides
from borderless.flower.deploy import LocalDeployment
from borderless.runner import run

HERE = Path(__file__).resolve().parent


def mean(xs) -> float:
    xs = list(xs)
    return sum(xs) / len(xs)


def flower(cfg, tmp: Path, name: str) -> dict:
    t0 = time.perf_counter()
    with LocalDeployment(cfg, resolve_data_path(cfg.data), tmp / f"work-{name}") as dep:
        up_s = time.perf_counter() - t0
        s = dep.run(tmp / name, echo=False)
    return {"startup_s": round(up_s, 1), "total_s": round(time.perf_counter() - t0, 1),
            "round_wall_s": s["round_wall_s"], "per_round_s": round(mean(s["round_wall_s"]), 2),
            "bytes_per_client_per_round_up": s["communication"]["bytes_per_client_per_round_up"],
            "bytes_per_client_per_round_down": s["communication"]["bytes_per_client_per_round_down"],
            "state_bytes": s["communication"]["state_bytes"], "test_accuracy": s["test_accuracy"],
            "warm_nodes": cfg.deploy.warm_nodes, "poll_interval_s": cfg.deploy.poll_interval_s}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default=str(HERE.parent / "configs" / "deploy.toml"))
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--skip-cold", action="store_true", help="leave out Flower as it comes (slow: ~35 s a round)")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch threads of every training process (default: the config's deploy.node_threads)")
    args = ap.parse_args()
    cfg = load_config(args.config, args.set)
    threads = args.threads or cfg.deploy.node_threads or torch.get_num_threads()
    cfg = with_overrides(cfg, [f"deploy.node_threads={threads}"])
    torch.set_num_threads(threads)  # the in-process run: the same threads as each node
    tmp = Path(tempfile.mkdtemp(prefix="borderless-bench-"))
    out: dict = {"config": args.config, "overrides": args.set, "languages": list(cfg.data.languages),
                 "rounds": cfg.federated.rounds, "local_steps": cfg.train.local_steps, "batch_size": cfg.train.batch_size,
                 "torch_threads_per_process": threads}
    try:
        t0 = time.perf_counter()
        federated_only = dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, paradigms=("federated",)))
        fed = run(federated_only, tmp / "inprocess", progress=False).results["paradigms"]["federated"]
        out["in_process"] = {"total_s": round(time.perf_counter() - t0, 1), "federated_wall_s": fed["wall_s"],
                             "per_round_s": round(fed["wall_s"] / cfg.federated.rounds, 2),
                             "test_accuracy": fed["test_accuracy"]}
        out["flower_warm"] = flower(cfg, tmp, "warm")
        if not args.skip_cold:
            out["flower_cold"] = flower(with_overrides(cfg, ["deploy.warm_nodes=false", "deploy.poll_interval_s=3"]),
                                        tmp, "cold")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    base = out["in_process"]["per_round_s"]
    for k in ("flower_warm", "flower_cold"):
        if k in out:
            out[k]["ratio_to_in_process"] = round(out[k]["per_round_s"] / base, 2)
            out[k]["same_accuracy_as_in_process"] = all(
                abs(out[k]["test_accuracy"][l] - out["in_process"]["test_accuracy"][l]) < 1e-6 for l in out["languages"])
    out["machine"] = (f"{platform.machine()}, {os.cpu_count()} CPUs, {threads} torch thread(s) in every training "
                      f"process (in-process and each node), torch {torch.__version__}")
    out["date"] = time.strftime("%Y-%m-%d")
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "flower_deploy.json").write_text(json.dumps(out, indent=2))
    rows = [("in-process (`borderless run`, federated)", out["in_process"], "")]
    rows.append(("Flower, warm nodes (default; poll 0.2 s)", out["flower_warm"], "flower_warm"))
    if "flower_cold" in out:
        rows.append(("Flower as it comes (process per message, 3 s polls)", out["flower_cold"], "flower_cold"))
    f = out["flower_warm"]
    md = [f"# Flower deployment vs in-process ({', '.join(out['languages'])}; {out['rounds']} rounds x "
          f"{out['local_steps']} steps x batch {out['batch_size']}; SuperLink + 3 SuperNodes, TLS + auth)", "",
          "| | wall time | per round | × in-process | mean test accuracy |", "|---|---:|---:|---:|---:|"]
    for name, r, key in rows:
        wall = f"{r['total_s']} s" + (f" (start-up {r['startup_s']} s)" if "startup_s" in r else "")
        ratio = f"{r['ratio_to_in_process']:.2f}×" if key else "1.00×"
        md.append(f"| {name} | {wall} | {r['per_round_s']:.1f} s | {ratio} | "
                  f"{100 * mean(r['test_accuracy'].values()):.1f} |")
    md += ["", f"Goal: warm Flower ≤ 1.3× in-process per round. Same accuracies as in-process: "
           f"warm {f['same_accuracy_as_in_process']}"
           + (f", as it comes {out['flower_cold']['same_accuracy_as_in_process']}" if "flower_cold" in out else "") + ".",
           "", f"Bytes per client per round (measured Flower message content): {f['bytes_per_client_per_round_up']:,.0f} up, "
           f"{f['bytes_per_client_per_round_down']:,.0f} down; raw trainable state {f['state_bytes']:,} bytes.", "",
           f"{out['machine']}, {out['date']}.", ""]
    (HERE / "results" / "flower_deploy.md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
