"""The usual tagging baseline: each word gets the tag it most often has in training (per word type,
ties to the smaller tag index); a word never seen in training gets the most frequent tag overall.
It is scored on exactly the words the model is scored on (those ``max_length`` kept)."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

from borderless.data.types import Example
from borderless.metrics import token_scores


class MostFrequentTag:
    def __init__(self, train: list[Example]):
        by_word: dict[str, Counter] = defaultdict(Counter)
        overall: Counter = Counter()
        for ex in train:
            for w, t in zip(ex.words, ex.tags):
                by_word[w][t] += 1
                overall[t] += 1
        if not overall:
            raise ValueError("the most-frequent-tag baseline needs tagged training sentences")
        self.default = min(overall, key=lambda t: (-overall[t], t))
        self.tag = {w: min(c, key=lambda t: (-c[t], t)) for w, c in by_word.items()}

    def predict(self, words) -> np.ndarray:
        return np.asarray([self.tag.get(w, self.default) for w in words], dtype=np.int64)


def baseline_scores(train: list[Example], test: list[Example], kept: list[np.ndarray],
                    label_names: tuple[str, ...]) -> dict[str, float]:
    """The baseline's metrics on ``test``; ``kept``: each sentence's scored tags (its first len(kept[i]) words)."""
    model = MostFrequentTag(train)
    preds = [model.predict(ex.words[: len(k)]) for ex, k in zip(test, kept)]
    return token_scores(list(kept), preds, label_names)
