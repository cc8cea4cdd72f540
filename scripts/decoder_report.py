"""The decoder study's cross-cell report (issue 15): Gemma-3-270m (the verbalizer through a soft prompt
or through LoRA, and a head) against multilingual-e5-small (head) per dataset, from the cells
``scripts/decoder_study.sh`` writes (``<study>/<dataset>/<cell>/seed*/results.json``).

For each dataset: every cell × paradigm as mean ± std over its seeds beside that paradigm's
frozen-feature probe and the majority class; per language, each cell's monolingual and federated
accuracy and federated − monolingual, beside the tokenizer statistics of that cell's backbone
(tokens per word, byte-fallback pieces, and parity: tokens per sentence over English's on the
parallel test sentences, the one of them that can rank Thai and Chinese); the Spearman correlation
across languages between a cell's federated gain and each of tokens per word and parity (the related
study's question: does the gain follow the tokenizer?) and between the decoder − encoder gap and the
decoder's. Writes ``<study>/<dataset>/summary.{md,json}`` and ``summary.png``.

Runs written before results.json recorded tokens per sentence get their statistics recomputed from
their own config.toml (its data and its backbone's tokenizer), checked against the tokens per word
they did record.

    .venv/bin/python scripts/decoder_report.py docs/results/decoder
"""

from __future__ import annotations

import functools
import json
import math
import statistics
import sys
from pathlib import Path

from borderless.metrics import mean_std
from borderless.language.analysis import spearman as toolkit_spearman
from borderless.language.tokenization import parity, reference_language, stats_by_language

CELL_ORDER = ("gemma-verbalizer", "gemma-lora-verbalizer", "gemma-head", "e5-head")
PARADIGMS = ("monolingual", "centralized", "federated")


def fmt(xs: list[float]) -> str:
    if not xs:
        return "–"
    m, s = mean_std([100 * x for x in xs])
    return f"{m:.1f} ± {s:.1f}" if len(xs) > 1 else f"{m:.1f}"


def spearman(a: list[float], b: list[float]) -> dict | None:
    """The toolkit's Spearman ρ with its exact two-sided p (a decoder cell has at most eight languages);
    None where ρ is undefined (fewer than three languages, or a constant column)."""
    rho, p, n = toolkit_spearman(a, b, exact_up_to=8)
    return None if math.isnan(rho) else {"rho": rho, "p": p, "n": n}


@functools.lru_cache(maxsize=None)
def tokenizer_of(backbone):
    """One load per backbone config: the Gemma cells share theirs (the whole model loads with it)."""
    from borderless.backbones.resolve import load_configured

    return load_configured(backbone).tokenizer


def recompute_tokenization(run: Path, recorded: dict) -> dict:
    """The tokenizer statistics of the run in ``run`` as the runner computes them, from its own
    config.toml; refuses when they disagree with what the run recorded."""
    from borderless.config import load_config
    from borderless.runner import load_data

    cfg = load_config(run / "config.toml")
    stats = stats_by_language(tokenizer_of(cfg.backbone), load_data(cfg), list(recorded))
    for lang, old in recorded.items():
        if abs(stats[lang]["tokens_per_word"] - old["tokens_per_word"]) > 1e-9:
            raise ValueError(f"{run / 'results.json'}: tokenization[{lang!r}].tokens_per_word is {old['tokens_per_word']} but "
                             f"its config.toml's data and tokenizer give {stats[lang]['tokens_per_word']}: the data or the "
                             "tokenizer changed since the run; rerun it")
    return stats


def with_parity(tokenization: dict, run: Path) -> dict:
    """``tokenization`` with each language's ``parity`` (tokens per sentence over English's) added."""
    if not tokenization:
        return tokenization
    if any("tokens_per_sentence" not in s for s in tokenization.values()):
        tokenization = recompute_tokenization(run, tokenization)
    ref = reference_language(tokenization)
    if ref is None:
        return tokenization
    ratio = parity(tokenization, ref)
    return {l: {**s, "parity": ratio[l]} for l, s in tokenization.items()}


