"""Norm-clipped FedAvg: each client's update Δ_k = w_k − w_global is scaled down to L2 norm at most
``clip`` (over all keys together), then FedAvg (weighted by examples) of w_global + clipped Δ_k.
One client can move the global state by at most ``clip`` times its weight share.
"""

from __future__ import annotations

import math

import torch

from borderless.federated.aggregators.base import Replies, State
from borderless.federated.aggregators.fedavg import AggregationError, fedavg


def update_norm(state: State, global_state: State) -> float:
    """‖w_client − w_global‖₂ over every key, in float64."""
    return math.sqrt(sum(float(((state[k].to(torch.float64) - global_state[k].to(torch.float64)) ** 2).sum())
                         for k in global_state))


def clip_update(state: State, global_state: State, clip: float) -> State:
    norm = update_norm(state, global_state)
    if norm <= clip:
        return state
    scale = clip / norm
    return {k: (global_state[k].to(torch.float64) + scale * (state[k].to(torch.float64) - global_state[k].to(torch.float64))
                ).to(state[k].dtype) for k in global_state}


def clipped_fedavg(global_state: State, replies: Replies, clip: float) -> State:
    if not clip > 0:
        raise AggregationError(f"clipped FedAvg: the clip norm must be > 0, got {clip}")
    return fedavg([(clip_update(s, global_state, clip), n) for s, n in replies])


def clipped_fedavg_rule(global_state: State, replies: Replies, server_state: None, *, clip: float) -> tuple[State, None]:
    return clipped_fedavg(global_state, replies, clip), None
