"""The loss-threshold attack (Yeom et al., 2018) on a released model: a sentence the model trained
on tends to have a lower loss. Score = −loss of the true label under the model a user would get
(``borderless.load``: the paradigm's kept state, its language's own model where it has one).

A tagged sentence (NER, POS) is one record: its loss is the mean cross-entropy of its words' tags
(each word read at its first sub-word, as training and evaluation read it), and the model "predicts
its label" when it tags every word right. Words cut by ``backbone.max_length`` are not scored; a
sentence with none left scores as a uniform guess."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from borderless.data.types import Example


def losses_and_hits(model, examples: list[Example], language: str) -> tuple[np.ndarray, np.ndarray]:
    """Per sentence: the cross-entropy of its label (logits restricted to the language's labels), and
    whether the model predicts that label; for a tagged sentence, the mean over its words."""
    if not examples:
        return np.zeros(0), np.zeros(0, dtype=bool)
    if examples[0].tags is not None:
        return _tagged(model, examples, language)
    logits = model.logits([ex.text for ex in examples], language,
                          [ex.text_pair for ex in examples] if examples[0].text_pair is not None else None).float()
    labels = torch.tensor([ex.label for ex in examples])
    return F.cross_entropy(logits, labels, reduction="none").numpy(), (logits.argmax(-1) == labels).numpy()


def _tagged(model, examples: list[Example], language: str) -> tuple[np.ndarray, np.ndarray]:
    names = model.labels  # the run's tag set, which the examples' tag indices index
    guess = math.log(len(names))
    losses, hits = np.zeros(len(examples)), np.zeros(len(examples), dtype=bool)
    for i, (ex, (_, per_word)) in enumerate(zip(examples, model.tag_proba([list(ex.words) for ex in examples], language))):
        scored = [(p, names[t]) for p, t in zip(per_word, ex.tags) if p]
        if not scored:
            losses[i] = guess
            continue
        losses[i] = sum(-math.log(max(p[tag], 1e-30)) for p, tag in scored) / len(scored)
        hits[i] = all(max(p, key=p.get) == tag for p, tag in scored)
    return losses, hits


def scores(model, examples: list[Example], language: str) -> np.ndarray:
    return -losses_and_hits(model, examples, language)[0]
