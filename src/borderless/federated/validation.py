"""The server's check of every client update, before any aggregation.

An update is accepted only if its keys, shapes and dtypes equal the global state's, every value is
finite, its example count is a positive integer not above what that client declared when it joined,
and (when ``federated.max_update_norm`` > 0) ‖w_client − w_global‖₂ is at most that norm. A rejected
update is left out of the round with its reason; the round goes on with the others (in-process and
on Flower alike: both run ``borderless.federated.simulation.federate``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from borderless.federated.aggregators.clipped_fedavg import update_norm
from borderless.tuning.state import State


@dataclass(frozen=True)
class Rejection:
    client_id: str
    round: int
    reason: str

    def as_dict(self) -> dict:
        return {"client": self.client_id, "round": self.round, "reason": self.reason}


def update_problem(state: State, num_examples: object, global_state: State, declared: int | None = None,
                   max_norm: float = 0.0) -> str | None:
    """Why this update must not be aggregated, or None when it may."""
    missing, extra = sorted(set(global_state) - set(state)), sorted(set(state) - set(global_state))
    if missing or extra:
        return f"keys differ from the global state (missing {missing}, unexpected {extra})"
    for key, ref in global_state.items():
        value = state[key]
        if not isinstance(value, torch.Tensor) or value.shape != ref.shape or value.dtype != ref.dtype:
            got = f"{tuple(value.shape)} {value.dtype}" if isinstance(value, torch.Tensor) else type(value).__name__
            return f"{key} is {got}, the global state's is {tuple(ref.shape)} {ref.dtype}"
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            bad = int((~torch.isfinite(value)).sum())
            return f"{key} has {bad} non-finite value(s) (NaN or ±inf)"
    if not isinstance(num_examples, int) or isinstance(num_examples, bool) or num_examples <= 0:
        return f"example count must be a positive integer, got {num_examples!r}"
    if declared is not None and num_examples > declared:
        return f"example count {num_examples} is above the {declared} it declared when it joined"
    if max_norm > 0:
        norm = update_norm(state, global_state)
        if norm > max_norm:
            return f"update norm {norm:.4g} is above federated.max_update_norm = {max_norm:g}"
    return None


def screen(updates: Sequence, global_state: State, rnd: int, declared: Mapping[str, int],
           max_norm: float = 0.0) -> tuple[list, list[Rejection]]:
    """Split ``updates`` (ClientUpdate-like: client_id, state, num_examples) into the accepted ones
    and the rejections, in order."""
    accepted, rejected = [], []
    for u in updates:
        problem = update_problem(u.state, u.num_examples, global_state, declared.get(u.client_id), max_norm)
        if problem is None:
            accepted.append(u)
        else:
            rejected.append(Rejection(u.client_id, rnd, problem))
    return accepted, rejected
