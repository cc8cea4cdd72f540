"""The attack study's table and plot, from its cells (``scripts/robustness.sh``): for every attack x
aggregation rule, the mean test accuracy over all languages and the worst honest language's,
averaged over the attackers run so far, beside the no-attack row (what each rule costs when no one
attacks), the majority class and the federated probe.

    .venv/bin/python scripts/robustness_report.py docs/results/robustness
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

ATTACK_ORDER = ("none", "sign_flip", "gaussian", "label_flip", "nan")
RULE_ORDER = ("fedavg", "median", "trimmed_mean", "krum", "clipped_fedavg")


def read_cells(folder: Path) -> list[dict]:
    cells = []
    for path in sorted((folder / "cells").glob("*/results.json")):
        r = json.loads(path.read_text())
        fed, cfg = r["paradigms"]["federated"], r["config"]["federated"]
        attackers = list(cfg.get("attack_clients", [])) if cfg.get("attack", "none") != "none" else []
        acc = fed["test_accuracy"]
        honest = {l: a for l, a in acc.items() if l not in attackers}
        cells.append({"cell": path.parent.name, "attack": cfg.get("attack", "none"), "rule": cfg["aggregator"],
                      "attacker": attackers[0] if attackers else "", "mean": statistics.fmean(acc.values()),
                      "honest_mean": statistics.fmean(honest.values()), "honest_worst": min(honest.values()),
                      "rejected": len(fed.get("rejected_updates", [])), "accuracy": acc,
                      "majority": statistics.fmean(r["majority_class_accuracy"].values())
                      if isinstance(r.get("majority_class_accuracy"), dict) else r.get("majority_class_accuracy"),
                      "probe": r["probes"]["federated"]["mean_accuracy"]
                      if isinstance(r["probes"]["federated"], dict) and "mean_accuracy" in r["probes"]["federated"]
                      else fed.get("probe_mean_accuracy")})
    return cells


def table(cells: list[dict]) -> tuple[dict, list[str], list[str]]:
    """{(attack, rule): (mean, honest worst, attackers)} averaged over attackers."""
    grid: dict[tuple[str, str], list[dict]] = {}
    attackers = {c["attacker"] for c in cells if c["attacker"]}
    for c in cells:
        if c["attack"] == "none" and attackers:  # the same languages as the attack rows' "honest" ones
            c = {**c, "honest_worst": min(a for l, a in c["accuracy"].items() if l not in attackers)}
        grid.setdefault((c["attack"], c["rule"]), []).append(c)
    attacks = [a for a in ATTACK_ORDER if any(k[0] == a for k in grid)]
    rules = [r for r in RULE_ORDER if any(k[1] == r for k in grid)]
    out = {k: (statistics.fmean(c["mean"] for c in v), statistics.fmean(c["honest_worst"] for c in v),
               sorted({c["attacker"] for c in v if c["attacker"]}), sum(c["rejected"] for c in v))
           for k, v in grid.items()}
    return out, attacks, rules


def markdown(cells: list[dict]) -> str:
    out, attacks, rules = table(cells)
    floors = cells[0]
    attackers = sorted({c["attacker"] for c in cells if c["attacker"]})
    lines = ["# Attack study: one hostile client, FedAvg against robust rules", "",
             f"{len(cells)} cells (`configs/robustness.toml`, `bash scripts/robustness.sh`): seven SIB-200 languages, "
             "federated prompt tuning on a fixed budget, one client attacking every round "
             f"(attacker(s) so far: {', '.join(attackers) or 'none yet'}; averaged over them). "
             f"Floors: majority class {100 * floors['majority']:.1f} %, federated probe "
             f"{100 * floors['probe']:.1f} %. Each cell: mean test accuracy over all seven languages / the "
             "worst honest language (%; in the no-attack row too, the attackers' languages are left out of "
             "the worst, so the rows compare the same languages); `r` = updates the server refused "
             "(non-finite values).", "",
             "| attack | " + " | ".join(rules) + " |", "|---|" + "---|" * len(rules)]
    for a in attacks:
        row = []
        for r in rules:
            if (a, r) in out:
                mean, worst, _, rejected = out[(a, r)]
                row.append(f"{100 * mean:.1f} / {100 * worst:.1f}" + (f" (r {rejected})" if rejected else ""))
            else:
                row.append("—")
        lines.append(f"| {a} | " + " | ".join(row) + " |")
    lines += ["", "![accuracy per attack and rule](accuracy.png)", ""]
    return "\n".join(lines)


def plot(cells: list[dict], path: Path) -> None:
    from borderless.plotting import pyplot, save_figure

    out, attacks, rules = table(cells)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(5, 1.4 * len(attacks) + 2), 3.4))
    width = 0.8 / max(len(rules), 1)
    for i, r in enumerate(rules):
        xs = [j - 0.4 + width * (i + 0.5) for j in range(len(attacks))]
        ax.bar(xs, [100 * out[(a, r)][0] if (a, r) in out else 0 for a in attacks], width, label=r)
    ax.axhline(100 * cells[0]["majority"], color="grey", ls=":", lw=1, label="majority class")
    ax.set_xticks(range(len(attacks)))
    ax.set_xticklabels(attacks)
    ax.set_ylabel("mean test accuracy (%)")
    ax.legend(fontsize=7, ncol=3)
    save_figure(fig, path)


def main(folder: Path) -> None:
    cells = read_cells(folder)
    if not cells:
        sys.exit(f"{folder}/cells: no finished cells yet (run scripts/robustness.sh)")
    (folder / "README.md").write_text(markdown(cells))
    plot(cells, folder / "accuracy.png")
    print(f"{folder}/README.md: {len(cells)} cells")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]))
