"""Soft prompt tuning (Lester et al., 2021) with HF PEFT: ``num_virtual_tokens`` trainable vectors
prepended to the frozen backbone's input embeddings, plus a trainable classification head."""

from __future__ import annotations

import torch
from peft import PromptTuningConfig, PromptTuningInit, TaskType

from borderless.config import MethodConfig
from borderless.tuning.classifier import EncoderClassifier, peft_wrap, seeded


def build_prompt_classifier(backbone_model: torch.nn.Module, hidden_size: int, num_labels: int,
                            cfg: MethodConfig, seed: int) -> EncoderClassifier:
    """``prompt_init = "vocab"`` starts every virtual token from a randomly sampled real vocabulary
    embedding (PEFT's SAMPLE_VOCAB); ``"random"`` uses PEFT's random init."""
    init = PromptTuningInit.SAMPLE_VOCAB if cfg.prompt_init == "vocab" else PromptTuningInit.RANDOM
    peft_cfg = PromptTuningConfig(
        task_type=TaskType.FEATURE_EXTRACTION, num_virtual_tokens=cfg.num_virtual_tokens,
        prompt_tuning_init=init, token_dim=hidden_size, num_transformer_submodules=1,
    )
    return seeded(seed, lambda: EncoderClassifier(peft_wrap(backbone_model, peft_cfg), hidden_size, num_labels,
                                                  cfg.num_virtual_tokens))
