"""The loss-threshold attack (Yeom et al., 2018) on a released model: a sentence the model trained
on tends to have a lower loss. Score = −loss of the true label under the model a user would get
(``borderless.load``: the paradigm's kept state, its language's own model where it has one)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from borderless.data.types import Example


def losses_and_hits(model, examples: list[Example], language: str) -> tuple[np.ndarray, np.ndarray]:
    """Per sentence: the cross-entropy of its label (logits restricted to the language's labels), and
    whether the model predicts that label."""
    if not examples:
        return np.zeros(0), np.zeros(0, dtype=bool)
    logits = model.logits([ex.text for ex in examples], language,
                          [ex.text_pair for ex in examples] if examples[0].text_pair is not None else None).float()
    labels = torch.tensor([ex.label for ex in examples])
    return F.cross_entropy(logits, labels, reduction="none").numpy(), (logits.argmax(-1) == labels).numpy()


def scores(model, examples: list[Example], language: str) -> np.ndarray:
    return -losses_and_hits(model, examples, language)[0]
