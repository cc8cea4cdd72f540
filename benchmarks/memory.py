"""Peak memory (resident set, summed over a run's whole process tree, sampled every 0.2 s) and wall time.

    .venv/bin/python benchmarks/memory.py clients [--sizes 7 50 205] [--stages]   # `borderless run` as clients grow
    .venv/bin/python benchmarks/memory.py ray                          # Flower's simulation engine vs `borderless run`

``clients``: SIB-200 federated prompt tuning with 7, 50 and 205 clients (the seven demo languages
first, then the others in code order), every client capped at the same data (40 train / 10 dev / 20
test sentences), 7 sampled clients per round, 3 rounds, probe-initialised head; goal ≤ 1.2× peak from
7 to 205 clients. ``ray``: configs/deploy.toml, `borderless deploy simulate` (Ray, one virtual
SuperNode per language) against `borderless run` (federated only), same job. Each measured run is a
fresh process; results go to results/memory_{clients,ray}.{json,md}. Run by hand, alone on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEMO = ["eng_Latn", "fra_Latn", "hin_Deva", "swh_Latn", "hau_Latn", "yor_Latn", "amh_Ethi"]


def tree(pid: int) -> list[int]:
    from borderless.flower.processes import descendants

    return [pid, *descendants(pid)]


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def measure(argv: list[str], log: Path, stages: Path | None = None) -> dict:
    """Run ``argv``; its wall time and the peak of its process tree's summed resident memory. With
    ``stages`` (argv runs benchmarks/staged_run.py), also the peak inside each stage of the run."""
    t0 = time.perf_counter()
    env = {**os.environ, "BORDERLESS_STAGES": str(stages)} if stages else None
    samples: list[tuple[float, int]] = []
    with log.open("w") as fh:
        proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
        while proc.poll() is None:
            samples.append((time.time(), sum(rss_kib(p) for p in tree(proc.pid))))
            time.sleep(0.2)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}); see {log}:\n{log.read_text()[-3000:]}")
    out = {"wall_s": round(time.perf_counter() - t0, 1), "peak_rss_mib": round(max(r for _, r in samples) / 1024, 1)}
    if stages:
        out["stages"] = stage_peaks(stages, samples)
    return out


def stage_peaks(stages: Path, samples: list[tuple[float, int]]) -> dict:
    """Each stage's wall seconds, resident memory when it started and the peak inside it (MiB); samples
    outside every stage (imports, the results summary) count as "other"."""
    spans: list[tuple[float, float, str]] = []
    open_at: dict[str, float] = {}
    for line in stages.read_text().splitlines():
        t, what, name = line.split()
        if what == "start":
            open_at[name] = float(t)
        else:
            spans.append((open_at.pop(name), float(t), name))
    out: dict[str, dict] = {}
    for start, end, name in sorted(spans):
        before = [r for t, r in samples if t <= start][-1:] or [0]  # the last sample before it started
        inside = [r for t, r in samples if start <= t <= end]
        out[name] = {"wall_s": round(end - start, 1), "rss_at_start_mib": round(before[0] / 1024),
                     "peak_mib": round(max(inside + before) / 1024)}
    rest = [r for t, r in samples if not any(s <= t <= e for s, e, _ in spans)]
    out["other"] = {"peak_mib": round(max(rest, default=0) / 1024)}
    return out


def languages(n: int, data: Path) -> list[str]:
    others = sorted(p.name for p in data.iterdir() if p.is_dir() and p.name not in DEMO)
    return (DEMO + others)[:n]


def clients(sizes: list[int], extra: list[str], staged: bool = False) -> dict:
    from borderless.config import load_config, resolve_data_path

    data = resolve_data_path(load_config(ROOT / "configs" / "demo_prompt.toml", []).data)
    tmp = Path(tempfile.mkdtemp(prefix="borderless-mem-"))
    rows = []
    try:
        for n in sizes:
            langs = languages(n, data)
            sets = [f"data.languages={json.dumps(langs)}", "data.max_train_per_language=40",
                    "data.max_dev_per_language=10", "data.max_test_per_language=20", "federated.clients_per_round=7",
                    "federated.rounds=3", "federated.eval_every=0", 'train.stop="budget"',
                    'run.paradigms=["federated"]', "run.language_analysis=false", *extra]
            entry = [str(HERE / "staged_run.py")] if staged else ["-m", "borderless.cli"]
            argv = [sys.executable, *entry, "run", str(ROOT / "configs" / "demo_prompt.toml"), "--quiet",
                    "-o", str(tmp / f"n{n}")] + [a for s in sets for a in ("--set", s)]
            m = measure(argv, tmp / f"n{n}.log", tmp / f"n{n}.stages" if staged else None)
            res = json.loads((tmp / f"n{n}" / "results.json").read_text())["paradigms"]["federated"]
            rows.append({"clients": n, **m, "mean_accuracy": res["mean_accuracy"]})
            print(rows[-1], flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    base = rows[0]["peak_rss_mib"]
    for r in rows:
        r["peak_vs_smallest"] = round(r["peak_rss_mib"] / base, 2)
    return {"rows": rows, "overrides": extra}


def ray(extra: list[str]) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="borderless-mem-"))
    config = str(ROOT / "configs" / "deploy.toml")
    sets = [a for s in extra for a in ("--set", s)]
    try:
        run = measure([sys.executable, "-m", "borderless.cli", "run", config, "--quiet", "-o", str(tmp / "run"),
                       "--set", 'run.paradigms=["federated"]', *sets], tmp / "run.log")
        run["mean_accuracy"] = json.loads((tmp / "run" / "results.json").read_text())["paradigms"]["federated"]["mean_accuracy"]
        sim = measure([sys.executable, "-m", "borderless.cli", "deploy", "simulate", config, "-o", str(tmp / "sim"),
                       "--work", str(tmp / "sim-work"), *sets], tmp / "sim.log")
        sim["mean_accuracy"] = json.loads((tmp / "sim" / "results.json").read_text())["mean_accuracy"]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"borderless_run": run, "flower_simulation": sim, "overrides": extra}


def markdown(what: str, out: dict) -> str:
    if what == "clients":
        md = ["# Peak memory of `borderless run` as clients grow (SIB-200; 40/10/20 sentences per client, "
              "7 sampled clients per round, 3 rounds, probe-initialised head)", "",
              "| clients | peak RSS (MiB) | × 7 clients | wall | mean test accuracy |", "|---:|---:|---:|---:|---:|"]
        md += [f"| {r['clients']} | {r['peak_rss_mib']:,.0f} | {r['peak_vs_smallest']:.2f}× | {r['wall_s']:.0f} s | "
               f"{100 * r['mean_accuracy']:.1f} |" for r in out["rows"]]
        md += ["", "Goal ≤ 1.2× from 7 to 205 clients. Peak resident memory summed over the run's process tree, "
               "sampled every 0.2 s."]
        if all("stages" in r for r in out["rows"]):
            names = list(max((r["stages"] for r in out["rows"]), key=len))  # in the order the run met them
            md += ["", "Peak inside each stage of the run, MiB (resident memory when the stage started; wall seconds):",
                   "", "| stage | " + " | ".join(f"{r['clients']} clients" for r in out["rows"]) + " |",
                   "|---|" + "---:|" * len(out["rows"])]
            for name in names:
                cells = []
                for r in out["rows"]:
                    st = r["stages"].get(name)
                    cells.append("–" if st is None else f"{st['peak_mib']:,} (from {st['rss_at_start_mib']:,}; "
                                 f"{st['wall_s']:.0f} s)" if "wall_s" in st else f"{st['peak_mib']:,}")
                md.append(f"| `{name}` | " + " | ".join(cells) + " |")
    else:
        r, s = out["borderless_run"], out["flower_simulation"]
        md = ["# Flower's simulation engine (Ray) vs `borderless run`, configs/deploy.toml (federated)", "",
              "| | wall | peak RSS, whole process tree (MiB) | mean test accuracy |", "|---|---:|---:|---:|",
              f"| `borderless run` | {r['wall_s']:.0f} s | {r['peak_rss_mib']:,.0f} | {100 * r['mean_accuracy']:.1f} |",
              f"| `borderless deploy simulate` (Ray) | {s['wall_s']:.0f} s | {s['peak_rss_mib']:,.0f} | "
              f"{100 * s['mean_accuracy']:.1f} |"]
    md += ["", f"{out['machine']}, {out['date']}.", ""]
    return "\n".join(md)


def main() -> None:
    import torch

    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["clients", "ray"])
    ap.add_argument("--sizes", type=int, nargs="+", default=[7, 50, 205])
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--stages", action="store_true", help="clients: also the peak inside each stage of the run")
    ap.add_argument("--markdown", action="store_true", help="only rewrite results/memory_WHAT.md from its .json")
    args = ap.parse_args()
    results = HERE / "results"
    if args.markdown:
        out = json.loads((results / f"memory_{args.what}.json").read_text())
    else:
        out = clients(args.sizes, args.set, args.stages) if args.what == "clients" else ray(args.set)
        out["machine"] = f"{platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}"
        out["date"] = time.strftime("%Y-%m-%d")
        results.mkdir(exist_ok=True)
        (results / f"memory_{args.what}.json").write_text(json.dumps(out, indent=2))
    md = markdown(args.what, out)
    (results / f"memory_{args.what}.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
