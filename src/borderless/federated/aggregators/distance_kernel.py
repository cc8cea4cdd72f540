"""Distance-aware personalised aggregation (new in borderless; none of the reference systems has it).

Every client i gets its own global state, a weighted mean of all clients' updates in which client
j counts ``n_j · exp(−d(i, j) / T)``: languages close to i (small URIEL distance d) weigh more.
The temperature T sets how local the mix is: T → ∞ gives every client plain FedAvg (a test
proves it), T → 0 gives every client its own update back. A language that never trained (a
zero-shot language) gets a state the same way from its distances to the clients.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from borderless.federated.aggregators.fedavg import AggregationError, weighted_mean
from borderless.tuning.state import State


def kernel_weights(target: str, clients: Sequence[str], counts: Sequence[int],
                   distance: Mapping[tuple[str, str], float], temperature: float) -> list[int | float]:
    """``n_j · exp(−d(target, j)/T)`` for each client j (``n_j`` when T is infinite)."""
    if temperature <= 0:
        raise AggregationError(f"temperature must be > 0 (math.inf = FedAvg), got {temperature}")
    if math.isinf(temperature):
        return list(counts)
    out = []
    for cid, n in zip(clients, counts):
        d = 0.0 if cid == target else distance.get((target, cid), math.nan)
        if math.isnan(d):
            raise AggregationError(f"no language distance between {target} and {cid}; choose a distance kind "
                                   "known for every pair (federated.distance_kind), e.g. 'combined'")
        out.append(n * math.exp(-d / temperature))
    return out


def personalised_state(target: str, updates: Sequence[tuple[str, State, int]],
                       distance: Mapping[tuple[str, str], float], temperature: float) -> State:
    """The kernel-weighted mean of the clients' states, for one target language."""
    ids = [cid for cid, _, _ in updates]
    w = kernel_weights(target, ids, [n for _, _, n in updates], distance, temperature)
    return weighted_mean([(s, x) for (_, s, _), x in zip(updates, w)])


def distance_kernel(updates: Sequence[tuple[str, State, int]], distance: Mapping[tuple[str, str], float],
                    temperature: float) -> dict[str, State]:
    """One personalised state per client."""
    if not updates:
        raise AggregationError("no client updates to aggregate")
    return {cid: personalised_state(cid, updates, distance, temperature) for cid, _, _ in updates}
