"""Canaries (Carlini et al., 2019, "The Secret Sharer", for a classifier): training sentences given a
random wrong label and inserted 1, 4 or 16 times, whose memorisation the audit measures.

A canary is a real sentence of a language's training split that is neither a member nor a scored
non-member (membership.split), relabelled with a label drawn uniformly from the language's other
labels. Its **exposure** is log2(M + 1) − log2(rank), where rank is the canary's place (1 = lowest)
when its loss under its inserted label is sorted among the losses of M *reference* canaries: sentences
relabelled the same way and never inserted. A model that did not memorise the canary ranks it at
random (expected exposure about 1 bit); one that did ranks it first (log2(M + 1) bits, the most this
M can show). Memorised also shows as the model predicting the inserted wrong label, which the
references give a chance rate for.
"""

from __future__ import annotations

import dataclasses
import math
import random

import numpy as np

from borderless.audit.membership import Split, sentence_id
from borderless.data.types import Example, LanguageData

@dataclasses.dataclass(frozen=True)
class Canaries:
    inserted: dict[str, list[tuple[Example, int]]]  # language → (relabelled sentence, times inserted)
    references: dict[str, list[Example]]  # language → relabelled sentences never inserted


def draw(data: dict[str, LanguageData], languages: list[str], sp: Split, repeats: tuple[int, ...],
         per_repeat: int, references: int, seed: int) -> Canaries:
    """Per language: ``per_repeat`` canaries for each count in ``repeats`` and up to ``references``
    reference canaries, all from the training rows the split left out (seeded by language and seed).
    Refuses, naming the language, when too few rows are left for the canaries and 10 references."""
    inserted, refs = {}, {}
    for lang in languages:
        d = data[lang]
        used = {ex.uid for ex in sp.members[lang]} | {ex.uid for ex in sp.outsiders[lang]}
        pool = [ex for ex in d.train if ex.uid not in used]
        need = per_repeat * len(repeats)
        if len(pool) < need + 10:
            raise ValueError(f"audit --canaries: {lang} has {len(pool)} training rows that are neither members nor "
                             f"scored non-members; {need} canaries and at least 10 references need {need + 10}. "
                             "Lower --canaries-per-count, or cap training lower (data.max_train_per_language)")
        rng = random.Random(f"borderless-canaries-{seed}/{lang}")
        rng.shuffle(pool)
        labels = list(d.allowed) if d.allowed is not None else list(range(len(d.labels)))
        relabel = [dataclasses.replace(ex, uid=f"{lang}/canary-{sentence_id(ex)}",
                                       label=rng.choice([y for y in labels if y != ex.label])) for ex in pool]
        inserted[lang] = [(relabel[i * per_repeat + j], r) for i, r in enumerate(repeats) for j in range(per_repeat)]
        refs[lang] = relabel[need:need + references]
    return Canaries(inserted, refs)


def with_canaries(data: dict[str, LanguageData], canaries: Canaries) -> dict[str, LanguageData]:
    """Each language's training split with its canaries appended, each as many times as it is inserted
    (copy k of a canary gets its own uid, so every copy is a training row of its own)."""
    out = dict(data)
    for lang, items in canaries.inserted.items():
        copies = [dataclasses.replace(ex, uid=f"{ex.uid}#{k}") for ex, r in items for k in range(r)]
        out[lang] = dataclasses.replace(data[lang], train=[*data[lang].train, *copies])
    return out


def exposure(canary_loss: float, reference_losses: np.ndarray) -> float:
    """log2(M + 1) − log2(rank), rank = 1 + the references with a lower loss (ties count half)."""
    lower = float(np.sum(reference_losses < canary_loss)) + 0.5 * float(np.sum(reference_losses == canary_loss))
    return math.log2(len(reference_losses) + 1) - math.log2(1 + lower)


def summarise(per_language: dict[str, tuple[list[tuple[float, bool, int]], np.ndarray, np.ndarray]]) -> dict:
    """``per_language``: language → ([(canary loss, predicted its inserted label?, times inserted)],
    reference losses, whether each reference was predicted as its wrong label). Per insertion count: the
    canaries' mean and largest exposure and the share predicted as their wrong label; the references'
    share for chance, and the most exposure the references allow."""
    by_count: dict[int, list[tuple[float, bool]]] = {}
    for canaries, ref_losses, _ in per_language.values():
        for loss, hit, count in canaries:
            by_count.setdefault(count, []).append((exposure(loss, ref_losses), hit))
    refs_hit = np.concatenate([np.asarray(h, dtype=float) for _, _, h in per_language.values()])
    smallest = min(len(r) for _, r, _ in per_language.values())
    return {"by_count": {str(c): {"canaries": len(v), "mean_exposure": float(np.mean([e for e, _ in v])),
                                  "max_exposure": float(max(e for e, _ in v)),
                                  "predicted_as_inserted": float(np.mean([h for _, h in v]))}
                         for c, v in sorted(by_count.items())},
            "references_per_language": smallest, "exposure_ceiling": math.log2(smallest + 1),
            "references_predicted_as_wrong_label": float(refs_hit.mean()) if refs_hit.size else 0.0}
