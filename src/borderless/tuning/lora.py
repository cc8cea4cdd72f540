"""LoRA (Hu et al., 2022) with HF PEFT: low-rank adapters on the configured attention projections.
LoRA injects layers into the shared backbone; ``release()`` unloads them again."""

from __future__ import annotations

import torch
from peft import LoraConfig, TaskType

from borderless.config import MethodConfig
from borderless.tuning.classifier import EncoderClassifier, peft_wrap, seeded


def build_lora_classifier(backbone_model: torch.nn.Module, hidden_size: int, num_labels: int,
                          cfg: MethodConfig, seed: int) -> EncoderClassifier:
    peft_cfg = LoraConfig(
        task_type=TaskType.FEATURE_EXTRACTION, r=cfg.lora_r, lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout, target_modules=list(cfg.lora_targets),
    )

    def build() -> EncoderClassifier:
        names = [n for n, _ in backbone_model.named_modules()]  # PEFT's rule: the name or a dotted suffix of it
        missing = [t for t in cfg.lora_targets if not any(n == t or n.endswith("." + t) for n in names)]
        if missing:
            linear = sorted({n.split(".")[-1] for n, m in backbone_model.named_modules() if isinstance(m, torch.nn.Linear)})
            raise ValueError(f"method.lora_targets {list(cfg.lora_targets)}: {missing} match no module of this backbone; "
                             f"its linear layers are {linear} (encoders: [\"query\", \"value\"]; Gemma: "
                             f"[\"q_proj\", \"v_proj\"])")
        wrapped = peft_wrap(backbone_model, peft_cfg)
        return EncoderClassifier(wrapped, hidden_size, num_labels, 0, release=lambda: wrapped.unload())

    return seeded(seed, build)