def read_cell(folder: Path) -> dict | None:
    paths = sorted(folder.glob("seed*/results.json"))
    runs = [json.loads(p.read_text()) for p in paths]
    if not runs:
        return None
    langs = runs[0]["languages"]
    cell = {"seeds": [r["config"]["run"]["seed"] for r in runs], "languages": langs,
            "backbone": runs[0]["backbone"]["name"], "method": runs[0]["method"]["description"],
            "trainable": runs[0]["method"]["trainable_parameters"],
            "bytes_up": runs[0]["communication"]["bytes_per_client_per_round_up"],
            "tokenization": with_parity(runs[0].get("tokenization") or {}, paths[0].parent),
            "majority": statistics.fmean(runs[0]["majority_class_accuracy"].values()),
            "wall_s": [sum(v.get("wall_s", 0.0) for v in r["paradigms"].values()) + r["features"].get("seconds", 0.0)
                       for r in runs],
            "acc": {}, "probe": {}}
    for p in PARADIGMS:
        if all(p in r["paradigms"] for r in runs):
            cell["acc"][p] = {l: [r["paradigms"][p]["test_accuracy"][l] for r in runs] for l in langs}
        if all(p in (r.get("probes") or {}) for r in runs):
            cell["probe"][p] = {l: [r["probes"][p]["test_accuracy"][l] for r in runs] for l in langs}
    return cell


def mean_over_langs(per_lang: dict[str, list[float]]) -> list[float]:
    """One mean over the languages per seed."""
    n = min(len(v) for v in per_lang.values())
    return [statistics.fmean(per_lang[l][i] for l in per_lang) for i in range(n)]


def gain(cell: dict, lang: str) -> list[float]:
    return [f - m for f, m in zip(cell["acc"]["federated"][lang], cell["acc"]["monolingual"][lang])]


def report(ds_folder: Path) -> dict | None:
    cells = {c: read_cell(ds_folder / c) for c in CELL_ORDER if (ds_folder / c).is_dir()}
    cells = {c: v for c, v in cells.items() if v}
    if not cells:
        return None
    langs = next(iter(cells.values()))["languages"]
    lines = [f"# Decoder study, {ds_folder.name}: Gemma-3-270m vs multilingual-e5-small", "",
             "Made by `scripts/decoder_report.py` from the cells' run folders (test accuracy, %, mean ± std "
             "over seeds; each paradigm beside its own frozen-feature probe; ⚠: the tuned mean is below it).", "",
             "| cell | backbone | seeds | wall min / seed | trainable | bytes up / client / round | majority | "
             + " | ".join(f"{p} (probe)" for p in PARADIGMS) + " |",
             "|---|---|---|---:|---:|---:|---:|" + "---|" * len(PARADIGMS)]
    out: dict = {"dataset": ds_folder.name, "languages": langs, "cells": {}}
    for name, c in cells.items():
        row = []
        for p in PARADIGMS:
            tuned = mean_over_langs(c["acc"][p]) if p in c["acc"] else []
            probe = mean_over_langs(c["probe"][p]) if p in c["probe"] else []
            # the toolkit's rule (probe_selection.py's below_probe): under the probe beyond float noise
            flag = " ⚠" if tuned and probe and statistics.fmean(tuned) < statistics.fmean(probe) - 1e-9 else ""
            row.append(f"{fmt(tuned)}{flag} ({fmt(probe)})")
        lines.append(f"| {name} | {c['backbone']} | {len(c['seeds'])} | {statistics.fmean(c['wall_s']) / 60:.0f} | {c['trainable']:,} | {c['bytes_up']:,} | "
                     f"{100 * c['majority']:.1f} | " + " | ".join(row) + " |")
        out["cells"][name] = {
            "seeds": c["seeds"], "wall_s": c["wall_s"], "backbone": c["backbone"], "method": c["method"],
            "mean": {p: mean_over_langs(c["acc"][p]) for p in c["acc"]},
            "probe_mean": {p: mean_over_langs(c["probe"][p]) for p in c["probe"]},
            "per_language": {p: c["acc"][p] for p in c["acc"]},
            "tokenization": c["tokenization"]}

    have_gain = {n: c for n, c in cells.items() if {"federated", "monolingual"} <= set(c["acc"])}
    lines += ["", "## Per language: monolingual → federated (federated − monolingual), and the tokenizer", "",
              "Tokens per word, byte-fallback pieces (%) and parity (tokens per sentence over English's, on the "
              "parallel test sentences) of each backbone's tokenizer.", "",
              "| language | " + " | ".join(f"{n}: mono → fed (gain)" for n in have_gain)
              + " | Gemma tok/word | Gemma bytes % | Gemma parity | e5 tok/word | e5 parity |",
              "|---|" + "---|" * len(have_gain) + "---:|---:|---:|---:|---:|"]
    gemma_tok = next((c["tokenization"] for c in cells.values() if c["backbone"].startswith("gemma")), {})
    e5_tok = next((c["tokenization"] for c in cells.values() if c["backbone"] == "e5-small"), {})
    for l in langs:
        parts = [f"{fmt(c['acc']['monolingual'][l])} → {fmt(c['acc']['federated'][l])} ({fmt(gain(c, l))})"
                 for c in have_gain.values()]
        gt, et = gemma_tok.get(l, {}), e5_tok.get(l, {})
        nan = float("nan")
        lines.append(f"| {l} | " + " | ".join(parts) + f" | {gt.get('tokens_per_word', nan):.2f} | "
                     f"{gt.get('byte_percent', nan):.1f} | {gt.get('parity', nan):.2f} | "
                     f"{et.get('tokens_per_word', nan):.2f} | {et.get('parity', nan):.2f} |")

    corr = {}
    stats = {"tokens_per_word": "tokens/word", "parity": "parity"}
    for n, c in have_gain.items():
        tok = c["tokenization"]
        g = [statistics.fmean(gain(c, l)) for l in langs]
        mono = [statistics.fmean(c["acc"]["monolingual"][l]) for l in langs]
        for key, label in stats.items():
            if all(key in tok.get(l, {}) for l in langs):
                corr[f"{n}: federated gain vs {label}"] = spearman(g, [tok[l][key] for l in langs])
                corr[f"{n}: monolingual accuracy vs {label}"] = spearman(mono, [tok[l][key] for l in langs])
    if "e5-head" in cells:
        for n in (n for n, c in cells.items() if c["backbone"].startswith("gemma")):
            if "federated" in cells[n]["acc"] and "federated" in cells["e5-head"]["acc"]:
                gap = [statistics.fmean(cells[n]["acc"]["federated"][l]) - statistics.fmean(cells["e5-head"]["acc"]["federated"][l])
                       for l in langs]
                for key, label in stats.items():
                    if all(key in gemma_tok.get(l, {}) for l in langs):
                        corr[f"{n} − e5-head (federated) vs Gemma {label}"] = spearman(gap, [gemma_tok[l][key] for l in langs])
    lines += ["", "## Does it follow the tokenizer? (Spearman ρ across languages)", "",
              "p is two-sided and exact (every pairing of the languages) up to eight languages.", "",
              "| quantity | ρ | p | n |", "|---|---:|---:|---:|"]
    lines += [f"| {k} | – | – | {len(langs)} |" if v is None else f"| {k} | {v['rho']:+.2f} | {v['p']:.3f} | {v['n']} |"
              for k, v in corr.items()]
    out["spearman"] = corr
    (ds_folder / "summary.md").write_text("\n".join(lines) + "\n")
    (ds_folder / "summary.json").write_text(json.dumps(out, indent=2))
    plot(ds_folder, cells, langs, gemma_tok, e5_tok)
    return out


