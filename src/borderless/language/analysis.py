"""Relate each language's gain from federation to its URIEL distance: from the rest of the
federation and from English. Scatter plots (languages labelled) and Spearman rank correlations
with p-values; pairs with an unknown distance are left out and counted, never read as 0."""

from __future__ import annotations

import itertools
import math
import statistics
from pathlib import Path

import numpy as np

from borderless.language.distance import DISTANCE_KINDS, DistanceMatrix, all_distances
from borderless.plotting import pyplot, save_figure

ENGLISH = "eng_Latn"


def distance_profiles(languages: list[str], mats: dict[str, DistanceMatrix]) -> dict[str, dict[str, dict[str, float]]]:
    """kind → language → {"federation": mean distance to the other training languages (known
    pairs only), "english": distance to English}."""
    out = {}
    for kind, m in mats.items():
        rows = {}
        for lang in languages:
            others = [m.get(lang, o) for o in languages if o != lang]
            known = [d for d in others if not math.isnan(d)]
            rows[lang] = {"federation": statistics.fmean(known) if known else math.nan,
                          "english": m.get(lang, ENGLISH) if lang != ENGLISH else 0.0}
        out[kind] = rows
    return out


def spearman(xs: list[float], ys: list[float], exact_up_to: int = 0) -> tuple[float, float, int]:
    """(rho, two-sided p, n) over the pairs where both values are known. p is spearmanr's t
    approximation, or, where n <= ``exact_up_to`` (at most 8: n! orderings), exact: the share of all
    orderings of y's ranks against x's whose |rho| reaches the observed one (the approximation calls
    rho = 1 on five pairs p ~ 1e-24; the exact p is 2/120)."""
    from scipy.stats import rankdata, spearmanr

    pairs = [(x, y) for x, y in zip(xs, ys) if not (math.isnan(x) or math.isnan(y))]
    n = len(pairs)
    if n < 3 or len({x for x, _ in pairs}) < 2 or len({y for _, y in pairs}) < 2:
        return math.nan, math.nan, n
    res = spearmanr([x for x, _ in pairs], [y for _, y in pairs])
    rho, p = float(res.statistic), float(res.pvalue)
    if n <= min(exact_up_to, 8):
        rx, ry = (rankdata(v) - (n + 1) / 2 for v in zip(*pairs))
        rhos = ry[np.array(list(itertools.permutations(range(n))))] @ rx / math.sqrt((rx @ rx) * (ry @ ry))
        p = float(np.mean(np.abs(rhos) >= abs(rho) - 1e-12))
    return rho, p, n


def _fmt(v: float, digits: int = 2) -> str:
    return "n/a" if math.isnan(v) else f"{v:+.{digits}f}"


def plot_gain_scatter(profiles, gains: dict[str, float], towards: str, gain_label: str, path: Path) -> None:
    plt = pyplot()

    kinds = list(profiles)
    ncol = 4
    nrow = (len(kinds) + ncol - 1) // ncol
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.4 * ncol, 2.9 * nrow), squeeze=False)
    for ax, kind in zip(axes.flat, kinds):
        langs = [l for l in gains if not math.isnan(profiles[kind][l][towards])]
        xs = [profiles[kind][l][towards] for l in langs]
        ys = [100 * gains[l] for l in langs]
        ax.scatter(xs, ys, s=14)
        for l, x, y in zip(langs, xs, ys):
            ax.annotate(l.split("_")[0], (x, y), fontsize=6, xytext=(2, 2), textcoords="offset points")
        rho, p, n = spearman([profiles[kind][l][towards] for l in gains], [gains[l] for l in gains])
        ax.set_title(f"{kind}: ρ={_fmt(rho)} p={'n/a' if math.isnan(p) else f'{p:.2f}'} n={n}", fontsize=8)
        ax.axhline(0, color="grey", lw=0.6)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
    for ax in axes.flat[len(kinds):]:
        ax.axis("off")
    fig.supxlabel(f"URIEL distance to {'the rest of the federation (mean)' if towards == 'federation' else 'English'}",
                  fontsize=9)
    fig.supylabel(f"{gain_label} (points)", fontsize=9)
    save_figure(fig, path)


