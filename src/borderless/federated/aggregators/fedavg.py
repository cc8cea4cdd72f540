"""FedAvg (McMahan et al., 2017): the example-weighted mean of the clients' states.

A pure function over ``dict[str, Tensor]``: no model, no network, no hidden state.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from borderless.tuning.state import State


class AggregationError(ValueError):
    """Client replies that cannot be averaged, naming the client and key."""


def fedavg(updates: Sequence[tuple[State, int]]) -> State:
    """Weighted mean ``sum_k n_k * state_k / sum_k n_k``, computed in float64, returned in each
    tensor's own dtype. Every client must send the same keys with the same shapes and dtypes."""
    for k, (_, n) in enumerate(updates):
        if not isinstance(n, int) or isinstance(n, bool) or n <= 0:
            raise AggregationError(f"client {k}: example count must be a positive integer, got {n!r}")
    return weighted_mean(updates)


def weighted_mean(updates: Sequence[tuple[State, float]]) -> State:
    """``sum_k w_k * state_k / sum_k w_k`` for non-negative real weights (not all zero), with FedAvg's checks."""
    ref_state = check_replies(updates)
    for k, (state, w) in enumerate(updates):
        if not w >= 0:
            raise AggregationError(f"client {k}: weight must be >= 0, got {w!r}")
    total = float(sum(w for _, w in updates))
    if total <= 0:
        raise AggregationError("all weights are zero")
    out: State = {}
    for key, ref in ref_state.items():
        acc = torch.zeros(ref.shape, dtype=torch.float64)
        for state, w in updates:
            acc += state[key].to(torch.float64) * (w / total)
        out[key] = acc.to(ref.dtype)
    return out


def check_replies(updates: Sequence[tuple[State, float]]) -> State:
    """Every client sent the same keys with the same shapes and dtypes as client 0; returns client 0's state."""
    if not updates:
        raise AggregationError("no client updates to aggregate")
    ref_state, _ = updates[0]
    for k, (state, _) in enumerate(updates):
        missing, extra = sorted(set(ref_state) - set(state)), sorted(set(state) - set(ref_state))
        if missing or extra:
            raise AggregationError(f"client {k}: keys differ from client 0 (missing {missing}, unexpected {extra})")
        for key, value in state.items():
            ref = ref_state[key]
            if value.shape != ref.shape or value.dtype != ref.dtype:
                raise AggregationError(
                    f"client {k}: {key} is {tuple(value.shape)} {value.dtype}, client 0 sent {tuple(ref.shape)} {ref.dtype}"
                )
    return ref_state
