"""The loss-threshold attack (Yeom et al., 2018) on a released model: a sentence the model trained
on tends to have a lower loss. Score = −loss of the true label under the model a user would get
(``borderless.load``: the paradigm's kept state, its language's own model where it has one)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from borderless.data.types import Example


def losses(model, examples: list[Example], language: str, label_index: dict[str, int] | None = None) -> np.ndarray:
    """Per-sentence cross-entropy of the true label (logits restricted to the language's labels)."""
    if not examples:
        return np.zeros(0)
    logits = model.logits([ex.text for ex in examples], language,
                          [ex.text_pair for ex in examples] if examples[0].text_pair is not None else None)
    labels = torch.tensor([ex.label for ex in examples])
    return F.cross_entropy(logits.float(), labels, reduction="none").numpy()


def scores(model, examples: list[Example], language: str) -> np.ndarray:
    return -losses(model, examples, language)
