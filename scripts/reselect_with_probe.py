"""Apply the probe candidate (``train.probe_candidate``, borderless.probe_selection) to runs made
before it existed, from their own files: each paradigm's dev criterion of its kept state is read
back from metrics.jsonl (the dev rows of its best round / personal step), then the same selection a
new run makes is applied and results.json and report.md are rewritten. Training is not repeated and
does not depend on the selection, so the result equals rerunning the config with today's code.

    .venv/bin/python scripts/reselect_with_probe.py docs/results/demo_prompt docs/results/seven_full/seed0 ...

``--again`` re-applies today's selection to runs that were already selected (their tuned numbers are
kept in results.json as ``tuned_*``), for a change of the rule itself: the untrained start counting as
the probe (issue 42) was applied to held-out draws 0-4 this way.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

from borderless import probe_selection
from borderless.report import write_report


def dev_scores(summary: dict, rows: list[dict]) -> dict[str, dict[str, float]]:
    langs = summary["languages"]
    dev = {}
    for r in rows:
        if r.get("split") == "dev":
            step = r.get("personal_step", r["round"])
            dev[(r["paradigm"], step, r["lang"])] = r["accuracy"]
    out = {}
    for name, entry in summary["paradigms"].items():
        stop = entry.get("stopping") or {}
        if name == "monolingual":
            out[name] = {l: dev[(name, stop[l]["best_round"], l)] for l in langs}
        elif name in ("centralized", "federated"):
            who = "pooled" if name == "centralized" else "all"
            out[name] = {who: statistics.fmean(dev[(name, stop[who]["best_round"], l)] for l in langs)}
        elif name == "federated_personal":
            out[name] = {l: dev[(name, stop[l]["personal_steps"], l)] for l in langs}
    return out


NOTE = "probe_candidate = true  # applied afterwards by scripts/reselect_with_probe.py (training not repeated)"


def mark_config(path: Path) -> None:
    """The folder's config.toml says the selection it now reports (so the seeds report and a resume agree)."""
    if not path.exists():
        return
    lines = path.read_text(encoding="utf-8").splitlines()
    if any(line.startswith("probe_candidate") for line in lines):
        lines = [NOTE if line.startswith("probe_candidate") else line for line in lines]
    else:
        if "[train]" not in lines:
            lines.append("[train]")
        lines.insert(lines.index("[train]") + 1, NOTE)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def unselect(summary: dict) -> None:
    """Undo an earlier selection: each paradigm reports its tuned state again (dev_score is kept)."""
    langs = summary["languages"]
    for name, entry in summary["paradigms"].items():
        if "chosen_on_dev" not in entry:
            continue
        entry["test_accuracy"] = entry.pop("tuned_test_accuracy")
        entry["mean_accuracy"] = entry.pop("tuned_mean_accuracy")
        entry["zero_shot_accuracy"] = entry.pop("tuned_zero_shot_accuracy")
        worst = min(langs, key=lambda l: entry["test_accuracy"][l])
        entry.update(worst_language=worst, worst_accuracy=entry["test_accuracy"][worst],
                     below_probe=entry["mean_accuracy"] < summary["probes"][name]["mean_accuracy"] - 1e-9)
        for key in ("chosen_on_dev", "untrained"):
            entry.pop(key, None)


def reselect_again(folder: Path) -> str:
    """Today's rule on a run selected by an earlier one (training not repeated)."""
    path = folder / "results.json"
    summary = json.loads(path.read_text())
    if not any("chosen_on_dev" in e for e in summary["paradigms"].values()):
        return f"{folder}: never selected; run without --again"
    if "models" in summary:
        return f"{folder}: keeps its states (results.json 'models'); rerun it instead, so the kept files follow"
    before = {p: e["mean_accuracy"] for p, e in summary["paradigms"].items() if "chosen_on_dev" in e}
    unselect(summary)
    probe_selection.select(summary)
    summary["reselected_by"] = ("scripts/reselect_with_probe.py --again: the untrained start counts as the probe "
                                "(training not repeated)")
    from borderless.atomic_files import write_text

    write_report(folder, summary)
    write_text(path, json.dumps(summary, indent=2))
    kept = "; ".join(f"{p}: {100 * before[p]:.1f} → {100 * e['mean_accuracy']:.1f} "
                     f"({probe_selection.describe(e)}){' ⚠' if e['below_probe'] else ''}"
                     for p, e in summary["paradigms"].items() if p in before)
    return f"{folder}: {kept}"


def reselect(folder: Path) -> str:
    path = folder / "results.json"
    summary = json.loads(path.read_text())
    if summary["config"]["train"].get("stop") != "dev" or summary["method"]["name"] == "head":
        return f"{folder}: not selected on dev (stop = budget or the head method); unchanged"
    if any("chosen_on_dev" in e for e in summary["paradigms"].values()):
        return f"{folder}: already selected; unchanged"
    if summary.get("zero_shot"):
        return f"{folder}: has zero-shot languages (their nearest language is not in old results); rerun it instead"
    rows = [json.loads(x) for x in (folder / "metrics.jsonl").read_text().splitlines() if x.strip()]
    for name, scores in dev_scores(summary, rows).items():
        summary["paradigms"][name]["dev_score"] = scores
    summary["config"]["train"]["probe_candidate"] = True
    summary["zero_shot_nearest"] = {}
    summary["reselected_by"] = "scripts/reselect_with_probe.py (training not repeated)"
    probe_selection.select(summary)
    path.write_text(json.dumps(summary, indent=2))
    write_report(folder, summary)
    mark_config(folder / "config.toml")
    kept = "; ".join(f"{p}: {100 * e['tuned_mean_accuracy']:.1f} → {100 * e['mean_accuracy']:.1f} "
                     f"({probe_selection.describe(e)}){' ⚠' if e['below_probe'] else ''}"
                     for p, e in summary["paradigms"].items() if "chosen_on_dev" in e)
    return f"{folder}: {kept}"


if __name__ == "__main__":
    args = sys.argv[1:]
    again = "--again" in args
    folders = [a for a in args if a != "--again"]
    if not folders:
        sys.exit(__doc__)
    for arg in folders:
        print(reselect_again(Path(arg)) if again else reselect(Path(arg)))
