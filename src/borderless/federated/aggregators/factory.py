"""Config → aggregation rule, as a function (global, replies, server_state) → (global, server_state)."""

from __future__ import annotations

from functools import partial

from borderless.config import FederatedConfig
from borderless.federated.aggregators.base import Aggregator, Replies, State
from borderless.federated.aggregators.fedadam import fedadam, fedyogi
from borderless.federated.aggregators.fedavg import fedavg
from borderless.federated.aggregators.fedavgm import fedavgm
from borderless.federated.aggregators.clipped_fedavg import clipped_fedavg_rule
from borderless.federated.aggregators.krum import krum_rule
from borderless.federated.aggregators.median import median_rule
from borderless.federated.aggregators.trimmed_mean import trimmed_mean_rule


def _plain_fedavg(global_state: State, replies: Replies, server_state: None) -> tuple[State, None]:
    return fedavg(replies), None


def make_aggregator(cfg: FederatedConfig) -> Aggregator:
    """fedavg and fedprox aggregate alike (FedProx differs on the client: the proximal term)."""
    if cfg.aggregator in ("fedavg", "fedprox", "distance"):  # distance: its FedAvg is the global state
        return _plain_fedavg
    if cfg.aggregator == "fedavgm":
        return partial(fedavgm, server_lr=cfg.server_lr or 1.0, beta=cfg.server_momentum)
    if cfg.aggregator == "median":
        return median_rule
    if cfg.aggregator == "trimmed_mean":
        return partial(trimmed_mean_rule, beta=cfg.trim_beta)
    if cfg.aggregator == "krum":
        return partial(krum_rule, f=cfg.krum_f, m=cfg.krum_m)
    if cfg.aggregator == "clipped_fedavg":
        return partial(clipped_fedavg_rule, clip=cfg.clip_norm)
    rule = {"fedadam": fedadam, "fedyogi": fedyogi}[cfg.aggregator]
    return partial(rule, server_lr=cfg.server_lr or 0.01, beta1=cfg.beta1, beta2=cfg.beta2, tau=cfg.tau)
