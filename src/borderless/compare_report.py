"""Tables and plots of a ``borderless compare`` folder: mean ± std over seeds for every cell group.

Reads only what the cells wrote (``results.json``, ``metrics.jsonl``), so a report can be
rebuilt at any time from the folder, including a partial one (missing cells are listed).
"""

from __future__ import annotations

import csv
import json
import statistics
from collections import Counter, defaultdict
from pathlib import Path

from borderless.compare_cells import Cell, expanded_paradigms
from borderless.config import Config
from borderless.metrics import mean_std as _mean_std
from borderless.plotting import pyplot, save_figure

SHORT = {"monolingual": "mono", "centralized": "central", "federated_iid": "fed-IID", "federated_non_iid": "fed-non-IID",
         "federated_personal": "fed+personal"}


def label(paradigm: str) -> str:
    base, _, aggregator = paradigm.partition("@")
    return SHORT[base] + (f" ({aggregator})" if aggregator else "")


def _dev_curve(rows: list[dict]) -> dict[int, float]:
    """Mean dev accuracy over languages, per evaluated round."""
    by_round: dict[int, list[float]] = defaultdict(list)
    for r in rows:
        if r.get("split") == "dev":
            by_round[r["round"]].append(r["accuracy"])
    return {rnd: statistics.fmean(v) for rnd, v in sorted(by_round.items())}


def bytes_to_final(rows: list[dict]) -> tuple[int | None, int | None]:
    """(round, bytes) at which the federation first reached its final mean dev accuracy: the bytes
    sent up and down by all clients up to and including that round. (None, None) without curves
    or without communication (monolingual, centralized)."""
    curve = _dev_curve(rows)
    traffic: dict[int, int] = defaultdict(int)
    for r in rows:
        if "bytes_up" in r:
            traffic[r["round"]] += int(r["bytes_up"]) + int(r["bytes_down"])
    if not curve or not traffic:
        return None, None
    final = curve[max(curve)]
    reached = min(rnd for rnd, acc in curve.items() if acc >= final - 1e-12)
    return reached, sum(b for rnd, b in traffic.items() if rnd <= reached)


def _read_cell(folder: Path) -> tuple[dict, list[dict]] | None:
    path = folder / "results.json"
    if not path.exists():
        return None
    rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return json.loads(path.read_text()), rows


def data_facts(cfg: Config, need_tokenization: bool) -> tuple[dict[str, float], dict | None]:
    """Per training language, the majority class's share of the (capped) test split, the accuracy
    of always answering it; and, when the cells predate them, tokenizer statistics."""
    from borderless.data.sampling import stratified_cap
    from borderless.runner import load_data

    data = load_data(cfg)
    majority = {}
    for lang in list(data)[: len(cfg.data.languages)]:
        test = stratified_cap(data[lang].test, cfg.data.max_test_per_language, cfg.compare.seeds[0])
        counts = Counter(ex.label for ex in test)
        majority[lang] = max(counts.values()) / len(test)
    tokenization = None
    if need_tokenization:
        from borderless.backbones.resolve import load_configured
        from borderless.language.tokenization import stats_by_language

        tokenization = stats_by_language(load_configured(cfg.backbone).tokenizer, data, list(data))
    return majority, tokenization


