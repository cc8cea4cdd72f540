"""The data-size table (issue 11): mean ± std over 3 seeds at each training-set size, from the seeds
reports written by scripts/data_sizes.sh (50, 100, 200) and docs/results/seven_full (701).

    .venv/bin/python scripts/data_sizes_table.py   → docs/results/data_sizes/README.md
"""

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "docs" / "results"
POINTS = [(50, "data_sizes/cap50"), (100, "data_sizes/cap100"), (200, "data_sizes/cap200"), (701, "seven_full")]
PARADIGMS = ("monolingual", "centralized", "federated", "federated_personal")
SHORT = {"monolingual": "mono", "centralized": "central", "federated": "fed", "federated_personal": "fed+pers"}
GAINS = ("federated − monolingual", "federated_personal − monolingual", "federated − centralized")


def ms(v):
    return f"{100 * v[0]:.1f} ± {100 * v[1]:.1f}"


def main() -> None:
    head = (["train / language", "seeds"] + [f"probe {SHORT[p]}" for p in PARADIGMS[:3]]
            + [SHORT[p] for p in PARADIGMS] + ["fed − mono", "fed+pers − mono", "fed − central"])
    lines = ["# Data sizes: seven SIB-200 languages, the converged recipe, 3 seeds", "",
             "Mean test accuracy over eng, fra, hin, swh, hau, yor, amh (%, mean ± std over seeds 0, 1, 2; "
             "majority class 25.0). 50-200: `configs/demo_prompt.toml` with `data.max_train_per_language` set "
             "(6 rounds × 5 steps × batch 8, dev 40 per language; `bash scripts/data_sizes.sh`; "
             "cap200/seed0 is the committed demo run, the same config). 701: `configs/seven_full.toml` "
             "(20 rounds, whole dev split). ⚠: a seed below its own probe.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for size, rel in POINTS:
        path = ROOT / rel / "results.json"
        if not path.exists():
            lines.append(f"| {size} | not run | " + " | " * (len(head) - 3) + " |")
            continue
        s = json.loads(path.read_text())
        row = [str(size), str(len(s["seeds"]))]
        row += [ms(s["probes"][p]["mean_accuracy"]) for p in PARADIGMS[:3]]
        row += [ms(s["paradigms"][p]["mean_accuracy"]) + (" ⚠" if s["paradigms"][p]["below_probe"] else "")
                for p in PARADIGMS]
        row += [f"{100 * s['gains'][g][0]:+.1f} ± {100 * s['gains'][g][1]:.1f}" for g in GAINS]
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "Each size's per-language table is in its folder's report.md; every seed's run folder has "
              "its own report, metrics and plots.", ""]
    out = ROOT / "data_sizes" / "README.md"
    out.write_text("\n".join(lines))
    print(out.read_text())


if __name__ == "__main__":
    main()
