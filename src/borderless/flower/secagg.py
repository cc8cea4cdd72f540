"""SecAgg+ rounds: Flower's ``SecAggPlusWorkflow`` on the server, ``secaggplus_mod`` on the nodes.

The nodes mask their (quantised, example-weighted) states with pairwise and private masks; the
server unmasks only the sum, so it learns the example-weighted mean and each node's count and
metrics, never one node's state. FedAvg, FedAvgM, FedAdam and FedYogi need only that mean, so the
aggregation rule is the same function as everywhere else, applied to a single "reply": the mean
with the total count. (The distance-aware rule needs every node's own state and is refused.)
"""

from __future__ import annotations

import numpy as np
import torch
from flwr.app import ConfigRecord, Context, RecordDict
from flwr.common import FitIns, parameters_to_ndarrays
from flwr.compat.common import recorddict_compat as compat
from flwr.server import ServerConfig
from flwr.server.client_manager import SimpleClientManager
from flwr.server.compat.grid_client_proxy import GridClientProxy
from flwr.server.compat.legacy_context import LegacyContext
from flwr.server.strategy import Strategy
from flwr.server.workflow import SecAggPlusWorkflow
from flwr.server.workflow.constant import MAIN_CONFIGS_RECORD, MAIN_PARAMS_RECORD, Key

from borderless.config import Config
from borderless.federated.simulation import ClientUpdate, FitRequest, SecureSum
from borderless.flower import records
from borderless.tuning.state import State


class SecAggError(RuntimeError):
    pass


class _RoundRequests(Strategy):
    """The bridge to the workflow's legacy Strategy interface: it hands out this round's requests
    and keeps what the workflow unmasked. No aggregation happens here."""

    def __init__(self, proxies: dict[str, GridClientProxy]):
        self.proxies = proxies
        self.requests: list[FitRequest] = []
        self.results = None
        self.failures: list = []

    def initialize_parameters(self, client_manager):
        return None

    def configure_fit(self, server_round, parameters, client_manager):
        return [(self.proxies[r.client_id], FitIns(records.state_to_parameters(r.state),
                                                   records.round_settings(server_round, r.seed, r.batches_before)))
                for r in self.requests]

    def aggregate_fit(self, server_round, results, failures):
        self.results, self.failures = results, list(failures)
        return (results[0][1].parameters if results else None), {}

    def configure_evaluate(self, server_round, parameters, client_manager):
        return []

    def aggregate_evaluate(self, server_round, results, failures):
        return None, {}

    def evaluate(self, server_round, parameters):
        return None


def secagg_fit_many(grid, nodes: dict[str, int], template: State, cfg: Config, max_examples: int):
    p = cfg.privacy
    if len(nodes) < 3 and p.secagg_shares == 0:
        raise SecAggError(f"SecAgg+ needs at least 3 nodes to hide one node's update from the sum "
                          f"(this run has {len(nodes)}); add languages or set privacy.secagg = false")
    workflow = SecAggPlusWorkflow(num_shares=p.secagg_shares or 1.0, reconstruction_threshold=p.secagg_threshold,
                                  max_weight=float(max_examples), clipping_range=p.secagg_clip_range,
                                  quantization_range=p.secagg_quantization, timeout=cfg.deploy.round_timeout_s)
    run_id = getattr(getattr(grid, "run", None), "run_id", 0)
    proxies = {lang: GridClientProxy(nid, grid, run_id) for lang, nid in nodes.items()}
    strategy = _RoundRequests(proxies)
    context = LegacyContext(Context(run_id=run_id, node_id=0, node_config={}, state=RecordDict(), run_config={}),
                            config=ServerConfig(num_rounds=cfg.federated.rounds), strategy=strategy,
                            client_manager=SimpleClientManager())
    by_node = {nid: lang for lang, nid in nodes.items()}

    def fit_many(rnd: int, requests: list[FitRequest]) -> list[ClientUpdate]:
        if len(requests) < 2:
            raise SecAggError(f"round {rnd}: SecAgg+ needs at least 2 sampled clients; raise federated.clients_per_round")
        strategy.requests, strategy.results = requests, None
        context.state.array_records[MAIN_PARAMS_RECORD] = compat.parameters_to_arrayrecord(
            records.state_to_parameters(requests[0].state), True)
        context.state.config_records[MAIN_CONFIGS_RECORD] = ConfigRecord({Key.CURRENT_ROUND: rnd})
        workflow(grid, context)
        if not strategy.results or strategy.failures:
            raise SecAggError(f"round {rnd}: SecAgg+ could not unmask the sum ({len(strategy.failures)} node(s) "
                              "failed or dropped below privacy.secagg_threshold); see the nodes' logs")
        arrays = parameters_to_ndarrays(strategy.results[0][1].parameters)
        mean: State = {}
        for k, a in zip(sorted(template), arrays):
            if tuple(a.shape) != tuple(template[k].shape):
                raise SecAggError(f"round {rnd}: unmasked {k} has shape {a.shape}, the model {tuple(template[k].shape)}")
            mean[k] = torch.from_numpy(np.asarray(a, dtype=np.float64)).to(template[k].dtype)
        total = sum(int(res.num_examples) for _, res in strategy.results)
        metrics: dict[str, float] = {"secagg_clients": float(len(strategy.results))}
        for proxy, res in strategy.results:
            lang = by_node[int(proxy.node_id)]
            metrics.update({f"{lang}/{k}": float(v) for k, v in res.metrics.items()})
            metrics[f"{lang}/num_examples"] = float(res.num_examples)
        members = tuple(by_node[int(proxy.node_id)] for proxy, _ in strategy.results)
        return [SecureSum(f"secure sum of {len(strategy.results)} clients", mean, total, metrics, members)]

    return fit_many
