"""Seeded, stratified subsampling: cap a client's examples while keeping its label proportions."""

from __future__ import annotations

import random
from collections import defaultdict

from borderless.data.types import Example


def largest_remainder(sizes: dict, n: int) -> dict:
    """``n`` shared between the keys in proportion to ``sizes``: floors, then one more each for the
    largest remainders (ties: the smaller key)."""
    total = sum(sizes.values())
    quotas = {k: n * size / total for k, size in sizes.items()}
    take = {k: int(q) for k, q in quotas.items()}
    for k in sorted(quotas, key=lambda k: (-(quotas[k] - take[k]), k))[: n - sum(take.values())]:
        take[k] += 1
    return take


def stratified_cap(examples: list[Example], cap: int, seed: int) -> list[Example]:
    """At most ``cap`` examples, label shares kept (largest-remainder rounding), order kept.

    ``cap <= 0`` or ``cap >= len(examples)`` returns the examples unchanged. The choice depends
    only on the examples and the seed, so every paradigm sees exactly the same subset.
    """
    if cap <= 0 or cap >= len(examples):
        return list(examples)
    by_label: dict[int, list[int]] = defaultdict(list)
    for i, ex in enumerate(examples):
        by_label[ex.label].append(i)
    take = largest_remainder({lab: len(idx) for lab, idx in by_label.items()}, cap)
    rng = random.Random(seed)
    chosen: list[int] = []
    for lab in sorted(by_label):
        idx = list(by_label[lab])
        rng.shuffle(idx)
        chosen.extend(idx[: take[lab]])
    return [examples[i] for i in sorted(chosen)]


def grouped_cap(examples: list[Example], keys: list[object], cap: int, seed: int) -> list[Example]:
    """About ``cap`` examples, taking whole groups (examples with the same key), order kept.

    Groups are stratified by their sorted labels (an NLI premise with one hypothesis of each label
    is one stratum; groups of one example are stratified by label, like :func:`stratified_cap`).
    The number of groups taken is ``cap`` scaled by groups per example, shared between strata by
    largest remainder. Each group is ranked by a seeded random key of its first example's position,
    so files with the same row layout (parallel translations) give the same rows.
    """
    if len(keys) != len(examples):
        raise ValueError(f"grouped_cap: {len(keys)} keys for {len(examples)} examples")
    if cap <= 0 or cap >= len(examples):
        return list(examples)
    groups: dict[object, list[int]] = {}
    for i, k in enumerate(keys):
        groups.setdefault(k, []).append(i)
    strata: dict[tuple[int, ...], list[list[int]]] = defaultdict(list)
    for members in groups.values():
        strata[tuple(sorted(examples[i].label for i in members))].append(members)
    take = largest_remainder({s: len(g) for s, g in strata.items()}, max(1, round(cap * len(groups) / len(examples))))
    rank = list(range(len(examples)))
    random.Random(seed).shuffle(rank)
    chosen: list[int] = []
    for s in sorted(strata):
        for members in sorted(strata[s], key=lambda m: rank[m[0]])[: take[s]]:
            chosen.extend(members)
    return [examples[i] for i in sorted(chosen)]
