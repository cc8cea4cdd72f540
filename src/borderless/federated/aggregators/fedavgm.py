"""FedAvgM (Hsu et al., 2019): server momentum on the FedAvg pseudo-gradient.

    Δ = fedavg(replies) − x;   m ← β·m + Δ;   x ← x + η·m
With β = 0 and η = 1 it is exactly FedAvg.
"""

from __future__ import annotations

from borderless.federated.aggregators.base import Replies, State, pseudo_gradient
from borderless.federated.aggregators.fedavg import fedavg


def fedavgm(global_state: State, replies: Replies, momentum: State | None, *, server_lr: float = 1.0,
            beta: float = 0.9) -> tuple[State, State]:
    delta = pseudo_gradient(global_state, fedavg(replies))
    m = {k: d if momentum is None else beta * momentum[k] + d for k, d in delta.items()}
    new = {k: (global_state[k].to(m[k].dtype) + server_lr * m[k]).to(global_state[k].dtype) for k in global_state}
    return new, m
