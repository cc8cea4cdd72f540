"""A tuned encoder plus a classification head on masked mean pooling of the real tokens."""

from __future__ import annotations

import torch
from torch import nn


class EncoderClassifier(nn.Module):
    """``encoder`` is the frozen backbone, possibly wrapped by a PEFT method that prepends
    ``num_virtual_tokens`` positions to the sequence; the head pools the real tokens only."""

    def __init__(self, encoder: nn.Module, hidden_size: int, num_labels: int, num_virtual_tokens: int = 0):
        super().__init__()
        self.encoder = encoder
        self.num_virtual_tokens = num_virtual_tokens
        self.head = nn.Linear(hidden_size, num_labels)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        hidden = hidden[:, self.num_virtual_tokens :]
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1.0)
        return self.head(pooled)

    def head_parameter_names(self) -> set[str]:
        return {f"head.{n}" for n, _ in self.head.named_parameters()}