def summarize(cfg: Config, folder: Path, cells: list[Cell]) -> dict:
    """Group cells by (method, paradigm, fraction); mean ± std over seeds."""
    folder = Path(folder)
    groups: dict[tuple[str, str, float], list[tuple[Cell, dict, list[dict]]]] = defaultdict(list)
    missing = []
    for cell in cells:
        got = _read_cell(folder / "cells" / cell.key)
        if got is None:
            missing.append(cell.key)
        else:
            groups[(cell.method, cell.paradigm, cell.fraction)].append((cell, *got))
    languages = list(cfg.data.languages)
    out_groups = []
    for (method, paradigm, fraction), members in groups.items():
        res0 = members[0][1]
        languages = res0["languages"]
        run_paradigm = next(iter(res0["paradigms"]))
        per_lang = {lang: [m[1]["paradigms"][run_paradigm]["test_accuracy"][lang] for m in members] for lang in languages}
        seed_means = [m[1]["paradigms"][run_paradigm]["mean_accuracy"] for m in members]
        rounds = res0["config"]["federated"]["rounds"]
        reach = [bytes_to_final(m[2]) for m in members]
        curves = {m[0].seed: _dev_curve(m[2]) for m in members}
        out_groups.append({
            "method": method, "paradigm": paradigm, "fraction": fraction,
            "seeds": [m[0].seed for m in members],
            "description": res0["method"]["description"],
            "trainable_parameters": res0["method"]["trainable_parameters"],
            "trainable_percent": res0["method"]["trainable_percent_of_backbone"],
            "bytes_per_client_per_round": (res0["communication"]["bytes_per_client_per_round_up"]
                                           if paradigm.startswith("federated") else 0),
            "zero_shot": res0.get("zero_shot", []),
            "zero_shot_accuracy": {z: dict(zip(("mean", "std"), _mean_std(
                [m[1]["paradigms"][run_paradigm]["zero_shot_accuracy"][z] for m in members])))
                for z in res0.get("zero_shot", [])},
            "train_examples_per_language": {l: res0["examples"][l]["train"] for l in languages},
            "accuracy": {lang: dict(zip(("mean", "std"), _mean_std(v))) for lang, v in per_lang.items()},
            "mean_accuracy": dict(zip(("mean", "std"), _mean_std(seed_means))),
            "per_seed_mean_accuracy": seed_means,
            "mean_per_language_seed_std": statistics.fmean(_mean_std(v)[1] for v in per_lang.values()),
            "worst_language_accuracy": min(statistics.fmean(v) for v in per_lang.values()),
            "rounds_to_final": [r for r, _ in reach],
            "bytes_to_final": _mean_std([b for _, b in reach if b is not None])[0] if any(b is not None for _, b in reach) else None,
            "wall_s_per_round": statistics.fmean(m[1]["paradigms"][run_paradigm]["wall_s"] / rounds for m in members),
            "wall_s": sum(m[1]["paradigms"][run_paradigm]["wall_s"] for m in members),
            "dev_curves": {str(s): {str(r): a for r, a in c.items()} for s, c in curves.items()},
            # the frozen-feature probe of this cell's own paradigm and data (older cells have none)
            "probe_mean_accuracy": (_mean_std([m[1]["paradigms"][run_paradigm]["probe_mean_accuracy"] for m in members])[0]
                                    if "probe_mean_accuracy" in res0["paradigms"][run_paradigm] else None),
            "optimizer_steps": statistics.fmean(m[1]["paradigms"][run_paradigm].get("optimizer_steps", 0) for m in members),
        })
    tokenization = next((g[0][1].get("tokenization") for g in groups.values() if g), None)
    majority, computed = data_facts(cfg, need_tokenization=tokenization is None)
    tokenization = tokenization or computed
    return {
        "languages": languages,
        "backbone": cfg.backbone.name,
        "methods": list(cfg.compare.methods),
        "paradigms": expanded_paradigms(cfg),
        "seeds": list(cfg.compare.seeds),
        "fractions": sorted(cfg.compare.fractions),
        "fraction_methods": list(cfg.compare.fraction_methods),
        "cells_total": len(cells),
        "cells_missing": missing,
        "tokenization": tokenization,
        "majority_class_accuracy": majority,
        "groups": out_groups,
        "config": cfg.to_dict(),
    }


def _group(summary: dict, method: str, paradigm: str, fraction: float = 1.0) -> dict | None:
    for g in summary["groups"]:
        if (g["method"], g["paradigm"], g["fraction"]) == (method, paradigm, fraction):
            return g
    return None


def _ms(d: dict | None, key: str | None = None) -> str:
    if d is None:
        return "—"
    v = d if key is None else d[key]
    return f"{100 * v['mean']:.1f} ± {100 * v['std']:.1f}"


def language_table(summary: dict) -> str:
    cols = [(m, p) for m in summary["methods"] for p in summary["paradigms"]]
    majority = summary.get("majority_class_accuracy") or {}
    head = ["language", "majority class"] + [f"{m}<br>{label(p)}" for m, p in cols]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for lang in summary["languages"]:
        cells = []
        for m, p in cols:
            g = _group(summary, m, p)
            cells.append(_ms(g["accuracy"][lang]) if g else "—")
        base = f"{100 * majority[lang]:.1f}" if lang in majority else ""
        lines.append(f"| {lang} | {base} | " + " | ".join(cells) + " |")
    base = f"{100 * statistics.fmean(majority.values()):.1f}" if majority else ""
    lines.append(f"| **mean** | {base} | " + " | ".join(f"**{_ms(_group(summary, m, p), 'mean_accuracy')}**"
                                                     for m, p in cols) + " |")
    return "\n".join(lines)


