"""Coordinate-wise trimmed mean (Yin et al., 2018): for each parameter, drop the ⌊β·n⌋ largest and
the ⌊β·n⌋ smallest client values and average the rest (unweighted). β in [0, 0.5); β = 0 is the
plain unweighted mean. Tolerates up to ⌊β·n⌋ arbitrary clients.
"""

from __future__ import annotations

import math

from borderless.federated.aggregators.base import Replies, State
from borderless.federated.aggregators.fedavg import AggregationError, check_replies
from borderless.federated.aggregators.median import stacked


def trimmed_mean(replies: Replies, beta: float) -> State:
    if not 0 <= beta < 0.5:
        raise AggregationError(f"trimmed mean: beta must be in [0, 0.5), got {beta}")
    ref = check_replies(replies)
    n = len(replies)
    k = math.floor(beta * n)
    out: State = {}
    for key, value in ref.items():
        s = stacked(replies, key).sort(dim=0).values
        out[key] = s[k:n - k].mean(dim=0).to(value.dtype)
    return out


def trimmed_mean_rule(global_state: State, replies: Replies, server_state: None, *, beta: float) -> tuple[State, None]:
    return trimmed_mean(replies, beta), None
