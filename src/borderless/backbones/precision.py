"""The frozen backbone's number format: float32 (the default) or bfloat16.

With ``backbone.dtype = "bfloat16"`` the frozen weights are stored in bfloat16 (half the memory) and
the backbone runs under autocast, so its matrix products use the CPU's bfloat16 units (AVX512-BF16 /
AMX: 2.5-3x faster than float32 for Gemma-3-270m on this project's CPU, see benchmarks/README.md).
Everything that trains or crosses the wire stays float32: prompts, LoRA matrices, heads, and the
hidden states the head reads are cast back to float32 before pooling (mixed precision)."""

from __future__ import annotations

import contextlib

import torch

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def cast_frozen(model: torch.nn.Module, lm_head: torch.nn.Module | None, dtype: torch.dtype) -> None:
    """Store the frozen backbone (and a decoder's LM head, re-tied to the input embedding when it
    was tied) in ``dtype``."""
    if dtype == torch.float32:
        return
    embedding = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    tied = lm_head is not None and embedding is not None and lm_head.weight is embedding.weight
    model.to(dtype)
    if lm_head is not None:
        if tied:
            lm_head.weight = model.get_input_embeddings().weight
        else:
            lm_head.to(dtype)


def frozen_dtype(model: torch.nn.Module) -> torch.dtype:
    """The dtype of a (not yet wrapped) backbone: that of its first floating-point parameter."""
    for p in model.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.float32


def running_in(dtype: torch.dtype, device_type: str = "cpu"):
    """The context a backbone stored in ``dtype`` runs in: autocast to it, or nothing for float32."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type, dtype=dtype)


def trainable_to_float32(model: torch.nn.Module) -> None:
    """Trainable parameters stay float32 whatever the backbone's dtype (a prompt sampled from a
    bfloat16 vocabulary, an adapter created beside a bfloat16 layer)."""
    for p in model.parameters():
        if p.requires_grad and p.is_floating_point() and p.dtype != torch.float32:
            p.data = p.data.float()