def _fmt_bytes(b: float | None) -> str:
    if b is None:
        return "—"
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if b >= size:
            return f"{b / size:.2f} {unit}"
    return f"{b:.0f} B"


def _probe(g: dict) -> str:
    return f"{100 * g['probe_mean_accuracy']:.1f}" if g.get("probe_mean_accuracy") is not None else "—"


def _below_probe(g: dict) -> bool:
    return (g.get("probe_mean_accuracy") is not None and g["method"] != "head"
            and g["mean_accuracy"]["mean"] < g["probe_mean_accuracy"] - 1e-9)


def cost_table(summary: dict) -> str:
    lines = ["| method | paradigm | mean acc. ± std over seeds | its probe | worst language | trainable params "
             "| % of backbone | bytes / client / round | bytes to reach final acc. (rounds) | steps (mean) "
             "| wall-clock / round (s) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for m in summary["methods"]:
        for p in summary["paradigms"]:
            g = _group(summary, m, p)
            if g is None:
                continue
            rounds = [r for r in g["rounds_to_final"] if r is not None]
            reach = f"{_fmt_bytes(g['bytes_to_final'])} ({statistics.fmean(rounds):.1f})" if rounds else "—"
            lines.append(
                f"| {m} | {label(p)} | {_ms(g, 'mean_accuracy')}{' ⚠' if _below_probe(g) else ''} | {_probe(g)} "
                f"| {100 * g['worst_language_accuracy']:.1f} "
                f"| {g['trainable_parameters']:,} | {g['trainable_percent']:.4f} "
                f"| {_fmt_bytes(g['bytes_per_client_per_round']) if g['bytes_per_client_per_round'] else '—'} "
                f"| {reach} | {g.get('optimizer_steps', 0):.0f} | {g['wall_s_per_round']:.1f} |")
    return "\n".join(lines)


def efficiency_table(summary: dict) -> str:
    fracs = summary["fractions"]
    lines = ["| method | paradigm | " + " | ".join(f"{100 * f:g} %" for f in fracs) + " |",
             "|---|---|" + "---|" * len(fracs)]
    for m in summary["fraction_methods"]:
        for p in summary["paradigms"]:
            row = [_ms(_group(summary, m, p, f), "mean_accuracy") for f in fracs]
            lines.append(f"| {m} | {label(p)} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def claims(summary: dict, method: str = "prompt") -> list[str]:
    """The paper's headline claims, each set against what this study measured."""
    mono, cent = _group(summary, method, "monolingual"), _group(summary, method, "centralized")
    def first_fed(m: str):
        for p in summary["paradigms"]:
            if p.startswith("federated_non_iid") and _group(summary, m, p):
                return _group(summary, m, p)
        return next((_group(summary, m, p) for p in summary["paradigms"]
                     if p.startswith("federated") and _group(summary, m, p)), None)

    fed, full = first_fed(method), first_fed("full")
    out = []
    majority = summary.get("majority_class_accuracy") or {}
    if majority:
        floor = statistics.fmean(majority.values())
        stuck = [f"{label(p)} {g['method']}" for g in summary["groups"] if g["fraction"] == 1.0
                 for p in [g["paradigm"]] if g["mean_accuracy"]["mean"] <= floor + 0.01]
        if stuck:
            out.append(f"**Warning:** at this budget {len(stuck)} method × paradigm cells are at or below always "
                       f"answering the majority class ({100 * floor:.1f} %): {', '.join(stuck)}. Their numbers, and "
                       "their seed variance, say nothing about the method; give them more rounds or steps.")
    below = [f"{label(g['paradigm'])} {g['method']} ({100 * g['mean_accuracy']['mean']:.1f} < {_probe(g)})"
             for g in summary["groups"] if g["fraction"] == 1.0 and _below_probe(g)]
    if below:
        out.append(f"**Warning:** {len(below)} tuned cells are below the frozen-feature probe of their own paradigm "
                   f"and data: {', '.join(below)}. A linear classifier on frozen features beats them: their recipe "
                   "needs fixing before their numbers mean anything.")
    if fed and mono:
        d = 100 * (fed["mean_accuracy"]["mean"] - mono["mean_accuracy"]["mean"])
        out.append(f"Federated {method} tuning vs monolingual: **{d:+.1f}** points (paper: +6.9).")
        fs, ms = 100 * fed["mean_per_language_seed_std"], 100 * mono["mean_per_language_seed_std"]
        out.append(f"Seed variance (per-language std over seeds, averaged): federated **{fs:.1f}** vs monolingual "
                   f"**{ms:.1f}** points: {'lower' if fs < ms else 'not lower'} for federated (paper: lower).")
    personal = _group(summary, method, "federated_personal")
    if personal and mono:
        d = 100 * (personal["mean_accuracy"]["mean"] - mono["mean_accuracy"]["mean"])
        out.append(f"Federated + personal {method} tuning vs monolingual: **{d:+.1f}** points.")
    if fed and cent:
        d = 100 * (cent["mean_accuracy"]["mean"] - fed["mean_accuracy"]["mean"])
        out.append(f"Centralized minus federated: **{d:+.1f}** points (paper: within ~1 point).")
    if fed:
        out.append(f"Trainable parameters: **{fed['trainable_percent']:.4f} %** of the backbone (paper: < 1 %).")
    if fed and full and full["bytes_per_client_per_round"]:
        red = 100 * (1 - fed["bytes_per_client_per_round"] / full["bytes_per_client_per_round"])
        out.append(f"Communication per client per round vs federated full fine-tuning: **{red:.3f} %** less "
                   "(paper: > 99 % less).")
    return out


def _fed_variant(summary: dict, method: str, aggregator: str | None = None) -> str | None:
    """The federated non-IID paradigm name for ``aggregator`` (None: the first one present)."""
    for p in summary["paradigms"]:
        base, _, agg = p.partition("@")
        if base == "federated_non_iid" and _group(summary, method, p) and (aggregator is None or agg == aggregator):
            return p
    return None


def zero_shot_table(summary: dict, method: str) -> str:
    groups = [(p, _group(summary, method, p)) for p in summary["paradigms"]]
    groups = [(p, g) for p, g in groups if g and g["zero_shot"]]
    if not groups:
        return ""
    zs = groups[0][1]["zero_shot"]
    lines = ["| zero-shot language | " + " | ".join(label(p) for p, _ in groups) + " |",
             "|---|" + "---|" * len(groups)]
    for z in zs:
        lines.append(f"| {z} | " + " | ".join(_ms(g["zero_shot_accuracy"][z]) for _, g in groups) + " |")
    return "\n".join(lines)


def aggregator_table(summary: dict, method: str) -> str:
    """Distance-aware aggregation against FedAvg, per language (training and zero-shot)."""
    a, b = _fed_variant(summary, method, "fedavg"), _fed_variant(summary, method, "distance")
    if not (a and b):
        return ""
    ga, gb = _group(summary, method, a), _group(summary, method, b)
    lines = ["| language | FedAvg | distance-aware | difference |", "|---|---|---|---|"]
    rows = [(l, ga["accuracy"][l], gb["accuracy"][l]) for l in summary["languages"]]
    rows += [(f"{z} (zero-shot)", ga["zero_shot_accuracy"][z], gb["zero_shot_accuracy"][z]) for z in ga["zero_shot"]]
    for name, x, y in rows:
        lines.append(f"| {name} | {_ms(x)} | {_ms(y)} | {100 * (y['mean'] - x['mean']):+.1f} |")
    d = 100 * (gb["mean_accuracy"]["mean"] - ga["mean_accuracy"]["mean"])
    wins = sum(y["mean"] > x["mean"] for _, x, y in rows[: len(summary["languages"])])
    lines.append(f"| **mean (training languages)** | {_ms(ga, 'mean_accuracy')} | {_ms(gb, 'mean_accuracy')} | **{d:+.1f}** |")
    lines += ["", f"Distance-aware is ahead on {wins} of {len(summary['languages'])} training languages."]
    return "\n".join(lines)


def plot_language_bars(summary: dict, method: str, path: Path) -> bool:
    plt = pyplot()
    import numpy as np

    present = [p for p in summary["paradigms"] if _group(summary, method, p)]
    if not present:
        return False
    langs = summary["languages"]
    x = np.arange(len(langs))
    width = 0.8 / len(present)
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(langs)), 3.8))
    for i, p in enumerate(present):
        g = _group(summary, method, p)
        ax.bar(x + (i - (len(present) - 1) / 2) * width, [100 * g["accuracy"][l]["mean"] for l in langs], width,
               yerr=[100 * g["accuracy"][l]["std"] for l in langs], capsize=2, label=label(p))
    ax.set_xticks(x, langs, rotation=30, ha="right")
    ax.set_ylabel(f"{method}: test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.legend(ncol=len(present), fontsize=8, loc="upper center", bbox_to_anchor=(0.5, 1.15))
    save_figure(fig, path)
    return True


def plot_seed_bands(summary: dict, path: Path) -> bool:
    """Mean dev accuracy over rounds per paradigm, one panel per method; band = ± std over seeds."""
    plt = pyplot()
    import numpy as np
    from matplotlib.ticker import MaxNLocator

    methods = [m for m in summary["methods"] if any(_group(summary, m, p) for p in summary["paradigms"])]
    if not methods:
        return False
    ncol = min(3, len(methods))
    nrow = (len(methods) + ncol - 1) // ncol
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.2 * nrow), squeeze=False, sharey=True)
    drew = False
    for ax, m in zip(axes.flat, methods):
        for p in summary["paradigms"]:
            g = _group(summary, m, p)
            if not g or not g["dev_curves"]:
                continue
            rounds = sorted({int(r) for c in g["dev_curves"].values() for r in c})
            vals = np.array([[100 * c.get(str(r), np.nan) for r in rounds] for c in g["dev_curves"].values()])
            mean, std = np.nanmean(vals, axis=0), np.nanstd(vals, axis=0)
            ax.plot(rounds, mean, marker="o", ms=3, label=label(p))
            ax.fill_between(rounds, mean - std, mean + std, alpha=0.2)
            drew = True
        ax.set_title(m, fontsize=10)
        ax.set_xlabel("round")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(methods):]:
        ax.axis("off")
    axes[0][0].set_ylabel("mean dev accuracy (%)")
    axes[0][0].legend(fontsize=7)
    save_figure(fig, path)
    return drew


