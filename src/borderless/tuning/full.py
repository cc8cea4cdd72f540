"""Full fine-tuning: every backbone weight is trainable (and federated), plus the head.
The original weights are kept so ``release()`` can restore and refreeze the shared backbone."""

from __future__ import annotations

import torch

from borderless.config import MethodConfig
from borderless.tuning.classifier import EncoderClassifier, seeded


def build_full_classifier(backbone_model: torch.nn.Module, hidden_size: int, num_labels: int,
                          cfg: MethodConfig, seed: int) -> EncoderClassifier:
    original = {k: v.detach().clone() for k, v in backbone_model.state_dict().items()}

    def release() -> None:
        backbone_model.load_state_dict(original)
        backbone_model.requires_grad_(False)

    backbone_model.requires_grad_(True)
    return seeded(seed, lambda: EncoderClassifier(backbone_model, hidden_size, num_labels, 0, release=release))
