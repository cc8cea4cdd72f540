"""The Markdown report and plots of one results folder."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from borderless import probe_selection
from borderless.language import families
from borderless.atomic_files import write_text
from borderless.metrics import mean_std as _mean_std
from borderless.plotting import pyplot, save_figure
from borderless.privacy.report_section import privacy_section


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


SHORT = {"monolingual": "mono", "centralized": "central", "federated": "fed", "federated_personal": "fed+pers"}


# What train.lr moves, per method (the report's header and its compute-budget note).
TRAINED_PART = {"prompt": "prompt", "p_tuning": "prompt encoder", "prefix": "prefixes", "lora": "LoRA adapter",
                "full": "backbone weights", "head": "head"}


def _short(p: str) -> str:
    return SHORT.get(p, p)


METRIC_NAMES = {"accuracy": "accuracy", "macro_f1": "macro-F1", "weighted_f1": "weighted-F1",
                "f1": "entity F1 (seqeval, strict IOB2)"}


def metric_name(summary: dict, metric: str) -> str:
    token = (summary.get("data") or {}).get("task") == "token"
    return "token accuracy" if token and metric == "accuracy" else METRIC_NAMES.get(metric, metric)


def majority_of(summary: dict, metric: str) -> dict[str, float]:
    """The majority baseline per language in ``metric`` (older results carry accuracy alone)."""
    if metric == "accuracy":
        return summary.get("majority_class_accuracy") or {}
    return {l: b[metric] for l, b in (summary.get("majority_baseline") or {}).items() if metric in b}


def has_metric(summary: dict, metric: str) -> bool:
    return all(f"test_{metric}" in r for r in summary["paradigms"].values())


def accuracy_table(summary: dict, metric: str = "") -> str:
    """Rows = languages; the floors first (majority class, each paradigm's frozen-feature probe),
    then the tuned paradigms and their gains over monolingual; in ``metric`` (default: the run's)."""
    metric = metric or summary.get("metric", "accuracy")
    paradigms = list(summary["paradigms"])
    probes = summary.get("probes") or {}
    majority = majority_of(summary, metric)
    floors = [p for p in paradigms if p in probes]
    is_probe = summary.get("method", {}).get("name") == "head"
    deltas = [p for p in ("federated", "federated_personal") if p in paradigms and "monolingual" in paradigms]
    token = (summary.get("data") or {}).get("task") == "token"
    head = (["language", "train ex."] + (["most frequent tag" if token else "majority class"] if majority else [])
            + ([f"probe: {_short(p)}" for p in floors] if not is_probe else [])
            + [("probe: " if is_probe else "") + _short(p) for p in paradigms]
            + [f"{_short(p)} − mono" for p in deltas])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def acc(p: str, lang: str) -> float:
        return summary["paradigms"][p][f"test_{metric}"][lang]

    for lang in summary["languages"]:
        row = [lang, str(summary["examples"][lang]["train"])]
        row += [_pct(majority[lang])] if majority else []
        row += [_pct(probes[p][f"test_{metric}"][lang]) for p in floors] if not is_probe else []
        row += [_pct(acc(p, lang)) for p in paradigms]
        row += [f"{100 * (acc(p, lang) - acc('monolingual', lang)):+.1f}" for p in deltas]
        lines.append("| " + " | ".join(row) + " |")

    def mean(p: str) -> float:
        return summary["paradigms"][p][f"mean_{metric}"]

    own = metric == summary.get("metric", "accuracy")  # the probe warning sign belongs to the run's metric
    row = ["**mean**", ""]
    row += [f"{_pct(sum(majority[l] for l in summary['languages']) / len(summary['languages']))}"] if majority else []
    row += [f"{_pct(probes[p][f'mean_{metric}'])}" for p in floors] if not is_probe else []
    row += [f"**{_pct(mean(p))}**" + (" ⚠" if own and summary["paradigms"][p].get("below_probe") else "")
            for p in paradigms]
    row += [f"**{100 * (mean(p) - mean('monolingual')):+.1f}**" for p in deltas]
    lines.append("| " + " | ".join(row) + " |")
    worst = ["worst", ""] + ([""] if majority else []) + ([""] * len(floors) if not is_probe else [])
    if own:
        worst += [f"{_pct(summary['paradigms'][p][f'worst_{metric}'])} ({summary['paradigms'][p]['worst_language']})"
                  for p in paradigms] + [""] * len(deltas)
    else:
        worst += [_pct(summary["paradigms"][p][f"worst_{metric}"]) for p in paradigms] + [""] * len(deltas)
    lines.append("| " + " | ".join(worst) + " |")
    return "\n".join(lines)


def floor_warnings(summary: dict) -> list[str]:
    """Every tuned paradigm whose mean is at or below the majority baseline or below its own probe, in
    the run's metric."""
    out = []
    metric = summary.get("metric", "accuracy")
    majority = majority_of(summary, metric)
    langs = summary["languages"]
    base = sum(majority[l] for l in langs) / len(langs) if majority else None
    token = (summary.get("data") or {}).get("task") == "token"
    what = "the most frequent tag of each word" if token else "always answering the majority class"
    for p, r in summary["paradigms"].items():
        mean = r[f"mean_{metric}"]
        if base is not None and mean <= base + 0.01:
            out.append(f"**Warning:** {p} ({_pct(mean)}) is at or below {what} ({_pct(base)}): "
                       + ("it tags no better than recalling each word's most frequent tag from training; give it "
                          "more steps, more data or a method that trains more of the model." if token else
                          "it did not learn; give it more steps or a higher learning rate."))
        if r.get("below_probe") and "dp_probe_mean_accuracy" in r:
            out.append(f"**Warning:** {p} ({_pct(mean)}) is below its own DP probe "
                       f"({_pct(r[f'dp_probe_mean_{metric}'])}, the same guarantee): under this noise, tuning lost to "
                       "the linear head it started from; treat this number as a recipe problem, not a result.")
        elif r.get("below_probe"):
            out.append(f"**Warning:** {p} ({_pct(mean)}) is below its own frozen-feature probe "
                       f"({_pct(r[f'probe_mean_{metric}'])}): the tuning recipe lost to a linear classifier on the "
                       "same data; treat this number as a recipe problem, not a result.")
    return out


def step_gap_note(summary: dict) -> list[str]:
    """With ``train.stop = "dev"`` each paradigm stops on its own dev curve: where one took under half the
    optimizer steps of another, a gap between them is partly a gap in steps, and the report says so."""
    if (summary["config"]["train"].get("stop") or "budget") != "dev":
        return []
    steps = {p: r["optimizer_steps"] for p, r in summary["paradigms"].items() if r.get("optimizer_steps")}
    if len(steps) < 2 or min(steps.values()) >= 0.5 * max(steps.values()):
        return []
    fewest, most = min(steps, key=steps.get), max(steps, key=steps.get)
    return [f"**Note:** stopped on dev patience, the paradigms took unequal numbers of optimizer steps ("
            + ", ".join(f"{p} {n:,}" for p, n in steps.items())
            + f"): {fewest} took under half of {most}'s, so a difference between them is partly a difference "
            "in steps. `train.stop = \"budget\"` or a larger `train.patience` compares them at equal steps."]


def metric_tables(summary: dict) -> list[str]:
    """The run's metric first; then accuracy beside it, or, when accuracy leads, macro-F1 (a model that
    only learned the majority class shows it there)."""
    metric = summary.get("metric", "accuracy")
    out = [f"## Test {metric_name(summary, metric)} (%) per language", "", accuracy_table(summary, metric)]
    second = "accuracy" if metric != "accuracy" else "macro_f1"
    if has_metric(summary, second):
        out += ["", f"### Test {metric_name(summary, second)} (%) per language", "", accuracy_table(summary, second)]
    return out


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


def plot_dev_curves(rows: list[dict], path: Path, metric: str = "accuracy") -> bool:
    """Mean dev score by round: what early stopping compared (``score``; rows written before it: accuracy)."""
    plt = pyplot()

    curves: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        if r.get("split") == "dev":
            curves[r["paradigm"]][r["round"]].append(r.get("score", r["accuracy"]))
    if not curves:
        return False
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for p, by_round in curves.items():
        rounds = sorted(by_round)
        ax.plot(rounds, [100 * sum(by_round[r]) / len(by_round[r]) for r in rounds], marker="o", label=p)
    ax.set_xlabel("round (monolingual/centralized: same number of steps)")
    ax.set_ylabel(f"mean dev {metric} (%)")
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


def _stopping(facts: dict | None) -> str:
    """'best round b of t trained' per language (or pooled / all), compactly."""
    if not facts:
        return ""
    parts = []
    for who, f in facts.items():
        if "personal_steps" in f:
            parts.append(f"{who}: +{f['personal_steps']}")
        else:
            parts.append(f"{who}: {f.get('best_round')}/{f.get('trained_rounds')}")
    return ", ".join(parts) if len(parts) <= 3 else f"{', '.join(parts[:2])}, … ({len(parts)} in all)"


def data_section(summary: dict) -> list[str]:
    """The dataset, what the reader substituted, and the languages with their own (smaller) label sets."""
    d = summary.get("data") or {}
    if not d:
        return []
    out = [f"Dataset **{d.get('dataset', 'sib200')}**; labels: {', '.join(summary.get('labels', []))}."]
    out += [f"- {n}" for n in d.get("notes", [])]
    if d.get("task") == "token":
        out.append("- Token task: each word's tag is read at its first sub-word; the other sub-words, the prompt and "
                   "padding carry no label. Selection and the headline use "
                   f"{metric_name(summary, summary.get('metric', 'accuracy'))}.")
        for lang, c in (d.get("truncation") or {}).items():
            out.append(f"- {lang}: backbone.max_length cut {c['cut_words']} of {c['words']} words "
                       f"({c['cut_sentences']} of {c['sentences']} sentences); cut words are neither trained on "
                       "nor scored: raise backbone.max_length to keep them")
    if d.get("label_sets"):
        out.append("- Languages with fewer labels (their logits are masked to their own labels in training, "
                   "evaluation and the probes; their majority class is over their own test split): "
                   + "; ".join(f"{l}: {', '.join(names)}" for l, names in d["label_sets"].items()))
    return out + [""]


def accuracy_sections(summary: dict, fams: dict[str, str]) -> list[str]:
    """Many languages: the per-family table, the ten worst languages, and where the full table is."""
    last = list(summary["paradigms"])[-1]
    acc = summary["paradigms"][last]["test_accuracy"]
    worst = sorted(summary["languages"], key=lambda l: acc[l])[:10]
    return ["## Test accuracy (%) per language family", "",
            f"{len(summary['languages'])} trained languages in {len(set(fams[l] for l in summary['languages']))} "
            "families (top of each language's Glottolog lineage, from URIEL+); mean over each family's languages. "
            "Every language: [per_language.md](per_language.md) and `accuracy_by_language.csv`.", "",
            families.family_table(summary, fams), "",
            f"Ten lowest under {last}: " + ", ".join(f"{l} ({fams.get(l, '')}) {_pct(acc[l])}" for l in worst) + "."]


def head_words(method: dict) -> str:
    if method.get("classifier") == "verbalizer":
        words = method.get("verbalizer") or {}
        return "no head: verbalizer" + (f" ({', '.join(f'{k} → {v!r}' for k, v in words.items())})" if words else
                                         " (each label's own name)")
    return f"head init {method.get('head_init', 'random')}"


def write_report(folder: Path, summary: dict) -> Path:
    folder = Path(folder)
    rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines() if line.strip()]
    (folder / "plots").mkdir(exist_ok=True)
    many = len(summary["languages"]) > families.MANY_LANGUAGES
    fams = (summary.get("families") or families.family_of(summary["languages"] + summary.get("zero_shot", []))
            if many else {})
    if many:  # one row per family here; every language in per_language.md and the CSV
        families.plot_family_bars(summary, fams, folder / "plots" / "accuracy_by_family.png")
        families.write_language_csv(summary, fams, folder / "accuracy_by_language.csv")
        per_language = "# Test accuracy (%) per language\n\n" + accuracy_table(summary) + "\n"
    else:
        plot_accuracy_bars(summary, folder / "plots" / "accuracy_by_language.png")
    has_curves = plot_dev_curves(rows, folder / "plots" / "dev_accuracy_by_round.png",
                                 metric_name(summary, summary.get("metric", "accuracy")))
    c, m, comm = summary["config"], summary["method"], summary["communication"]
    trained = TRAINED_PART.get(m["name"], m["name"])  # what train.lr moves
    lines = [
        "# borderless run report",
        "",
        f"Backbone **{summary['backbone']['name']}** ({summary['backbone']['parameters']:,} parameters, frozen); "
        f"method **{m['name']}** ({m.get('description', '')}).",
        f"Seed {c['run']['seed']}; {c['federated']['rounds']} rounds × {c['train']['local_steps']} local steps × "
        f"batch {c['train']['batch_size']}; lr {c['train']['lr']} ({trained}), {c['train']['head_lr'] or c['train']['lr']} (head), "
        f"{c['train']['optimizer']}, schedule {c['train'].get('schedule', 'constant')} "
        f"(warm-up {c['train'].get('warmup', 0):g}), stop {c['train'].get('stop', 'budget')}; "
        f"{head_words(c['method'])}; aggregation {c['federated']['aggregator']}"
        f"{' of the prompt or adapter; each client keeps its own head (federated.local_head)' if c['federated'].get('local_head') else ''}.",
        "",
    ] + data_section(summary) + [
    ] + (accuracy_sections(summary, fams) if many else metric_tables(summary)) + [
        "",
        ("Floors beside every number: the most frequent tag of each word type in the language's training data "
         "(a word never seen there: the most frequent tag), and each paradigm's linear probe on the frozen features "
         "of each word's first sub-word in the same training data"
         if summary.get("data", {}).get("task") == "token" else
         "Floors beside every number: the majority class of each test split, and each paradigm's linear probe "
         "on frozen features of the same training data")
        + " (monolingual: one per language; centralized: pooled; "
        + ("fed: each client's own probe, since its head never leaves it (federated.local_head)"
           if c['federated'].get('local_head') else "fed: FedAvg of the head alone")
        + "; fed+pers: the federated probe adapted by each client on its own "
        "data). ⚠ marks a tuned mean below its own probe."
        + (" Tuned heads start from these probes (LP-FT)." if c["method"].get("head_init") == "probe"
           and c["method"].get("classifier", "head") == "head" else "")
        + (" The verbalizer has no head to start from a probe: its round 0 is the prompted LM's zero-shot guess."
           if c["method"].get("classifier") == "verbalizer" else ""),
        "",
    ] + [w + "\n" for w in floor_warnings(summary) + step_gap_note(summary)] + privacy_section(summary) + zero_shot_section(summary) + [
        "## Cost",
        "",
        f"- Trainable parameters: **{m['trainable_parameters']:,}** "
        f"({m['trainable_percent_of_backbone']:.4f} % of the backbone)",
        f"- Bytes sent per client per round: **{comm['bytes_per_client_per_round_up']:,}** up, "
        f"{comm['bytes_per_client_per_round_down']:,} down (float32 trainable state)",
        "",
        "| paradigm | optimizer steps | training examples processed | stopping | kept on dev | "
        "bytes per client in all | wall-clock (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for p, r in summary["paradigms"].items():
        total = r.get("bytes_per_client_total")
        lines.append(f"| {p} | {r.get('optimizer_steps', '')} | {r['train_examples_processed']:,} | "
                     f"{_stopping(r.get('stopping'))} | {probe_selection.describe(r) or '—'} | "
                     f"{f'{total:,}' if total is not None else '—'} | {r['wall_s']} |")
    refused = summary["paradigms"].get("federated", {}).get("rejected_updates") or []
    if refused:
        lines += ["", f"**Updates refused by the server** ({len(refused)}; left out of their round before "
                  "aggregation):", ""] + [f"- round {r['round']}, {r['client']}: {r['reason']}" for r in refused[:20]]
        if len(refused) > 20:
            lines.append(f"- … {len(refused) - 20} more in results.json")
    selected = [p for p, r in summary["paradigms"].items() if r.get("chosen_on_dev")]
    metric = summary.get("metric", "accuracy")
    if selected:
        lines += ["", "Kept on dev: after stopping, each paradigm's frozen-feature probe competed with its best "
                  "tuned state on the same dev criterion (train.probe_candidate); where the probe won, its test "
                  f"scores are the ones reported. Tuned state alone (mean test {metric_name(summary, metric)}): "
                  + ", ".join(f"{p} {_pct(summary['paradigms'][p][f'tuned_mean_{metric}'])}" for p in selected) + "."]
    lines += ["", "## Plots", "", "![accuracy by family](plots/accuracy_by_family.png)" if many
              else "![accuracy by language](plots/accuracy_by_language.png)"]
    if has_curves:
        lines.append("![dev accuracy by round](plots/dev_accuracy_by_round.png)")
    if c["run"].get("language_analysis", True) and len(summary["languages"]) >= 3:
        from borderless.language.analysis import language_section

        accuracy = {p: r[f"test_{metric}"] for p, r in summary["paradigms"].items()}  # the run's metric
        section = language_section(summary["languages"], accuracy, folder / "plots",
                                   tokenization=summary.get("tokenization"))
        if many:  # its per-language table lives with the others
            per_language += "\n" + "\n".join(section) + "\n"
            lines += ["", "Gain vs language distance and tokenizer statistics per language: "
                      "[per_language.md](per_language.md)."]
        else:
            lines += [""] + section
    lines += [
        "",
        "Compute budget: every paradigm has the same maximum number of training examples "
        "(rounds × local steps × batch per language; fed+pers adds its personal steps); monolingual clients see "
        "exactly the batches their federated counterparts see. All paradigms start from the same initial "
        f"{trained}; train.stop = {c['train'].get('stop', 'budget')!r}"
        + (" (stopped on dev with patience, best state restored: steps taken are in the cost table)."
           if c["train"].get("stop") == "dev" else "."),
        "",
    ]
    if many:
        write_text(folder / "per_language.md", per_language)
    return write_text(folder / "report.md", "\n".join(lines))


def seeds_summary(summaries: list[dict]) -> dict:
    """Mean ± std over runs that differ only in their seed: per language and paradigm, the tuned
    score, its probe floor, and the gains over monolingual and centralized, in the run's metric; every
    other metric the runs carry (accuracy, macro-F1, ...) as per-language and mean values beside it."""
    first = summaries[0]
    langs, paradigms = first["languages"], list(first["paradigms"])
    metric = first.get("metric", "accuracy")
    metrics = [k for k in dict.fromkeys([metric, "accuracy", "macro_f1", "weighted_f1", "f1", "precision", "recall"])
               if all(f"test_{k}" in s["paradigms"][p] for s in summaries for p in paradigms)]
    majority = {k: {l: _mean_std([s["majority_baseline"][l][k] for s in summaries]) for l in langs}
                for k in metrics if all(k in s.get("majority_baseline", {}).get(l, {}) for s in summaries for l in langs)}
    if "accuracy" not in majority and first.get("majority_class_accuracy"):
        majority["accuracy"] = {l: (first["majority_class_accuracy"][l], 0.0) for l in langs
                                if l in first["majority_class_accuracy"]}
    out = {"seeds": [s["config"]["run"]["seed"] for s in summaries], "languages": langs, "paradigms": {},
           "probes": {}, "gains": {}, "metric": metric, "metrics": metrics, "majority": majority,
           "majority_class_accuracy": {l: v[0] for l, v in majority.get("accuracy", {}).items()}}
    for p in paradigms:
        entry = {"below_probe": [s["config"]["run"]["seed"] for s in summaries if s["paradigms"][p].get("below_probe")],
                 "optimizer_steps": _mean_std([s["paradigms"][p].get("optimizer_steps", 0) for s in summaries])}
        for k in metrics:
            per_lang = {l: _mean_std([s["paradigms"][p][f"test_{k}"][l] for s in summaries]) for l in langs}
            entry[f"test_{k}"] = per_lang
            entry[f"mean_{k}"] = _mean_std([s["paradigms"][p][f"mean_{k}"] for s in summaries])
            worst = min(langs, key=lambda l: per_lang[l][0])
            entry[f"worst_{k}"] = {"language": worst, "value": per_lang[worst]}
        out["paradigms"][p] = entry
        if all("probes" in s and p in s["probes"] for s in summaries):
            out["probes"][p] = {f"{kind}_{k}": ({l: _mean_std([s["probes"][p][f"test_{k}"][l] for s in summaries])
                                                 for l in langs} if kind == "test" else
                                                _mean_std([s["probes"][p][f"mean_{k}"] for s in summaries]))
                                for k in metrics if all(f"test_{k}" in s["probes"][p] for s in summaries)
                                for kind in ("test", "mean")}
            # how far the tuned mean sits from its own probe, seed by seed: a ⚠ of a few tenths that
            # changes sign across seeds is a tie, one that is negative on every seed is the recipe
            margins = [s["paradigms"][p][f"mean_{metric}"] - s["probes"][p][f"mean_{metric}"] for s in summaries]
            entry["margin_over_probe"] = _mean_std(margins)
            entry["margin_over_probe_per_seed"] = margins
    for a, b in (("federated", "monolingual"), ("federated_personal", "monolingual"), ("federated", "centralized")):
        if a in paradigms and b in paradigms:
            out["gains"][f"{a} − {b}"] = _mean_std([s["paradigms"][a][f"mean_{metric}"] - s["paradigms"][b][f"mean_{metric}"]
                                                    for s in summaries])
    return out


def write_seeds_report(folders: list[Path], output: Path) -> Path:
    """One report for the same run repeated over seeds (``borderless report RUN1 RUN2 ... -o DIR``)."""
    summaries = [json.loads((Path(f) / "results.json").read_text()) for f in folders]
    from borderless.config import config_from_dict

    # each run's config with today's defaults filled in: a run written before a key existed still
    # compares equal to one written after, when the key has its default
    configs = [{k: v for k, v in config_from_dict(s["config"], str(f)).to_dict().items() if k != "run"}
               for s, f in zip(summaries, folders)]
    if any(c != configs[0] for c in configs[1:]):
        raise ValueError(f"{', '.join(map(str, folders))}: these runs differ in more than run.seed; "
                         "a seeds report needs the same config with different seeds")
    s = seeds_summary(summaries)
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    (output / "results.json").write_text(json.dumps(s, indent=2))

    def ms(v: tuple[float, float]) -> str:
        return f"{100 * v[0]:.1f} ± {100 * v[1]:.1f}"

    paradigms, probes, metric = list(s["paradigms"]), s["probes"], s["metric"]
    token = (summaries[0].get("data") or {}).get("task") == "token"
    names = {"accuracy": "token accuracy" if token else "accuracy"} | {k: v for k, v in METRIC_NAMES.items() if k != "accuracy"}
    base_name = "most frequent tag" if token else "majority class"

    def table(k: str) -> list[str]:
        maj = s["majority"].get(k, {})
        head = ["language", base_name] + [f"probe: {_short(p)}" for p in probes] + [_short(p) for p in paradigms]
        rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for l in s["languages"]:
            row = [l, _pct(maj[l][0]) if l in maj else ""] + [ms(probes[p][f"test_{k}"][l]) for p in probes]
            row += [ms(s["paradigms"][p][f"test_{k}"][l]) for p in paradigms]
            rows.append("| " + " | ".join(row) + " |")
        row = ["**mean**", _pct(sum(maj[l][0] for l in s["languages"]) / len(s["languages"])) if maj else ""]
        row += [ms(probes[p][f"mean_{k}"]) for p in probes]
        row += [f"**{ms(s['paradigms'][p][f'mean_{k}'])}**" + (" ⚠" if k == metric and s["paradigms"][p]["below_probe"]
                                                                else "") for p in paradigms]
        rows.append("| " + " | ".join(row) + " |")
        worst = ["worst", ""] + [""] * len(probes)
        worst += [f"{ms(s['paradigms'][p][f'worst_{k}']['value'])} ({s['paradigms'][p][f'worst_{k}']['language']})"
                  for p in paradigms]
        return rows + ["| " + " | ".join(worst) + " |"]

    lines = ["# borderless: the same run over seeds", "",
             f"Seeds {', '.join(map(str, s['seeds']))}; runs: " + ", ".join(f"`{Path(f).name}`" for f in folders)
             + f". Test {names[metric]} in %, mean ± std over seeds (the run's metric: selection used it).", ""]
    lines += table(metric)
    second = "accuracy" if metric != "accuracy" else "macro_f1"
    if second in s["metrics"]:
        lines += ["", f"Test {names[second]} in %, the same runs:", ""] + table(second)
    lines += ["", "| difference of means | mean ± std over seeds |", "|---|---|"]
    lines += [f"| {k} | **{100 * v[0]:+.1f}** ± {100 * v[1]:.1f} |" for k, v in s["gains"].items()]
    lines += ["", "| paradigm | optimizer steps (mean ± std) | seeds below their own probe "
              "| tuned − own probe, per seed | mean ± std |", "|---|---|---|---|---|"]
    for p in paradigms:
        st = s["paradigms"][p]["optimizer_steps"]
        below = s["paradigms"][p]["below_probe"]
        margin = s["paradigms"][p].get("margin_over_probe")
        per_seed = s["paradigms"][p].get("margin_over_probe_per_seed") or []
        lines.append(f"| {p} | {st[0]:.0f} ± {st[1]:.0f} | "
                     f"{('seed ' + ', '.join(map(str, below))) if below else 'none'} | "
                     + (", ".join(f"{100 * m:+.1f}" for m in per_seed) or "–") + " | "
                     + (f"{100 * margin[0]:+.1f} ± {100 * margin[1]:.1f}" if margin else "–") + " |")
    lines += ["", "Tuned − own probe: the tuned mean minus its paradigm's frozen-feature probe on the same "
              "data, in points. A margin under zero on some seeds and over it on others is within the "
              "seeds' spread; under zero on every seed, the recipe loses to the probe."]
    lines += ["", "Each seed's own report (per-language table, stopping, cost, plots) is in its run folder.", ""]
    path = output / "report.md"
    path.write_text("\n".join(lines))
    return path