def plot_efficiency(summary: dict, path: Path) -> bool:
    plt = pyplot()

    fracs = summary["fractions"]
    if len(fracs) < 2:
        return False
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for m in summary["fraction_methods"]:
        for p in summary["paradigms"]:
            pts = [(f, _group(summary, m, p, f)) for f in fracs]
            pts = [(100 * f, g) for f, g in pts if g]
            if not pts:
                continue
            ax.errorbar([f for f, _ in pts], [100 * g["mean_accuracy"]["mean"] for _, g in pts],
                        yerr=[100 * g["mean_accuracy"]["std"] for _, g in pts], marker="o", capsize=3,
                        label=f"{m} {label(p)}")
    ax.set_xscale("log")
    ax.set_xticks([100 * f for f in fracs], [f"{100 * f:g}" for f in fracs])
    ax.set_xlabel("% of each client's training data")
    ax.set_ylabel("mean test accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    save_figure(fig, path)
    return True


def plot_cost(summary: dict, path: Path) -> bool:
    """Accuracy against trainable parameters, one marker per method × paradigm."""
    plt = pyplot()

    groups = [g for g in summary["groups"] if g["fraction"] == 1.0]
    if not groups:
        return False
    fig, ax = plt.subplots(figsize=(6, 3.8))
    markers = {"monolingual": "s", "centralized": "^", "federated_iid": "D", "federated_non_iid": "o",
               "federated_personal": "*"}
    markers = {p: markers[p.partition("@")[0]] for p in summary["paradigms"]}
    for p in summary["paradigms"]:
        gs = [g for g in groups if g["paradigm"] == p]
        ax.scatter([g["trainable_parameters"] for g in gs], [100 * g["mean_accuracy"]["mean"] for g in gs],
                   marker=markers[p], label=label(p))
        for g in gs:
            ax.annotate(g["method"], (g["trainable_parameters"], 100 * g["mean_accuracy"]["mean"]), fontsize=6,
                        xytext=(3, 2), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("trainable parameters (log)")
    ax.set_ylabel("mean test accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    save_figure(fig, path)
    return True


def write_csv(summary: dict, path: Path) -> None:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["method", "paradigm", "fraction", "language", "mean_accuracy", "std_accuracy", "seeds"])
        for g in summary["groups"]:
            for lang, a in g["accuracy"].items():
                w.writerow([g["method"], g["paradigm"], g["fraction"], lang, f"{a['mean']:.4f}", f"{a['std']:.4f}",
                            len(g["seeds"])])


def merge_metrics(folder: Path, cells: list[Cell]) -> None:
    """One metrics.jsonl for the study: every cell's rows, tagged with the cell."""
    with (folder / "metrics.jsonl").open("w", encoding="utf-8") as out:
        for cell in cells:
            path = folder / "cells" / cell.key / "metrics.jsonl"
            if not path.exists():
                continue
            tag = {"method": cell.method, "compare_paradigm": cell.paradigm, "seed": cell.seed, "fraction": cell.fraction}
            for line in path.read_text().splitlines():
                if line.strip():
                    out.write(json.dumps({**tag, **json.loads(line)}) + "\n")


def write_compare_report(folder: Path, summary: dict, cells: list[Cell] | None = None) -> Path:
    folder = Path(folder)
    plots = folder / "plots"
    plots.mkdir(exist_ok=True)
    if cells is not None:
        merge_metrics(folder, cells)
    (folder / "results.json").write_text(json.dumps(summary, indent=2))
    write_csv(summary, folder / "accuracy.csv")
    headline = "prompt" if "prompt" in summary["methods"] else summary["methods"][0]
    c = summary["config"]
    lines = [
        "# borderless comparison",
        "",
        f"Backbone **{summary['backbone']}** (frozen except under full fine-tuning); "
        f"{len(summary['languages'])} languages: {', '.join(summary['languages'])}.",
        f"Methods: {', '.join(summary['methods'])}. Paradigms: {', '.join(label(p) for p in summary['paradigms'])}. "
        f"Seeds: {', '.join(map(str, summary['seeds']))}. Budget per cell: {c['federated']['rounds']} rounds × "
        f"{c['train']['local_steps']} local steps × batch {c['train']['batch_size']}, the same number of training "
        "examples in every paradigm. Accuracies are mean ± std over seeds, in %.",
        "",
    ]
    if summary["cells_missing"]:
        lines += [f"**Incomplete:** {len(summary['cells_missing'])} of {summary['cells_total']} cells are missing "
                  f"(e.g. `{summary['cells_missing'][0]}`); rerun the same command to finish them.", ""]
    lines += ["## Against the paper's claims", ""] + [f"- {x}" for x in claims(summary, headline)] + [""]
    lines += ["## Test accuracy per language (all training data)", "", language_table(summary), "",
              "## Cost and stability", "", cost_table(summary), "",
              "Bytes to reach the final accuracy: everything all clients sent up and down until the first evaluated "
              "round whose mean dev accuracy reached the last round's. Monolingual and centralized runs exchange no "
              "parameters (centralized would move the text itself).", ""]
    if len(summary["fractions"]) > 1:
        lines += ["## Data efficiency (mean test accuracy over languages)", "", efficiency_table(summary), ""]
    zs = zero_shot_table(summary, headline)
    if zs:
        lines += ["## Zero-shot languages (never trained; mean ± std over seeds)", "", zs, "",
                  "Monolingual: the model of the nearest training language (URIEL distance); centralized and "
                  "FedAvg: the one global model; distance-aware: a mix of the clients' final updates weighted by "
                  "the zero-shot language's distance to each.", ""]
    agg = aggregator_table(summary, headline)
    if agg:
        lines += ["## Distance-aware aggregation vs FedAvg", "", agg, ""]
    fed = _fed_variant(summary, headline, "fedavg") or _fed_variant(summary, headline)
    if c["run"].get("language_analysis", True) and fed:
        from borderless.language.analysis import language_section

        accuracy = {p: {l: a["mean"] for l, a in g["accuracy"].items()}
                    for p in summary["paradigms"] if (g := _group(summary, headline, p))}
        accuracy["federated"] = accuracy[fed]
        lines += language_section(summary["languages"], accuracy, plots, tokenization=summary.get("tokenization"))
    lines += ["## Plots", ""]
    if plot_language_bars(summary, headline, plots / "accuracy_by_language.png"):
        lines.append(f"![{headline}: accuracy by language](plots/accuracy_by_language.png)")
    if plot_seed_bands(summary, plots / "accuracy_over_rounds.png"):
        lines.append("![accuracy over rounds, band = ± std over seeds](plots/accuracy_over_rounds.png)")
    if plot_efficiency(summary, plots / "data_efficiency.png"):
        lines.append("![data efficiency](plots/data_efficiency.png)")
    if plot_cost(summary, plots / "accuracy_vs_parameters.png"):
        lines.append("![accuracy vs trainable parameters](plots/accuracy_vs_parameters.png)")
    lines += ["", "Per-cell folders (config, metrics, results, report) are under `cells/`; `accuracy.csv` has "
              "every cell group's per-language mean and std.", ""]
    path = folder / "report.md"
    path.write_text("\n".join(lines))
    return path