def plot(ds_folder: Path, cells: dict, langs: list[str], gemma_tok: dict, e5_tok: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.5))
    width = 0.8 / max(len(cells), 1)
    for i, (name, c) in enumerate(cells.items()):
        if "federated" not in c["acc"]:
            continue
        ys = [100 * statistics.fmean(c["acc"]["federated"][l]) for l in langs]
        ax1.bar([j + i * width for j in range(len(langs))], ys, width, label=f"{name} federated")
        if "federated" in c["probe"]:
            ps = [100 * statistics.fmean(c["probe"]["federated"][l]) for l in langs]
            ax1.scatter([j + i * width for j in range(len(langs))], ps, marker="_", s=120, color="black", zorder=3)
        if "monolingual" in c["acc"]:
            tok = gemma_tok if c["backbone"].startswith("gemma") else e5_tok
            key = "parity" if all("parity" in tok.get(l, {}) for l in langs) else "tokens_per_word"
            xs = [tok.get(l, {}).get(key) for l in langs]
            g = [100 * statistics.fmean(gain(c, l)) for l in langs]
            ax2.scatter(xs, g, label=name)
            for x, y, l in zip(xs, g, langs):
                ax2.annotate(l.split("_")[0], (x, y), fontsize=7)
    ax1.set_xticks([j + 0.4 - width / 2 for j in range(len(langs))], [l.split("_")[0] for l in langs])
    ax1.set_ylabel("test accuracy, federated (%)  — black: federated probe")
    ax1.legend(fontsize=8)
    ax2.axhline(0, color="grey", lw=0.8)
    ax2.set_xlabel("parity: tokens per sentence over English's (the cell's own tokenizer; tokens per word where "
                   "there is no English)", fontsize=8)
    ax2.set_ylabel("federated − monolingual (points)")
    if ax2.collections:
        ax2.legend(fontsize=8)
    fig.suptitle(f"Decoder study, {ds_folder.name}")
    fig.tight_layout()
    fig.savefig(ds_folder / "summary.png", dpi=120)
    plt.close(fig)


def main() -> None:
    study = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/results/decoder")
    for ds in sorted(p for p in study.iterdir() if p.is_dir()):
        if report(ds):
            print((ds / "summary.md").read_text())


if __name__ == "__main__":
    main()
