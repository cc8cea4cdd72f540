"""method.name → builder. Every method has the same shape: (backbone, hidden, labels, cfg, seed) →
EncoderClassifier whose trainable state is exactly its requires_grad parameters."""

from __future__ import annotations

import torch

from borderless.backbones.precision import frozen_dtype, trainable_to_float32
from borderless.config import MethodConfig
from borderless.tuning.classifier import EncoderClassifier
from borderless.tuning.full import build_full_classifier
from borderless.tuning.head import build_head_classifier
from borderless.tuning.lora import build_lora_classifier
from borderless.tuning.p_tuning import build_p_tuning_classifier
from borderless.tuning.prefix import build_prefix_classifier, init_prefix_from_keys
from borderless.tuning.prompt import build_prompt_classifier

BUILDERS = {
    "prompt": build_prompt_classifier,
    "p_tuning": build_p_tuning_classifier,
    "prefix": build_prefix_classifier,
    "lora": build_lora_classifier,
    "full": build_full_classifier,
    "head": build_head_classifier,
}


def pooling_of(cfg: MethodConfig, token: bool = False) -> str:
    """The pooling the head (and its probe) reads: none on a token task (each word's first sub-word);
    else last with the verbalizer unless set, else mean."""
    if token:
        return "token"
    return cfg.pooling or ("last" if cfg.classifier == "verbalizer" else "mean")


def build_classifier(backbone_model: torch.nn.Module, hidden_size: int, num_labels: int, cfg: MethodConfig,
                     seed: int, verbalizer: torch.nn.Module | None = None, token: bool = False) -> EncoderClassifier:
    """``verbalizer``: a frozen head scoring label words (``borderless.tuning.verbalizer``) in place of
    the trained linear head."""
    dtype = frozen_dtype(backbone_model)
    model = BUILDERS[cfg.name](backbone_model, hidden_size, num_labels, cfg, seed)
    model.pooling = pooling_of(cfg, token)
    model.compute_dtype = dtype
    trainable_to_float32(model)
    if verbalizer is not None:
        model.head = verbalizer
    return model


def build_for(backbone, labels: list[str], cfg: MethodConfig, seed: int, token: bool = False) -> EncoderClassifier:
    """The classifier of ``cfg`` on a loaded backbone (with its verbalizer when configured); ``token``: a
    token task's (a tag per position)."""
    from borderless.tuning.verbalizer import verbalizer_head

    words = verbalizer_head(backbone, list(labels), cfg) if cfg.classifier == "verbalizer" else None
    model = build_classifier(backbone.model, backbone.hidden_size, len(labels), cfg, seed, words, token)
    if cfg.name == "prompt" and cfg.prompt_init == "labels":
        init_prompt_from_labels(model, backbone, list(labels), cfg)
    if cfg.name == "prefix" and cfg.prefix_init == "keys":
        init_prefix_from_keys(model, backbone, cfg, seed)
    return model


def label_init_tokens(tokenizer, labels: list[str], cfg: MethodConfig) -> list[int]:
    """The tokens of the label words (the verbalizer's words, else " " + each label), one after the
    other and repeated until ``num_virtual_tokens`` are filled (Lester et al.'s class-label init)."""
    from borderless.tuning.verbalizer import label_words

    ids = [int(t) for word in label_words(labels, cfg) for t in tokenizer(word, add_special_tokens=False)["input_ids"]]
    if not ids:
        raise ValueError(f"method.prompt_init = \"labels\": the labels {labels} have no tokens; use \"vocab\"")
    return [ids[i % len(ids)] for i in range(cfg.num_virtual_tokens)]


def init_prompt_from_labels(model: EncoderClassifier, backbone, labels: list[str], cfg: MethodConfig) -> None:
    """Start each virtual token from the input embedding of a label word's token, so the prompt begins
    by naming the classes (the same start for every client and paradigm)."""
    ids = torch.tensor(label_init_tokens(backbone.tokenizer, labels, cfg))
    rows = backbone.model.get_input_embeddings().weight.detach()[ids].float()
    scale = getattr(backbone.model.get_input_embeddings(), "embed_scale", None)  # Gemma scales its embeddings
    if scale is not None:
        rows = rows * float(scale)
    model.set_prompt_table(rows, "prompt_init = labels")


def describe(cfg: MethodConfig) -> str:
    text = {
        "prompt": f"soft prompt, {cfg.num_virtual_tokens} virtual tokens + linear head",
        "p_tuning": f"P-tuning, {cfg.num_virtual_tokens} virtual tokens via a {cfg.encoder_type} prompt encoder + linear head",
        "prefix": f"deep prompts (prefix tuning), {cfg.num_virtual_tokens} key/value prefixes per layer + linear head",
        "lora": f"LoRA r={cfg.lora_r}, alpha={cfg.lora_alpha} on {', '.join(cfg.lora_targets)} + linear head",
        "full": "full fine-tuning + linear head",
        "head": "linear head only (probe)",
    }[cfg.name]
    if cfg.classifier == "verbalizer":
        return text.replace(" + linear head", "") + " + verbalizer (the LM head scores each label's word; no head trained)"
    pooling = pooling_of(cfg)
    return text if pooling == "mean" else text + f" ({pooling}-token pooling)"
