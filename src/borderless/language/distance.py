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

from borderless.language.codes import FEATURE_FAMILIES, _family_index, resolve, uriel
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
        index = self._index
        return float(self.values[index[a], index[b]])

    @functools.cached_property
    def _index(self) -> dict[str, int]:
        return {lang: i for i, lang in enumerate(self.languages)}

    def as_dict(self) -> dict:
        return {"kind": self.kind, "languages": list(self.languages),
                "values": [[None if math.isnan(v) else round(float(v), 4) for v in row] for row in self.values],
                "missing": [list(p) for p in self.missing], "notes": list(self.notes)}


def _family_values(family: str, codes: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Each URIEL code's feature vector for ``family`` (sources aggregated as urielplus does: the
    single value, else the max of the known values, their mean for geography) and which features it
    has data for (urielplus: not every source -1)."""
    u = uriel()
    idx, cols, rows = _family_index(family)
    raw = np.asarray(u.data[idx][[rows[c] for c in codes]][:, cols, :])
    has = ~np.all(raw == -1.0, axis=2)
    if raw.shape[2] == 1:  # urielplus keeps the stored dtype here, and Python floats (float64) below
        return raw[:, :, 0], has
    raw = raw.astype(float)
    known = np.isfinite(raw) & (raw != -1.0)
    count = known.sum(axis=2)
    if family == "geographic" or u.aggregation == "A":
        agg = np.where(known, raw, 0.0).sum(axis=2) / np.maximum(count, 1)
    else:
        agg = np.where(known, raw, -np.inf).max(axis=2)
    return np.where(count > 0, agg, -1.0), has


def _angular(u: np.ndarray, v: np.ndarray) -> float:
    """urielplus's ``_angular_distance`` (angular metric, rounded to 4 places), in the vectors' own
    dtype as urielplus computes it, so the numbers match to the bit."""
    if np.linalg.norm(u) == 0:
        u = np.ones(u.shape[0]) * 1e-10
    if np.linalg.norm(v) == 0:
        v = np.ones(u.shape[0]) * 1e-10
    cos = np.clip(np.dot(u / np.linalg.norm(u), v / np.linalg.norm(v)), -1.0, 1.0)
    d = 2 * np.arccos(cos)
    d /= np.pi
    return float(round(d, 4))


def _code_distances(family: str, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], float]:
    """urielplus's distance between URIEL codes over the features both have data for, NaN where
    they share none. Same numbers as ``new_distance``, which takes ~25 ms a pair in Python loops
    (minutes for SIB-200's 205 languages); this is vectorised per pair."""
    codes = tuple(sorted({c for p in pairs for c in p}))
    if not codes:
        return {}
    values, has = _family_values(family, codes)
    at = {c: i for i, c in enumerate(codes)}
    out = {}
    for a, b in pairs:
        i, j = at[a], at[b]
        shared = has[i] & has[j]
        out[(a, b)] = 0.0 if a == b else (_angular(values[i, shared], values[j, shared]) if shared.any() else math.nan)
    return out


def _family_matrix(family: str, codes: tuple[str, ...]) -> np.ndarray:
    """urielplus distances among distinct URIEL codes; NaN where unknown."""
    pairs = [(a, b) for k, a in enumerate(codes) for b in codes[k + 1:]]
    d = _code_distances(family, pairs)
    m = np.zeros((len(codes), len(codes)))
    for k, a in enumerate(codes):
        for l, b in enumerate(codes[k + 1:], start=k + 1):
            m[k, l] = m[l, k] = d[(a, b)]
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
    where = {c: i for i, c in enumerate(distinct)}
    for a in range(n):
        for b in range(n):
            if a == b:
                values[a, b] = 0.0
            elif uri[a] and uri[b]:
                values[a, b] = sub[where[uri[a]], where[uri[b]]]
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


def pair_distances(kind: str, pairs) -> dict[tuple[str, str], float]:
    """``kind`` distances for the given language pairs only, under both orders, equal to what
    :func:`distance` would put in those cells: a zero-shot run needs each zero-shot language against
    the training languages, not the whole matrix."""
    if kind not in DISTANCE_KINDS:
        raise ValueError(f"unknown distance {kind!r}; available: {', '.join(DISTANCE_KINDS)}")
    families = FEATURE_FAMILIES if kind == "combined" else (kind,)
    pairs = list(pairs)
    infos = {code: resolve(code) for code in sorted({c for pair in pairs for c in pair})}
    bad = [code for code, i in infos.items() if not i.mapped]
    if bad:
        raise ValueError(f"cannot map {', '.join(bad)} to URIEL: {infos[bad[0]].notes[0]}")
    per_family = {}
    for fam in families:
        codes = {(infos[a].per_family.get(fam), infos[b].per_family.get(fam)) for a, b in pairs}
        per_family[fam] = _code_distances(fam, [(x, y) for x, y in codes if x and y])
    out: dict[tuple[str, str], float] = {}
    for a, b in pairs:
        known = [0.0] if a == b else []
        for fam in families if a != b else ():
            ua, ub = infos[a].per_family.get(fam), infos[b].per_family.get(fam)
            d = per_family[fam][(ua, ub)] if ua and ub else math.nan
            if not math.isnan(d):
                known.append(d)
        out[(a, b)] = out[(b, a)] = sum(known) / len(known) if known else math.nan
    return out


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
