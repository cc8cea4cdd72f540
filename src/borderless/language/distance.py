"""URIEL+ distances between languages (urielplus, offline), with missing values kept missing.

urielplus marks a distance it cannot compute (no shared features) with -1; a language with no
data for a feature family has no distance in it at all. Both become NaN here and are listed in
``missing``; they are never read as 0. The combined distance is the mean of the families that are
known for that pair, and says how many families it averaged.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np

from borderless.language.codes import FEATURE_FAMILIES, resolve, uriel
from borderless.plotting import pyplot, save_figure

DISTANCE_KINDS = FEATURE_FAMILIES + ("combined",)


@dataclass(frozen=True)
class DistanceMatrix:
    kind: str
    languages: tuple[str, ...]
    values: np.ndarray  # symmetric, zero diagonal, NaN where unknown
    missing: tuple[tuple[str, str], ...] = ()  # unordered pairs with no value
    notes: tuple[str, ...] = field(default=())

    def get(self, a: str, b: str) -> float:
        return float(self.values[self.languages.index(a), self.languages.index(b)])

    def as_dict(self) -> dict:
        return {"kind": self.kind, "languages": list(self.languages),
                "values": [[None if math.isnan(v) else round(float(v), 4) for v in row] for row in self.values],
                "missing": [list(p) for p in self.missing], "notes": list(self.notes)}


@functools.cache
def _family_matrix(family: str, codes: tuple[str, ...]) -> np.ndarray:
    """urielplus distances among distinct URIEL codes; -1 → NaN."""
    u = uriel()
    if len(codes) == 1:
        return np.zeros((1, 1))
    if len(codes) == 2:
        try:
            d = float(u.new_distance(family, list(codes)))
        except ValueError:  # no shared features
            d = -1.0
        m = np.array([[0.0, d], [d, 0.0]])
    else:
        m = np.array(u.new_distance(family, list(codes)), dtype=float)
    m[m < 0] = np.nan
    np.fill_diagonal(m, 0.0)
    return m


def family_distance(family: str, languages: list[str] | tuple[str, ...]) -> DistanceMatrix:
    if family not in FEATURE_FAMILIES:
        raise ValueError(f"unknown distance {family!r}; available: {', '.join(DISTANCE_KINDS)}")
    infos = [resolve(code) for code in languages]
    bad = [i.code for i in infos if not i.mapped]
    if bad:
        raise ValueError(f"cannot map {', '.join(bad)} to URIEL: {resolve(bad[0]).notes[0]}")
    uri = [i.per_family.get(family) for i in infos]
    distinct = tuple(sorted({c for c in uri if c}))
    sub = _family_matrix(family, distinct) if distinct else np.zeros((0, 0))
    n = len(languages)
    values = np.full((n, n), np.nan)
    for a in range(n):
        for b in range(n):
            if a == b:
                values[a, b] = 0.0
            elif uri[a] and uri[b]:
                values[a, b] = sub[distinct.index(uri[a]), distinct.index(uri[b])]
    notes = []
    for a in range(n):
        for b in range(a + 1, n):
            if uri[a] and uri[a] == uri[b]:
                notes.append(f"{languages[a]} and {languages[b]} share URIEL code '{uri[a]}' for {family}: distance 0")
    missing = tuple((languages[a], languages[b]) for a in range(n) for b in range(a + 1, n) if np.isnan(values[a, b]))
    return DistanceMatrix(family, tuple(languages), values, missing, tuple(notes))


def combined_distance(parts: list[DistanceMatrix]) -> DistanceMatrix:
    """Mean over the feature families known for each pair; NaN only if none is known."""
    stack = np.stack([p.values for p in parts])
    known = ~np.isnan(stack)
    count = known.sum(axis=0)
    with np.errstate(invalid="ignore"):
        values = np.where(count > 0, np.nansum(stack, axis=0) / np.maximum(count, 1), np.nan)
    langs = parts[0].languages
    n = len(langs)
    partial = sorted({int(count[a, b]) for a in range(n) for b in range(a + 1, n)})
    notes = (f"combined = mean of {', '.join(p.kind for p in parts)}; pairs averaged over "
             f"{'/'.join(map(str, partial))} known families",)
    missing = tuple((langs[a], langs[b]) for a in range(n) for b in range(a + 1, n) if np.isnan(values[a, b]))
    return DistanceMatrix("combined", langs, values, missing, notes)


def distance(kind: str, languages: list[str] | tuple[str, ...]) -> DistanceMatrix:
    """One URIEL distance (or ``combined``) among ``languages`` (SIB-200 or ISO codes)."""
    if len(set(languages)) != len(languages):
        raise ValueError("a language is listed twice")
    if kind == "combined":
        return combined_distance([family_distance(f, languages) for f in FEATURE_FAMILIES])
    return family_distance(kind, languages)


def all_distances(languages: list[str] | tuple[str, ...]) -> dict[str, DistanceMatrix]:
    parts = {f: family_distance(f, languages) for f in FEATURE_FAMILIES}
    return {**parts, "combined": combined_distance(list(parts.values()))}


def matrix_table(m: DistanceMatrix) -> str:
    lines = ["| | " + " | ".join(m.languages) + " |", "|---|" + "---|" * len(m.languages)]
    for a, row in zip(m.languages, m.values):
        lines.append(f"| {a} | " + " | ".join("n/a" if math.isnan(v) else f"{v:.3f}" for v in row) + " |")
    return "\n".join(lines)


def plot_heatmap(m: DistanceMatrix, path) -> None:
    plt = pyplot()

    n = len(m.languages)
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * n, 0.8 + 0.5 * n))
    masked = np.ma.masked_invalid(m.values)
    im = ax.imshow(masked, cmap="viridis", vmin=0, vmax=max(1e-9, float(np.nanmax(m.values))))
    for a in range(n):
        for b in range(n):
            v = m.values[a, b]
            ax.text(b, a, "n/a" if math.isnan(v) else f"{v:.2f}", ha="center", va="center", fontsize=6,
                    color="white" if not math.isnan(v) and v < 0.6 * np.nanmax(m.values) else "black")
    ax.set_xticks(range(n), m.languages, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(n), m.languages, fontsize=7)
    ax.set_title(f"URIEL {m.kind} distance", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046)
    save_figure(fig, path)
