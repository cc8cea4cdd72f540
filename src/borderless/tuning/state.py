"""Trainable state: exactly the parameters with ``requires_grad``, the only thing a client sends."""

from __future__ import annotations

import torch

State = dict[str, torch.Tensor]


def trainable_state(module: torch.nn.Module) -> State:
    """Detached copies of every parameter with requires_grad, by name."""
    return {name: p.detach().clone() for name, p in module.named_parameters() if p.requires_grad}


def load_trainable_state(module: torch.nn.Module, state: State) -> None:
    """Copy ``state`` into the module's trainable parameters; keys and shapes must match exactly."""
    params = {name: p for name, p in module.named_parameters() if p.requires_grad}
    missing = sorted(set(params) - set(state))
    unexpected = sorted(set(state) - set(params))
    if missing or unexpected:
        raise KeyError(f"trainable state does not fit the model: missing {missing}, unexpected {unexpected}")
    with torch.no_grad():
        for name, p in params.items():
            value = state[name]
            if value.shape != p.shape:
                raise ValueError(f"trainable state {name}: shape {tuple(value.shape)}, model has {tuple(p.shape)}")
            p.copy_(value)


def state_num_bytes(state: State) -> int:
    """Bytes of the raw tensor payload (what one direction of one round carries per client)."""
    return sum(t.numel() * t.element_size() for t in state.values())


def state_num_params(state: State) -> int:
    return sum(t.numel() for t in state.values())
