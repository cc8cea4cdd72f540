"""Seeded, stratified subsampling: cap a client's examples while keeping its label proportions."""

from __future__ import annotations

import random
from collections import defaultdict

from borderless.data.types import Example


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
    total = len(examples)
    quotas = {lab: cap * len(idx) / total for lab, idx in by_label.items()}
    take = {lab: int(q) for lab, q in quotas.items()}
    leftover = cap - sum(take.values())
    for lab in sorted(quotas, key=lambda lab: (-(quotas[lab] - take[lab]), lab))[:leftover]:
        take[lab] += 1
    rng = random.Random(seed)
    chosen: list[int] = []
    for lab in sorted(by_label):
        idx = list(by_label[lab])
        rng.shuffle(idx)
        chosen.extend(idx[: take[lab]])
    return [examples[i] for i in sorted(chosen)]
