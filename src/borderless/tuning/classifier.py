"""A tuned backbone plus a classification head on pooled hidden states of the real tokens: their
mean, or the last real token's (a decoder's summary of the whole text; batches are right-padded);
or, for token tasks (pooling "token"), on every position's hidden state: logits (batch, width, labels),
of which the loss and the scores read each word's first sub-word (``borderless.token_alignment``)."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch
from torch import nn

from borderless.backbones.precision import running_in


class EncoderClassifier(nn.Module):
    """``encoder`` is the frozen backbone, possibly wrapped by a PEFT method; when the method
    prepends ``num_virtual_tokens`` positions to the sequence, the head pools the real tokens only.
    ``release`` undoes whatever the method did to the shared backbone (LoRA layers, unfrozen weights)."""

    def __init__(self, encoder: nn.Module, hidden_size: int, num_labels: int, num_virtual_tokens: int = 0,
                 release: Callable[[], None] | None = None):
        super().__init__()
        self.encoder = encoder
        self.num_virtual_tokens = num_virtual_tokens
        self.head = nn.Linear(hidden_size, num_labels)
        self.pooling = "mean"  # or "last", or "token" (token tasks): set by the factory
        self.compute_dtype = torch.float32  # the frozen backbone's dtype (bfloat16: it runs under autocast)
        self._release = release

    def pooled(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """What the head sees: the real tokens' last hidden states (prompt positions dropped), pooled."""
        with running_in(self.compute_dtype, input_ids.device.type):
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return pool(hidden[:, self.num_virtual_tokens :].float(), attention_mask, self.pooling)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.pooled(input_ids, attention_mask))

    def changes_features_at_start(self) -> bool:
        """Does the untrained method already change what the head sees? A soft prompt, prompt
        encoder or prefix does (extra positions to attend to); LoRA (B = 0) and full fine-tuning do not."""
        return self.num_virtual_tokens > 0 or any("prefix" in n or "prompt" in n for n, _ in self.named_parameters())

    def set_prompt_table(self, rows: torch.Tensor, why: str) -> None:
        """Overwrite the method's one trainable prompt table (a soft prompt's embeddings, a prefix's
        keys and values) with ``rows``; ``why`` names the setting in the error if the shapes differ."""
        table = [p for n, p in self.named_parameters() if p.requires_grad and "prompt_encoder" in n]
        if len(table) != 1 or table[0].shape != rows.shape:
            raise RuntimeError(f"{why}: expected one prompt table of shape {tuple(rows.shape)}, "
                               f"found {[tuple(p.shape) for p in table]}")
        with torch.no_grad():
            table[0].copy_(rows)

    def head_parameter_names(self) -> set[str]:
        return {f"head.{n}" for n, _ in self.head.named_parameters()}

    def release(self) -> None:
        """Give the shared backbone back as it was before this method was built."""
        if self._release is not None:
            self._release()
            self._release = None


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str = "mean") -> torch.Tensor:
    """``mean``: the mean over the real tokens; ``last``: the last real token of each right-padded row;
    ``token``: every position, unpooled (token tasks)."""
    if pooling == "token":
        return hidden
    if pooling == "last":
        last = attention_mask.sum(1).clamp_min(1) - 1
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp_min(1.0)


def seeded(seed: int, build: Callable[[], EncoderClassifier]) -> EncoderClassifier:
    """Build under a fixed seed without disturbing the caller's random state."""
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        return build()
    finally:
        torch.random.set_rng_state(state)


def peft_wrap(backbone_model: nn.Module, peft_config) -> nn.Module:
    from peft import get_peft_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # transformers 5 deprecation inside PEFT
        return get_peft_model(backbone_model, peft_config)
