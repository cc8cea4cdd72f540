"""Config → aggregation rule, as a function (global, replies, server_state) → (global, server_state)."""

from __future__ import annotations

from functools import partial

from borderless.config import FederatedConfig
from borderless.federated.aggregators.base import Aggregator, Replies, State
from borderless.federated.aggregators.fedadam import fedadam, fedyogi
from borderless.federated.aggregators.fedavg import fedavg
from borderless.federated.aggregators.fedavgm import fedavgm


def _plain_fedavg(global_state: State, replies: Replies, server_state: None) -> tuple[State, None]:
    return fedavg(replies), None


def make_aggregator(cfg: FederatedConfig) -> Aggregator:
    """fedavg and fedprox aggregate alike (FedProx differs on the client: the proximal term)."""
    if cfg.aggregator in ("fedavg", "fedprox", "distance"):  # distance: its FedAvg is the global state
        return _plain_fedavg
    if cfg.aggregator == "fedavgm":
        return partial(fedavgm, server_lr=cfg.server_lr or 1.0, beta=cfg.server_momentum)
    rule = {"fedadam": fedadam, "fedyogi": fedyogi}[cfg.aggregator]
    return partial(rule, server_lr=cfg.server_lr or 0.01, beta1=cfg.beta1, beta2=cfg.beta2, tau=cfg.tau)