def language_section(languages: list[str], accuracy: dict[str, dict[str, float]], plots: Path,
                     federated: str = "federated", monolingual: str = "monolingual",
                     centralized: str = "centralized", tokenization: dict[str, dict[str, float]] | None = None,
                     mats: dict[str, DistanceMatrix] | None = None) -> list[str]:
    """Markdown lines (and plots under ``plots``): gain vs distance, tokenizer statistics.
    ``accuracy`` is paradigm → language → accuracy (a mean over seeds where there are seeds)."""
    if len(languages) < 3 or federated not in accuracy:
        return []
    with_english = languages + ([ENGLISH] if ENGLISH not in languages else [])
    try:
        mats = mats or all_distances(with_english)
    except ValueError as err:
        return ["## Language distance", "", f"Not computed: {err}", ""]
    profiles = distance_profiles(languages, mats)
    lines = ["## Gain from federation vs language distance (URIEL+)", "",
             "Distance to the federation: a language's mean URIEL distance to the other training languages. "
             "Spearman rank correlation over the training languages; pairs with an unknown distance are left out "
             "(n says how many remain). With this few languages, |ρ| needs to be large to mean anything: "
             "read the p-values.", "",
             "| distance | gain | ρ vs distance to federation (p, n) | ρ vs distance to English (p, n) |",
             "|---|---|---|---|"]
    gains_by = {}
    for other, name in ((monolingual, "fed − mono"), (centralized, "fed − central")):
        if other not in accuracy:
            continue
        gains = {l: accuracy[federated][l] - accuracy[other][l] for l in languages}
        gains_by[name] = gains
        for kind in DISTANCE_KINDS:
            cells = []
            for towards in ("federation", "english"):
                rho, p, n = spearman([profiles[kind][l][towards] for l in languages], [gains[l] for l in languages])
                cells.append(f"{_fmt(rho)} ({'n/a' if math.isnan(p) else f'{p:.3f}'}, {n})")
            lines.append(f"| {kind} | {name} | {cells[0]} | {cells[1]} |")
    lines.append("")
    for name, gains in gains_by.items():
        slug = "mono" if "mono" in name else "central"
        for towards in ("federation", "english"):
            fname = f"gain_vs_{slug}_by_distance_to_{towards}.png"
            plot_gain_scatter(profiles, gains, towards, name, plots / fname)
            lines.append(f"![{name} against distance to {towards}](plots/{fname})")
    lines += ["", "| language | fed − mono | fed − central | combined distance to federation | to English "
              "| tokens / word | unk % | 1-char pieces % |", "|---|---|---|---|---|---|---|---|"]
    for l in languages:
        tok = (tokenization or {}).get(l, {})
        g1 = gains_by.get("fed − mono", {}).get(l, math.nan)
        g2 = gains_by.get("fed − central", {}).get(l, math.nan)
        prof = profiles["combined"][l]
        lines.append(f"| {l} | {_fmt(100 * g1, 1)} | {_fmt(100 * g2, 1)} | {prof['federation']:.3f} | "
                     f"{prof['english']:.3f} | {tok.get('tokens_per_word', math.nan):.2f} | "
                     f"{tok.get('unk_percent', math.nan):.2f} | {tok.get('single_char_percent', math.nan):.1f} |")
    if tokenization:
        tpw = [tokenization[l]["tokens_per_word"] for l in languages if l in tokenization]
        for name, gains in gains_by.items():
            rho, p, n = spearman(tpw, [gains[l] for l in languages if l in tokenization])
            lines.append("")
            lines.append(f"Tokens per word vs {name}: ρ = {_fmt(rho)} (p = {'n/a' if math.isnan(p) else f'{p:.3f}'}, n = {n}).")
    lines.append("")
    return lines
