"""The shape every aggregation rule shares: a pure function of the current global state, the
clients' replies and the rule's own explicit server state (None before the first round)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import torch

from borderless.tuning.state import State

Replies = Sequence[tuple[State, int]]  # (trainable state, example count) per client


class Aggregator(Protocol):
    def __call__(self, global_state: State, replies: Replies, server_state: Any) -> tuple[State, Any]:
        ...


def pseudo_gradient(global_state: State, averaged: State) -> dict[str, torch.Tensor]:
    """Δ = (example-weighted client average) − (global state), in float64."""
    return {k: averaged[k].to(torch.float64) - global_state[k].to(torch.float64) for k in global_state}
