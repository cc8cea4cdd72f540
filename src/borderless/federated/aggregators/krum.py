"""Krum and multi-Krum (Blanchard et al., 2017).

Each client's score is the sum of squared distances from its whole state (all keys flattened) to its
n − f − 2 nearest other clients; Krum returns the state with the lowest score, multi-Krum (m > 1)
the unweighted mean of the m lowest-scoring states. Needs n ≥ 2f + 3 for its guarantee; with fewer
clients it still runs, with at least one neighbour per score. Ties go to the earlier client.
"""

from __future__ import annotations

import torch

from borderless.federated.aggregators.base import Replies, State
from borderless.federated.aggregators.fedavg import AggregationError, check_replies


def flat(state: State) -> torch.Tensor:
    return torch.cat([state[k].to(torch.float64).reshape(-1) for k in sorted(state)])


def krum_scores(replies: Replies, f: int) -> list[float]:
    x = torch.stack([flat(s) for s, _ in replies])
    d = torch.cdist(x, x) ** 2
    n = len(replies)
    neighbours = max(1, n - f - 2)
    scores = []
    for i in range(n):
        others = torch.cat([d[i, :i], d[i, i + 1:]])
        scores.append(float(others.sort().values[:neighbours].sum()) if len(others) else 0.0)
    return scores


def krum(replies: Replies, f: int, m: int = 1) -> State:
    ref = check_replies(replies)
    if f < 0 or m < 1:
        raise AggregationError(f"krum: needs f >= 0 and m >= 1, got f={f}, m={m}")
    scores = krum_scores(replies, f)
    chosen = sorted(range(len(replies)), key=lambda i: (scores[i], i))[:min(m, len(replies))]
    return {key: torch.stack([replies[i][0][key].to(torch.float64) for i in chosen]).mean(dim=0).to(v.dtype)
            for key, v in ref.items()}


def krum_rule(global_state: State, replies: Replies, server_state: None, *, f: int, m: int) -> tuple[State, None]:
    return krum(replies, f, m), None
