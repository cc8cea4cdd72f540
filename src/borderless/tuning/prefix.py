"""Deep prompts / prefix tuning (Li & Liang, 2021; P-tuning v2) with HF PEFT: trainable key/value
prefixes at every attention layer. The sequence is not lengthened, so the head pools all real tokens.

``method.prefix_init``: ``"random"`` keeps PEFT's N(0, 1) prefixes; ``"keys"`` starts every layer's
prefix from the keys and values the frozen backbone itself computes for ``num_virtual_tokens``
sampled vocabulary tokens, as if those tokens had been read before the text (the deep-prompt
counterpart of the soft prompt's sampled-vocabulary start)."""

from __future__ import annotations

import torch
from peft import PrefixTuningConfig, TaskType

from borderless.backbones.precision import frozen_dtype, running_in
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


def key_value_projections(backbone_model: torch.nn.Module) -> list[tuple[torch.nn.Module, torch.nn.Module]]:
    """Each layer's (key, value) projection, in layer order: BERT / XLM-R's ``key`` and ``value``
    linears (the encoders borderless runs). A model without them gets a clear error."""
    keys = [m for n, m in backbone_model.named_modules() if n.endswith(".key") and isinstance(m, torch.nn.Linear)]
    values = [m for n, m in backbone_model.named_modules() if n.endswith(".value") and isinstance(m, torch.nn.Linear)]
    layers = backbone_model.config.num_hidden_layers
    if len(keys) != layers or len(values) != layers:
        raise ValueError(
            f"method.prefix_init = \"keys\" reads each attention layer's key and value projections; this backbone "
            f"({type(backbone_model).__name__}) has {len(keys)} key / {len(values)} value linears for {layers} layers. "
            "Use method.prefix_init = \"random\"")
    return list(zip(keys, values))


@torch.no_grad()
def backbone_keys_values(backbone_model: torch.nn.Module, tokenizer, num_tokens: int, seed: int) -> torch.Tensor:
    """(num_tokens, layers * 2 * hidden): for ``num_tokens`` vocabulary tokens sampled with ``seed``
    (special tokens excluded) and read in context (``[CLS] tokens [SEP]``), each layer's key then value,
    in PEFT's prefix layout (row = virtual token; per layer, key then value, heads × head_dim)."""
    special = set(tokenizer.all_special_ids)
    vocab = torch.tensor([i for i in range(len(tokenizer)) if i not in special])
    picks = vocab[torch.randperm(len(vocab), generator=torch.Generator().manual_seed(seed))[:num_tokens]].tolist()
    first = tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id
    last = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
    ids = [t for t in (first,) if t is not None] + picks + [t for t in (last,) if t is not None]
    start = 1 if first is not None else 0
    pairs = key_value_projections(backbone_model)
    seen: dict[torch.nn.Module, torch.Tensor] = {}

    def keep(module, _inputs, out):
        seen[module] = out[0, start:start + num_tokens].float()

    hooks = [m.register_forward_hook(keep) for pair in pairs for m in pair]
    device = next(backbone_model.parameters()).device
    with running_in(frozen_dtype(backbone_model), device.type):
        try:
            backbone_model(input_ids=torch.tensor([ids], device=device),
                           attention_mask=torch.ones(1, len(ids), dtype=torch.long, device=device))
        finally:
            for h in hooks:
                h.remove()
    return torch.cat([seen[m] for pair in pairs for m in pair], dim=-1).cpu()


def init_prefix_from_keys(model: EncoderClassifier, backbone, cfg: MethodConfig, seed: int) -> None:
    """Copy :func:`backbone_keys_values` into the prefix table (the same start for every client)."""
    rows = backbone_keys_values(backbone.model, backbone.tokenizer, cfg.num_virtual_tokens, seed)
    model.set_prompt_table(rows, "prefix_init = keys")
