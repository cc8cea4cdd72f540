"""FedAdam and FedYogi (Reddi et al., 2021, "Adaptive Federated Optimization").

    Δ = fedavg(replies) − x
    m ← β1·m + (1 − β1)·Δ
    FedAdam: v ← β2·v + (1 − β2)·Δ²
    FedYogi: v ← v − (1 − β2)·Δ²·sign(v − Δ²)
    x ← x + η·m / (√v + τ)
The server state (m, v) is explicit: returned each round and passed back in the next.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from borderless.federated.aggregators.base import Replies, State, pseudo_gradient
from borderless.federated.aggregators.fedavg import fedavg


@dataclass(frozen=True)
class AdaptiveState:
    m: State
    v: State


def _adaptive(global_state: State, replies: Replies, state: AdaptiveState | None, yogi: bool,
              server_lr: float, beta1: float, beta2: float, tau: float) -> tuple[State, AdaptiveState]:
    delta = pseudo_gradient(global_state, fedavg(replies))
    m, v = {}, {}
    for k, d in delta.items():
        m_prev = torch.zeros_like(d) if state is None else state.m[k]
        # v starts at τ² (as in the paper and Flower), so the first step is not a bare sign step
        v_prev = torch.full_like(d, tau * tau) if state is None else state.v[k]
        m[k] = beta1 * m_prev + (1 - beta1) * d
        d2 = d * d
        v[k] = v_prev - (1 - beta2) * d2 * torch.sign(v_prev - d2) if yogi else beta2 * v_prev + (1 - beta2) * d2
    new = {k: (global_state[k].to(torch.float64) + server_lr * m[k] / (v[k].sqrt() + tau)).to(global_state[k].dtype)
           for k in global_state}
    return new, AdaptiveState(m, v)


def fedadam(global_state: State, replies: Replies, state: AdaptiveState | None, *, server_lr: float = 0.01,
            beta1: float = 0.9, beta2: float = 0.99, tau: float = 1e-3) -> tuple[State, AdaptiveState]:
    return _adaptive(global_state, replies, state, False, server_lr, beta1, beta2, tau)


def fedyogi(global_state: State, replies: Replies, state: AdaptiveState | None, *, server_lr: float = 0.01,
            beta1: float = 0.9, beta2: float = 0.99, tau: float = 1e-3) -> tuple[State, AdaptiveState]:
    return _adaptive(global_state, replies, state, True, server_lr, beta1, beta2, tau)
