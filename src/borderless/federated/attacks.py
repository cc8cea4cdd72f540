"""Simulated hostile clients, for robustness studies and tests (never on by default).

``federated.attack`` names what the clients in ``federated.attack_clients`` do, every round:
- ``sign_flip``: send w_global − scale·(w − w_global) (their honest update, reversed and scaled);
- ``gaussian``: send w_global + noise, the noise's norm ``scale`` × the honest update's norm;
- ``nan``: send an update whose every value is NaN;
- ``label_flip``: train honestly on data whose labels are shifted, y → (y + 1) mod K.
The first three act on the message (``poison``); the last on the client's data (``flip_labels``).
"""

from __future__ import annotations

import math

import torch

from borderless.tuning.state import State


def poison(state: State, global_state: State, attack: str, scale: float, seed: int) -> State:
    """What an attacking client sends instead of its honest ``state``."""
    if attack == "sign_flip":
        return {k: (global_state[k].double() - scale * (state[k].double() - global_state[k].double())).to(state[k].dtype)
                for k in state}
    if attack == "gaussian":
        gen = torch.Generator().manual_seed(seed)
        delta_norm = math.sqrt(sum(float(((state[k].double() - global_state[k].double()) ** 2).sum()) for k in state))
        noise = {k: torch.randn(state[k].shape, generator=gen, dtype=torch.float64) for k in state}
        noise_norm = math.sqrt(sum(float((n ** 2).sum()) for n in noise.values())) or 1.0
        return {k: (global_state[k].double() + noise[k] * (scale * delta_norm / noise_norm)).to(state[k].dtype)
                for k in state}
    if attack == "nan":
        return {k: torch.full_like(v, float("nan")) for k, v in state.items()}
    return state


def flip_labels(labels: list[int], num_labels: int) -> list[int]:
    return [(y + 1) % num_labels for y in labels]
