"""P-tuning (Liu et al., 2021) with HF PEFT: virtual tokens produced by a prompt encoder (an MLP or
an LSTM + MLP reparameterisation) from trainable embeddings, prepended to the input embeddings.

The trainable state is the encoder's own weights (embedding, MLP/LSTM), not its output: PEFT's
``get_peft_model_state_dict`` would save only the output, so borderless federates the raw
``requires_grad`` parameters and the weights themselves are averaged."""

from __future__ import annotations

import torch
from peft import PromptEncoderConfig, TaskType

from borderless.config import MethodConfig
from borderless.tuning.classifier import EncoderClassifier, peft_wrap, seeded


def build_p_tuning_classifier(backbone_model: torch.nn.Module, hidden_size: int, num_labels: int,
                              cfg: MethodConfig, seed: int) -> EncoderClassifier:
    peft_cfg = PromptEncoderConfig(
        task_type=TaskType.FEATURE_EXTRACTION, num_virtual_tokens=cfg.num_virtual_tokens, token_dim=hidden_size,
        encoder_reparameterization_type=cfg.encoder_type, encoder_hidden_size=cfg.encoder_hidden_size or hidden_size,
        num_transformer_submodules=1,
    )
    return seeded(seed, lambda: EncoderClassifier(peft_wrap(backbone_model, peft_cfg), hidden_size, num_labels,
                                                  cfg.num_virtual_tokens))
