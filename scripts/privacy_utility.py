"""Privacy–utility study (issue 45, item 3): the demo's seven languages, example-level DP (DP-SGD in
every client) at ε ∈ {1, 3, 8} and without DP (∞), δ = 1e-5, for each method × paradigm cell.

    .venv/bin/python scripts/privacy_utility.py [--eps 8 inf] [--methods prompt] [--seeds 0]
                                                [-o docs/results/privacy/utility] [--summary-only]
                                                [--set KEY=VALUE ...  -o a folder of its own]

Every cell is configs/demo_prompt.toml's recipe (LP-FT, prompt lr 0.03, head lr 0.003, 6 rounds × 5 steps,
dev stopping) with one change for every cell, DP or not: no probe may be reported as the model
(train.probe_candidate = false; under DP the non-private probe is no DP model). Under DP the LP-FT
probe is itself fitted with DP-SGD (privacy.probe_*), its steps counted in ε, and it is the floor.
Paradigms: monolingual, centralized, federated (federated + personal would spend more of each
client's budget).

`--set` changes the recipe of every cell (a DP learning rate or batch, say), after the method's own
keys; the privacy keys stay the grid's, and a changed recipe must write to a folder other than the
default one, so its cells never mix with the study's table.

Per cell, <out>/<method>/eps<ε>/seed<s>/ is an ordinary results folder. Resumable: a finished cell
(results.json) is skipped, a killed one continues from its checkpoint. One backbone for every run.
After each cell, <out>/summary.md and summary.json are rewritten: mean test accuracy per paradigm
beside its (non-private) frozen probe and the majority class, the ε each paradigm reached, and
plots/accuracy_vs_epsilon.png
(mean over seeds, bars one SD); with more than one seed, an "Across seeds" table gives mean ± SD.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path

from borderless.metrics import mean_std

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "docs" / "results" / "privacy" / "utility"  # the study's own table
PARADIGMS = ("monolingual", "centralized", "federated")
METHOD_SETS = {  # per-method learning rates, as configs/study_v2.toml's compare.overrides
    "prompt": [],
    "lora": ['method.name="lora"', "train.lr=0.003"],
    "full": ['method.name="full"', "train.lr=3e-5"],
}


def overrides(method: str, eps: float, seed: int, extra: list[str] = ()) -> list[str]:
    out = ["train.probe_candidate=false", f'run.paradigms={json.dumps(list(PARADIGMS))}', f"run.seed={seed}",
           *METHOD_SETS[method], *extra]
    if math.isfinite(eps):
        out += ['privacy.mechanism="example"', f"privacy.target_epsilon={eps}"]
    return out


def cell_folder(out: Path, method: str, eps: float, seed: int) -> Path:
    return out / method / (f"eps{eps:g}" if math.isfinite(eps) else "epsinf") / f"seed{seed}"


def run_cell(base: Path, method: str, eps: float, seed: int, folder: Path, backbone, extra: list[str] = ()) -> str:
    from borderless.config import load_config
    from borderless.runner import run_or_resume

    cfg = load_config(base, overrides(method, eps, seed, extra))
    return run_or_resume(cfg, folder, backbone)


def summarise(out: Path) -> dict:
    rows = []
    for res in sorted(out.glob("*/eps*/seed*/results.json")):
        s = json.loads(res.read_text())
        method, eps_name, seed = res.parts[-4], res.parts[-3], int(res.parts[-2][4:])
        eps = math.inf if eps_name == "epsinf" else float(eps_name[3:])
        majority = statistics.fmean(s["majority_class_accuracy"][l] for l in s["languages"])
        for p in PARADIGMS:
            if p in s["paradigms"]:
                r = s["paradigms"][p]
                rows.append({"method": method, "epsilon_target": eps, "seed": seed, "paradigm": p,
                             "mean": r["mean_accuracy"], "probe": r["probe_mean_accuracy"], "majority": majority,
                             "dp_probe": r.get("dp_probe_mean_accuracy"),
                             "epsilon": (r.get("privacy") or {}).get("epsilon", math.inf),
                             "wall_s": r["wall_s"]})
    return {"rows": rows, "across_seeds": across_seeds(rows)}


def across_seeds(rows: list[dict]) -> list[dict]:
    """Per method × ε: each paradigm's accuracy as mean and sample SD over the seeds it ran, and
    federated − monolingual paired by seed (only seeds where both ran)."""
    out = []
    for method, eps in sorted({(r["method"], r["epsilon_target"]) for r in rows},
                              key=lambda k: (k[0], -k[1] if math.isfinite(k[1]) else -1e9)):
        cell = [r for r in rows if r["method"] == method and r["epsilon_target"] == eps]
        by = {p: {r["seed"]: r for r in cell if r["paradigm"] == p} for p in PARADIGMS}
        entry = {"method": method, "epsilon_target": eps, "seeds": sorted({r["seed"] for r in cell})}
        for p in PARADIGMS:
            if by[p]:
                m, sd = mean_std([r["mean"] for r in by[p].values()])
                dp = [r["dp_probe"] for r in by[p].values() if r["dp_probe"] is not None]
                entry[p] = {"n": len(by[p]), "mean": m, "sd": sd,
                            "dp_probe_mean": statistics.fmean(dp) if dp else None}
        paired = sorted(set(by["federated"]) & set(by["monolingual"]))
        if paired:
            m, sd = mean_std([by["federated"][s]["mean"] - by["monolingual"][s]["mean"] for s in paired])
            entry["fed_minus_mono"] = {"n": len(paired), "mean": m, "sd": sd}
        out.append(entry)
    return out


def _pm(c: dict | None, signed: bool = False) -> str:
    if not c:
        return "—"
    return f"{100 * c['mean']:{'+' if signed else ''}.1f}" + (f" ± {100 * c['sd']:.1f}" if c["n"] > 1 else "")


def _eps(e: float) -> str:
    return "∞" if not math.isfinite(e) else f"{e:g}"


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}"


def _eps_reached(e: float) -> str:
    return "∞ (no DP)" if not math.isfinite(e) else f"{e:.2f}"


def write_summary(out: Path) -> None:
    data = summarise(out)
    rows = data["rows"]
    (out / "summary.json").write_text(json.dumps(data, indent=2, default=str))
    lines = ["# Privacy–utility: example-level DP (DP-SGD) on the demo's seven languages", "",
             "Mean test accuracy (%) over the seven languages; the frozen probe (non-private: fitted without noise) "
             "and the majority class beside it. ε: what the accountant (RDP, dp-accounting) gives for the steps "
             "each paradigm took, at δ = 1e-5, largest over its parties. Written by scripts/privacy_utility.py.", "",
             "| method | target ε | seed | paradigm | accuracy | DP probe (same ε; its start) | probe (non-private) | majority | ε reached | wall (s) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (r["method"], -r["epsilon_target"] if math.isfinite(r["epsilon_target"]) else -1e9,
                                         r["seed"], PARADIGMS.index(r["paradigm"]))):
        lines.append(f"| {r['method']} | {_eps(r['epsilon_target'])} | {r['seed']} | {r['paradigm']} | "
                     f"{100 * r['mean']:.1f} | {_pct(r['dp_probe'])} | "
                     f"{100 * r['probe']:.1f} | {100 * r['majority']:.1f} | "
                     f"{_eps_reached(r['epsilon'])} | {r['wall_s']:.0f} |")
    lines += ["", "## Across seeds", "",
              "Mean ± sample SD over the seeds each cell ran (no ± for one seed); the DP probe's mean in brackets; "
              "federated − monolingual paired by seed.", "",
              "| method | target ε | seeds | monolingual | centralized | federated | fed − mono |",
              "|---|---|---|---|---|---|---|"]
    for c in data["across_seeds"]:
        def col(p: str) -> str:
            cp = c.get(p)
            probe = cp and cp["dp_probe_mean"]
            return _pm(cp) + (f" ({100 * probe:.1f})" if probe is not None else "")
        lines.append(f"| {c['method']} | {_eps(c['epsilon_target'])} | {', '.join(map(str, c['seeds']))} | "
                     f"{col('monolingual')} | {col('centralized')} | {col('federated')} | "
                     f"{_pm(c.get('fed_minus_mono'), signed=True)} |")
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    _plot(out, rows, data["across_seeds"])


def _plot(out: Path, rows: list[dict], cells: list[dict]) -> None:
    if not rows:
        return
    from borderless.plotting import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    finite = sorted({r["epsilon_target"] for r in rows if math.isfinite(r["epsilon_target"])})
    xs = {e: i for i, e in enumerate(finite + [math.inf])}
    for (method, paradigm) in sorted({(r["method"], r["paradigm"]) for r in rows}):
        pts = sorted((xs[c["epsilon_target"]], 100 * c[paradigm]["mean"], 100 * c[paradigm]["sd"])
                     for c in cells if c["method"] == method and paradigm in c)
        ax.errorbar([p[0] for p in pts], [p[1] for p in pts], yerr=[p[2] for p in pts], marker="o", capsize=2,
                    label=f"{method} {paradigm}")
    ax.axhline(100 * rows[0]["majority"], color="grey", linestyle=":", label="majority class")
    ax.set_xticks(list(xs.values()), [_eps(e) for e in xs])
    ax.set_xlabel("ε (δ = 1e-5)")
    ax.set_ylabel("mean test accuracy (%)")
    ax.legend(fontsize=7)
    (out / "plots").mkdir(exist_ok=True)
    save_figure(fig, out / "plots" / "accuracy_vs_epsilon.png")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--eps", type=float, nargs="+", default=[1.0, 3.0, 8.0, math.inf])
    ap.add_argument("--methods", nargs="+", default=["prompt"], choices=sorted(METHOD_SETS))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--base", type=Path, default=REPO / "configs" / "demo_prompt.toml")
    ap.add_argument("-o", "--output", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--summary-only", action="store_true")
    ap.add_argument("--set", dest="extra", action="append", default=[], metavar="KEY=VALUE",
                    help="a recipe change for every cell (repeatable); needs -o a folder of its own")
    args = ap.parse_args(argv)
    if args.extra:
        bad = [e for e in args.extra if e.split("=", 1)[0].strip().startswith("privacy.")]
        if bad:
            ap.error(f"--set {bad[0]}: the privacy keys are the grid's (--eps); set the recipe only")
        if args.output.resolve() == DEFAULT_OUT.resolve():
            ap.error("--set changes the recipe: give -o a folder of its own, so its cells do not mix with the study's")
    args.output.mkdir(parents=True, exist_ok=True)
    if not args.summary_only:
        from borderless.backbones.resolve import load_configured
        from borderless.config import load_config

        backbone = load_configured(load_config(args.base).backbone)
        for method in args.methods:
            for eps in args.eps:
                for seed in args.seeds:
                    folder = cell_folder(args.output, method, eps, seed)
                    print(f"{method} ε={_eps(eps)} seed {seed}: "
                          f"{run_cell(args.base, method, eps, seed, folder, backbone, args.extra)}", file=sys.stderr, flush=True)
                    write_summary(args.output)
    write_summary(args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
