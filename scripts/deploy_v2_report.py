"""docs/results/deploy_v2 (issue 43): `borderless deploy local configs/demo_prompt.toml` beside
`borderless run configs/demo_prompt.toml` (federated paradigms), per language, each score beside its probe
and the majority class; equal or not, said in numbers.

    .venv/bin/borderless run configs/demo_prompt.toml -o docs/results/deploy_v2/in_process \\
        --set 'run.paradigms=["federated", "federated_personal"]'
    .venv/bin/borderless deploy local configs/demo_prompt.toml -o docs/results/deploy_v2/flower
    .venv/bin/python scripts/deploy_v2_report.py [docs/results/deploy_v2] [--run in_process --deploy flower]

``--run`` / ``--deploy`` name the two results folders inside it; the comparison is written to
comparison[_<deploy>].md / .json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

NAMES = {"federated": "federated", "federated_personal": "federated + personal"}


def compare(folder: Path, run: str = "in_process", deploy: str = "flower") -> tuple[str, dict]:
    ref = json.loads((folder / run / "results.json").read_text())
    dep = json.loads((folder / deploy / "results.json").read_text())
    langs = dep["languages"]
    out = {"equal": {}, "max_abs_diff": {}}
    lines = ["| language | majority class | " + " | ".join(
        f"{NAMES[n]}: run / deploy (probe: run / deploy)" for n in NAMES) + " |", "|---|---:|" + "---|" * len(NAMES)]
    for l in langs + ["mean"]:
        cells = []
        for n in NAMES:
            r, d = ref["paradigms"][n], dep["paradigms"][n]
            rp, dp = ref["probes"][n], dep["probes"][n]
            if l == "mean":
                cells.append(f"**{100 * r['mean_accuracy']:.1f} / {100 * d['mean_accuracy']:.1f}** "
                             f"({100 * rp['mean_accuracy']:.1f} / {100 * dp['mean_accuracy']:.1f})")
            else:
                cells.append(f"{100 * r['test_accuracy'][l]:.1f} / {100 * d['test_accuracy'][l]:.1f} "
                             f"({100 * rp['test_accuracy'][l]:.1f} / {100 * dp['test_accuracy'][l]:.1f})")
        maj = (sum(dep["majority_class_accuracy"].values()) / len(langs) if l == "mean"
               else dep["majority_class_accuracy"][l])
        lines.append(f"| {l} | {100 * maj:.1f} | " + " | ".join(cells) + " |")
    for n in NAMES:
        r, d = ref["paradigms"][n], dep["paradigms"][n]
        diffs = [abs(r["test_accuracy"][l] - d["test_accuracy"][l]) for l in langs]
        diffs += [abs(ref["probes"][n]["test_accuracy"][l] - dep["probes"][n]["test_accuracy"][l]) for l in langs]
        out["max_abs_diff"][n] = max(diffs)
        out["equal"][n] = (max(diffs) == 0.0 and r["stopping"] == d["stopping"]
                           and r.get("chosen_on_dev") == d.get("chosen_on_dev"))
        lines.append("")
        lines.append(f"- {NAMES[n]}: stopping run {r['stopping'].get('all')} / deploy {d['stopping'].get('all')}; "
                     f"dev selection kept run {r.get('chosen_on_dev')} / deploy {d.get('chosen_on_dev')}; "
                     f"largest difference in any test or probe accuracy: {100 * max(diffs):.2f} points.")
    lines += ["", f"Wall time: `borderless run` (federated paradigms, all probes) {ref['paradigms']['federated']['wall_s']:.0f} s "
              f"for federated; `deploy local` {dep['wall_s']:.0f} s in all (probes, {dep['rounds_taken']} rounds, "
              f"personal adaptation, on {len(langs)} SuperNodes sharing the machine). Probe traffic "
              f"{dep['communication']['probe_bytes_per_client']:,} bytes per node; training "
              f"{dep['communication']['bytes_per_client_per_round_up']:,.0f} bytes up per node per round."]
    return "\n".join(lines), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder", nargs="?", default="docs/results/deploy_v2")
    ap.add_argument("--run", default="in_process")
    ap.add_argument("--deploy", default="flower")
    args = ap.parse_args()
    folder = Path(args.folder)
    table, facts = compare(folder, args.run, args.deploy)
    name = "comparison" if args.deploy == "flower" else f"comparison_{args.deploy}"
    (folder / f"{name}.md").write_text(table + "\n")
    (folder / f"{name}.json").write_text(json.dumps(facts, indent=2) + "\n")
    print(table)
    print(json.dumps(facts))


if __name__ == "__main__":
    main()
