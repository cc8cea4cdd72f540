"""Deep prompts / prefix tuning (Li & Liang, 2021; P-tuning v2) with HF PEFT: trainable key/value
prefixes at every attention layer. The sequence is not lengthened, so the head pools all real tokens."""

from __future__ import annotations

import torch
from peft import PrefixTuningConfig, TaskType

from borderless.config import MethodConfig
from borderless.tuning.classifier import EncoderClassifier, peft_wrap, seeded


def build_prefix_classifier(backbone_model: torch.nn.Module, hidden_size: int, num_labels: int,
                            cfg: MethodConfig, seed: int) -> EncoderClassifier:
    bc = backbone_model.config
    peft_cfg = PrefixTuningConfig(
        task_type=TaskType.FEATURE_EXTRACTION, num_virtual_tokens=cfg.num_virtual_tokens, token_dim=hidden_size,
        num_layers=bc.num_hidden_layers, num_attention_heads=bc.num_attention_heads, num_transformer_submodules=1,
    )
    return seeded(seed, lambda: EncoderClassifier(peft_wrap(backbone_model, peft_cfg), hidden_size, num_labels, 0))
