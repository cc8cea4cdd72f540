"""A verbalizer: a decoder classifies with its own LM head. Each label is a word; the model reads
the templated text (e.g. ``"{text}\\nTopic:"``) and the label's score is the LM logit of the word's
first token at the last real position. The rows of the (frozen) LM head for those tokens are the
whole "head": nothing of it trains or crosses the wire, so a federated client sends its prompt alone.
Multi-token words are scored by their first token, which must then differ between labels."""

from __future__ import annotations

import torch
from torch import nn

from borderless.config import MethodConfig


class VerbalizerError(ValueError):
    """The verbalizer does not fit the backbone or the labels."""


class VerbalizerHead(nn.Module):
    """logits[b, k] = <h_b, W[token_k]> (the LM head's logit of label k's word), softcapped like the
    LM's own logits when the model does that. A buffer, not a parameter: frozen and never sent."""

    def __init__(self, rows: torch.Tensor, softcap: float | None = None):
        super().__init__()
        self.register_buffer("words", rows.detach().clone(), persistent=False)
        self.softcap = softcap

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        logits = pooled @ self.words.T
        if self.softcap:
            logits = torch.tanh(logits / self.softcap) * self.softcap
        return logits


def label_words(labels: list[str], cfg: MethodConfig) -> list[str]:
    unknown = sorted(set(cfg.verbalizer) - set(labels))
    if unknown:
        raise VerbalizerError(f"method.verbalizer: {unknown} are not labels of this data; its labels are {list(labels)}")
    return [cfg.verbalizer.get(label, " " + label) for label in labels]


def label_token_ids(tokenizer, labels: list[str], cfg: MethodConfig) -> list[int]:
    """The first token of each label's word; two labels may not share it."""
    ids: list[int] = []
    first: dict[int, str] = {}  # token id -> the label it already scores
    for label, word in zip(labels, label_words(labels, cfg)):
        toks = tokenizer(word, add_special_tokens=False)["input_ids"]
        if not toks:
            raise VerbalizerError(f"method.verbalizer: the word {word!r} for label {label!r} has no tokens; give it a word")
        tid = int(toks[0])
        if tid in first:
            piece = tokenizer.convert_ids_to_tokens(tid)
            raise VerbalizerError(
                f"method.verbalizer: labels {first[tid]!r} and {label!r} both start with the token {piece!r}; give "
                f"them words that start differently, e.g. [method.verbalizer] \"{label}\" = \" <another word>\"")
        first[tid] = label
        ids.append(tid)
    return ids


def verbalizer_head(backbone, labels: list[str], cfg: MethodConfig) -> VerbalizerHead:
    """The frozen head that scores each label's word with ``backbone``'s own LM head."""
    if backbone.lm_head is None:
        raise VerbalizerError(f"method.classifier = \"verbalizer\" needs a decoder with an LM head (gemma3-270m, "
                              f"tiny-random-decoder); backbone {backbone.name!r} is an {backbone.kind}: use "
                              "method.classifier = \"head\"")
    ids = label_token_ids(backbone.tokenizer, labels, cfg)
    weight = backbone.lm_head.weight.detach()
    softcap = getattr(backbone.model.config, "final_logit_softcapping", None)
    return VerbalizerHead(weight[ids].float(), softcap)
