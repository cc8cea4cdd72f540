"""Head only (linear probe): the backbone stays frozen and unwrapped; only the head trains."""

from __future__ import annotations

import torch

from borderless.config import MethodConfig
from borderless.tuning.classifier import EncoderClassifier, seeded


def build_head_classifier(backbone_model: torch.nn.Module, hidden_size: int, num_labels: int,
                          cfg: MethodConfig, seed: int) -> EncoderClassifier:
    return seeded(seed, lambda: EncoderClassifier(backbone_model, hidden_size, num_labels, 0))
