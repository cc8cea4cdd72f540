"""Coordinate-wise median (Yin et al., 2018): each parameter is the median of the clients' values.

Unweighted (a Byzantine client could otherwise claim a large example count); with an even number of
clients the mean of the two middle values. Tolerates fewer than half of the clients being arbitrary.
"""

from __future__ import annotations

import torch

from borderless.federated.aggregators.base import Replies, State
from borderless.federated.aggregators.fedavg import check_replies


def stacked(replies: Replies, key: str) -> torch.Tensor:
    """The clients' values of ``key`` as one float64 tensor, clients along dimension 0."""
    return torch.stack([state[key].to(torch.float64) for state, _ in replies])


def coordinate_median(replies: Replies) -> State:
    ref = check_replies(replies)
    out: State = {}
    for key, value in ref.items():
        x = stacked(replies, key)
        s = x.sort(dim=0).values
        n = s.shape[0]
        mid = s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2
        out[key] = mid.to(value.dtype)
    return out


def median_rule(global_state: State, replies: Replies, server_state: None) -> tuple[State, None]:
    return coordinate_median(replies), None
