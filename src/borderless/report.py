"""The Markdown report and plots of one results folder."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from borderless.plotting import pyplot, save_figure


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def accuracy_table(summary: dict) -> str:
    paradigms = list(summary["paradigms"])
    delta = "federated" in paradigms and "monolingual" in paradigms
    head = ["language", "train ex."] + paradigms + (["fed − mono"] if delta else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for lang in summary["languages"]:
        accs = [summary["paradigms"][p]["test_accuracy"][lang] for p in paradigms]
        row = [lang, str(summary["examples"][lang]["train"])] + [_pct(a) for a in accs]
        if delta:
            d = summary["paradigms"]["federated"]["test_accuracy"][lang] - summary["paradigms"]["monolingual"]["test_accuracy"][lang]
            row.append(f"{100 * d:+.1f}")
        lines.append("| " + " | ".join(row) + " |")
    means = [summary["paradigms"][p]["mean_accuracy"] for p in paradigms]
    row = ["**mean**", ""] + [f"**{_pct(m)}**" for m in means]
    if delta:
        row.append(f"**{100 * (summary['paradigms']['federated']['mean_accuracy'] - summary['paradigms']['monolingual']['mean_accuracy']):+.1f}**")
    lines.append("| " + " | ".join(row) + " |")
    worst = ["worst", ""] + [f"{_pct(summary['paradigms'][p]['worst_accuracy'])} ({summary['paradigms'][p]['worst_language']})"
                             for p in paradigms] + ([""] if delta else [])
    lines.append("| " + " | ".join(worst) + " |")
    return "\n".join(lines)


def plot_accuracy_bars(summary: dict, path: Path) -> None:
    plt = pyplot()
    import numpy as np

    langs, paradigms = summary["languages"], list(summary["paradigms"])
    x = np.arange(len(langs))
    width = 0.8 / len(paradigms)
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(langs)), 3.8))
    for i, p in enumerate(paradigms):
        vals = [100 * summary["paradigms"][p]["test_accuracy"][l] for l in langs]
        ax.bar(x + (i - (len(paradigms) - 1) / 2) * width, vals, width, label=p)
    ax.set_xticks(x, langs, rotation=30, ha="right")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.legend(ncol=len(paradigms), fontsize=8, loc="upper center", bbox_to_anchor=(0.5, 1.15))
    save_figure(fig, path)


def plot_dev_curves(rows: list[dict], path: Path) -> bool:
    plt = pyplot()

    curves: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        if r.get("split") == "dev":
            curves[r["paradigm"]][r["round"]].append(r["accuracy"])
    if not curves:
        return False
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for p, by_round in curves.items():
        rounds = sorted(by_round)
        ax.plot(rounds, [100 * sum(by_round[r]) / len(by_round[r]) for r in rounds], marker="o", label=p)
    ax.set_xlabel("round (monolingual/centralized: same number of steps)")
    ax.set_ylabel("mean dev accuracy (%)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    save_figure(fig, path)
    return True


def zero_shot_section(summary: dict) -> list[str]:
    zs = summary.get("zero_shot") or []
    if not zs:
        return []
    paradigms = list(summary["paradigms"])
    pairs = (summary.get("distances") or {}).get("pairs", {})
    kind = (summary.get("distances") or {}).get("kind", "")

    def dist(a: str, b: str):
        return pairs.get("|".join(sorted((a, b))))

    lines = ["## Zero-shot languages (evaluated, never trained)", "",
             f"| language | nearest training language ({kind} distance) | " + " | ".join(paradigms) + " |",
             "|---|---|" + "---|" * len(paradigms)]
    for z in zs:
        known = [(dist(z, t), t) for t in summary["languages"] if dist(z, t) is not None]
        near = f"{min(known)[1]} ({min(known)[0]:.3f})" if known else "n/a"
        lines.append(f"| {z} | {near} | " + " | ".join(_pct(summary["paradigms"][p]["zero_shot_accuracy"][z])
                                                      for p in paradigms) + " |")
    lines += [""] + [f"- {p}: {summary['paradigms'][p]['zero_shot_via'].get(zs[0], '')}" for p in paradigms] + [""]
    return lines


def write_report(folder: Path, summary: dict) -> Path:
    folder = Path(folder)
    rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines() if line.strip()]
    (folder / "plots").mkdir(exist_ok=True)
    plot_accuracy_bars(summary, folder / "plots" / "accuracy_by_language.png")
    has_curves = plot_dev_curves(rows, folder / "plots" / "dev_accuracy_by_round.png")
    c, m, comm = summary["config"], summary["method"], summary["communication"]
    lines = [
        "# borderless run report",
        "",
        f"Backbone **{summary['backbone']['name']}** ({summary['backbone']['parameters']:,} parameters, frozen); "
        f"method **{m['name']}** ({m.get('description', '')}).",
        f"Seed {c['run']['seed']}; {c['federated']['rounds']} rounds × {c['train']['local_steps']} local steps × "
        f"batch {c['train']['batch_size']}; lr {c['train']['lr']} (prompt), {c['train']['head_lr'] or c['train']['lr']} (head), "
        f"{c['train']['optimizer']}; aggregation {c['federated']['aggregator']}.",
        "",
        "## Test accuracy (%) per language",
        "",
        accuracy_table(summary),
        "",
    ] + zero_shot_section(summary) + [
        "## Cost",
        "",
        f"- Trainable parameters: **{m['trainable_parameters']:,}** "
        f"({m['trainable_percent_of_backbone']:.4f} % of the backbone)",
        f"- Bytes sent per client per round: **{comm['bytes_per_client_per_round_up']:,}** up, "
        f"{comm['bytes_per_client_per_round_down']:,} down (float32 trainable state)",
        "",
        "| paradigm | training examples processed | wall-clock (s) |",
        "|---|---|---|",
    ]
    for p, r in summary["paradigms"].items():
        lines.append(f"| {p} | {r['train_examples_processed']:,} | {r['wall_s']} |")
    lines += ["", "## Plots", "", "![accuracy by language](plots/accuracy_by_language.png)"]
    if has_curves:
        lines.append("![dev accuracy by round](plots/dev_accuracy_by_round.png)")
    if c["run"].get("language_analysis", True) and len(summary["languages"]) >= 3:
        from borderless.language.analysis import language_section

        accuracy = {p: r["test_accuracy"] for p, r in summary["paradigms"].items()}
        lines += [""] + language_section(summary["languages"], accuracy, folder / "plots",
                                         tokenization=summary.get("tokenization"))
    lines += [
        "",
        "Compute budget: every paradigm processes the same number of training examples "
        "(rounds × local steps × batch per language); monolingual clients see exactly the batches their "
        "federated counterparts see. All paradigms start from the same initial prompt and head.",
        "",
    ]
    path = folder / "report.md"
    path.write_text("\n".join(lines))
    return path
