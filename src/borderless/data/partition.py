"""Who holds which training examples in the federated paradigm.

Each partitioner maps ``{language: [examples]}`` to ``{client_id: [(language, index), ...]}``
(indices into that language's training list), deterministically from a seed:

- ``language``: one client per language, the natural non-IID split (the default);
- ``iid``: every language's training data pooled, shuffled and dealt evenly to as many clients;
- ``dirichlet``: pooled, then each label's examples split across clients with proportions drawn
  from Dirichlet(alpha): small alpha → strong label skew;
- ``size_skew``: one client per language, the listed low-resource languages keep only a fraction
  of their data (seeded, stratified).

Monolingual and centralized runs do not use a partition: they are defined by language and by the
pool. Evaluation is always on every language's own test split.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

import numpy as np

from borderless.data.sampling import stratified_cap
from borderless.data.types import Example

Assignment = dict[str, list[tuple[str, int]]]


@dataclass(frozen=True)
class PartitionSpec:
    kind: str = "language"  # language | iid | dirichlet | size_skew
    num_clients: int = 0  # iid / dirichlet; 0 = as many clients as languages
    dirichlet_alpha: float = 0.5
    low_resource: tuple[str, ...] = ()  # size_skew: these languages keep only low_resource_fraction
    low_resource_fraction: float = 0.1


def _pool(train: dict[str, list[Example]]) -> list[tuple[str, int]]:
    return [(lang, i) for lang, exs in train.items() for i in range(len(exs))]


def by_language(train: dict[str, list[Example]]) -> Assignment:
    return {lang: [(lang, i) for i in range(len(exs))] for lang, exs in train.items()}


def iid(train: dict[str, list[Example]], num_clients: int, seed: int) -> Assignment:
    pool = _pool(train)
    random.Random(seed).shuffle(pool)
    return {f"iid-{c}": sorted(pool[c::num_clients]) for c in range(num_clients)}


def dirichlet(train: dict[str, list[Example]], num_clients: int, alpha: float, seed: int) -> Assignment:
    rng = np.random.default_rng(seed)
    by_label: dict[int, list[tuple[str, int]]] = {}
    for lang, i in _pool(train):
        by_label.setdefault(train[lang][i].label, []).append((lang, i))
    clients: Assignment = {f"dir-{c}": [] for c in range(num_clients)}
    names = list(clients)
    for label in sorted(by_label):
        items = by_label[label]
        rng.shuffle(items)
        shares = rng.dirichlet([alpha] * num_clients)
        cuts = (np.cumsum(shares)[:-1] * len(items)).round().astype(int)
        for name, part in zip(names, np.split(np.array(items, dtype=object), cuts)):
            clients[name].extend((str(l), int(i)) for l, i in part)
    empty = [n for n, items in clients.items() if not items]
    if empty:
        raise ValueError(
            f"dirichlet partition (alpha={alpha}, seed={seed}) left clients {empty} without examples; "
            "raise data.dirichlet_alpha or lower data.num_clients"
        )
    return {n: sorted(items) for n, items in clients.items()}


def size_skew(train: dict[str, list[Example]], low_resource: tuple[str, ...], fraction: float, seed: int) -> Assignment:
    unknown = [l for l in low_resource if l not in train]
    if unknown:
        raise ValueError(f"data.low_resource names {unknown}, which are not in data.languages {list(train)}")
    out = by_language(train)
    for lang in low_resource:
        exs = train[lang]
        keep = stratified_cap(exs, max(1, round(fraction * len(exs))), seed)
        position = {ex.uid: i for i, ex in enumerate(exs)}
        out[lang] = [(lang, position[ex.uid]) for ex in keep]
    return out


def partition(train: dict[str, list[Example]], spec: PartitionSpec, seed: int) -> Assignment:
    n = spec.num_clients or len(train)
    if spec.kind == "language":
        return by_language(train)
    if spec.kind == "iid":
        return iid(train, n, seed)
    if spec.kind == "dirichlet":
        return dirichlet(train, n, spec.dirichlet_alpha, seed)
    if spec.kind == "size_skew":
        return size_skew(train, spec.low_resource, spec.low_resource_fraction, seed)
    raise ValueError(f"data.partition {spec.kind!r}: use language, iid, dirichlet or size_skew")


def histogram(assignment: Assignment, train: dict[str, list[Example]], label_names: tuple[str, ...]) -> str:
    """A per-client table: size, languages and label counts (a token task's: tag counts over its words)."""
    short = [name.split("/")[0][:6] for name in label_names]
    lines = [f"{'client':<12} {'size':>5}  " + " ".join(f"{s:>6}" for s in short) + "  languages"]
    for client, items in assignment.items():
        labels = Counter(t for l, i in items for t in (train[l][i].tags if train[l][i].tags is not None
                                                          else (train[l][i].label,)))
        langs = Counter(l for l, _ in items)
        lang_text = ", ".join(f"{l}:{c}" for l, c in sorted(langs.items()))
        lines.append(f"{client:<12} {len(items):>5}  " + " ".join(f"{labels.get(k, 0):>6}" for k in range(len(label_names)))
                     + f"  {lang_text}")
    return "\n".join(lines)
