"""Per-family summaries for runs with many languages (SIB-200's 205): a 205-row table is unreadable on
a screen, so above ``MANY_LANGUAGES`` the report shows one row per language family (the top of each
language's Glottolog lineage, via URIEL+) and the full per-language table goes to files beside it."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

MANY_LANGUAGES = 25  # above this many trained languages, report.md shows families, not languages
UNCLASSIFIED = "unclassified"


def family_of(codes: list[str]) -> dict[str, str]:
    """Language → family (Glottolog top-level, e.g. 'Atlantic-Congo'; isolates by name); a code URIEL
    cannot map is 'unclassified' rather than an error, so a user's own language codes never stop a report.
    Read from URIEL+'s Glottolog tables without loading its knowledge base (230 MiB at 205 languages)."""
    from borderless.language.codes import family

    return {c: family(c) or UNCLASSIFIED for c in codes}


def _columns(summary: dict) -> list[tuple[str, dict[str, float]]]:
    """(column name, language → accuracy): the majority class, each paradigm's probe, each paradigm."""
    cols = []
    if summary.get("majority_class_accuracy"):
        cols.append(("majority class", summary["majority_class_accuracy"]))
    probes = summary.get("probes") or {}
    short = {"monolingual": "mono", "centralized": "central", "federated": "fed", "federated_personal": "fed+pers"}
    for p in probes:
        cols.append((f"probe: {short.get(p, p)}", probes[p]["test_accuracy"]))
    for p, r in summary["paradigms"].items():
        cols.append((p, r["test_accuracy"]))
    return cols


def family_rows(summary: dict, families: dict[str, str]) -> list[dict]:
    """One row per family of the trained languages, largest family first: its languages, the mean of
    every column over them, and its worst language under the last paradigm."""
    members: dict[str, list[str]] = defaultdict(list)
    for lang in summary["languages"]:
        members[families.get(lang, UNCLASSIFIED)].append(lang)
    cols = _columns(summary)
    last = list(summary["paradigms"])[-1]
    rows = []
    for fam, langs in sorted(members.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        acc = summary["paradigms"][last]["test_accuracy"]
        worst = min(langs, key=lambda l: acc[l])
        rows.append({"family": fam, "languages": langs,
                     "means": {name: sum(v[l] for l in langs) / len(langs) for name, v in cols},
                     "worst": (worst, acc[worst])})
    return rows


def family_table(summary: dict, families: dict[str, str]) -> str:
    """Markdown: family, number of languages, mean test accuracy (%) per column, worst language."""
    rows = family_rows(summary, families)
    names = [name for name, _ in _columns(summary)]
    last = list(summary["paradigms"])[-1]
    head = ["family", "languages", *names, f"worst ({last})"]
    lines = ["| " + " | ".join(head) + " |", "|---|---:|" + "---:|" * len(names) + "---|"]
    for r in rows:
        lines.append(f"| {r['family']} | {len(r['languages'])} | "
                     + " | ".join(f"{100 * r['means'][n]:.1f}" for n in names)
                     + f" | {r['worst'][0]} {100 * r['worst'][1]:.1f} |")
    n = len(summary["languages"])
    means = {name: sum(v[l] for l in summary["languages"]) / n for name, v in _columns(summary)}
    lines.append(f"| **all** | {n} | " + " | ".join(f"**{100 * means[x]:.1f}**" for x in names) + " | |")
    return "\n".join(lines)


def write_language_csv(summary: dict, families: dict[str, str], path: Path) -> None:
    """Every trained and zero-shot language with its family, training size and every column (one
    atomic write: whole or absent)."""
    import io

    from borderless.atomic_files import write_text

    cols = _columns(summary)
    zero = summary.get("zero_shot") or []
    fh = io.StringIO(newline="")
    w = csv.writer(fh)
    w.writerow(["language", "family", "zero_shot", "train_examples", *[name for name, _ in cols]])
    for lang in summary["languages"]:
        w.writerow([lang, families.get(lang, UNCLASSIFIED), False, summary["examples"][lang]["train"],
                    *[f"{100 * v[lang]:.2f}" for _, v in cols]])
    for lang in zero:
        row = [lang, families.get(lang, UNCLASSIFIED), True, 0]
        for name, v in cols:  # a paradigm's zero-shot accuracy; probes and majority where they have one
            acc = summary["paradigms"][name].get("zero_shot_accuracy", {}) if name in summary["paradigms"] else v
            row.append(f"{100 * acc[lang]:.2f}" if lang in acc else "")
        w.writerow(row)
    write_text(Path(path), fh.getvalue())


def plot_family_bars(summary: dict, families: dict[str, str], path: Path) -> None:
    """Mean test accuracy per family (languages in brackets), the centralized probe and each paradigm."""
    import numpy as np

    from borderless.plotting import pyplot, save_figure

    plt = pyplot()
    rows = family_rows(summary, families)
    shown = [n for n, _ in _columns(summary) if n == "probe: central" or n in summary["paradigms"]]
    x = np.arange(len(rows))
    width = 0.8 / len(shown)
    fig, ax = plt.subplots(figsize=(max(6, 0.55 * len(rows)), 4.2))
    for i, name in enumerate(shown):
        ax.bar(x + (i - (len(shown) - 1) / 2) * width, [100 * r["means"][name] for r in rows], width, label=name)
    ax.set_xticks(x, [f"{r['family']} ({len(r['languages'])})" for r in rows], rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("mean test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.legend(ncol=len(shown), fontsize=8, loc="upper center", bbox_to_anchor=(0.5, 1.15))
    save_figure(fig, path)
