"""In-process federation: ONE model in memory; each client's state is swapped in, trained, taken out.

A client is its data plus its trainable state. What it sends back is a :class:`ClientUpdate`:
the trainable state, its example count and scalar metrics, never text or token ids.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import torch

from borderless.config import FederatedConfig, TrainConfig
from borderless.federated.aggregators.distance_kernel import distance_kernel
from borderless.federated.aggregators.factory import make_aggregator
from borderless.train import BatchStream, make_optimizer, train_steps
from borderless.tuning.state import State, load_trainable_state, trainable_state


@dataclass(frozen=True)
class ClientUpdate:
    """The message a client sends to the server."""

    client_id: str
    state: State
    num_examples: int
    metrics: dict[str, float]


@dataclass
class Client:
    """A language's private training data (as a batch stream) and nothing else."""

    client_id: str
    stream: BatchStream

    @property
    def num_examples(self) -> int:
        return len(self.stream.data)

    def fit(self, model: torch.nn.Module, global_state: State, cfg: TrainConfig, head_names: set[str],
            seed: int, prox_mu: float = 0.0) -> ClientUpdate:
        load_trainable_state(model, global_state)
        torch.manual_seed(seed)  # dropout
        optimizer = make_optimizer(model, cfg, head_names)
        metrics = train_steps(model, self.stream, cfg.local_steps, optimizer, global_state, prox_mu)
        return ClientUpdate(self.client_id, trainable_state(model), self.num_examples, metrics)


@dataclass
class RoundResult:
    round: int
    state: State  # the global (FedAvg-family) state
    updates: list[ClientUpdate]
    personal: dict[str, State] | None = None  # distance-aware rule: each client's own state


def sample_clients(clients: list[Client], per_round: int, rng: random.Random) -> list[Client]:
    if per_round <= 0 or per_round >= len(clients):
        return list(clients)
    return sorted(rng.sample(clients, per_round), key=lambda c: c.client_id)


def run_rounds(model: torch.nn.Module, clients: list[Client], initial_state: State, train_cfg: TrainConfig,
               fed_cfg: FederatedConfig, head_names: set[str], seed: int,
               on_client: Callable[[int, str], None] | None = None,
               distances: Mapping[tuple[str, str], float] | None = None) -> Iterator[RoundResult]:
    """Yield the global state after each round. The same ``model`` object serves every client.

    Under ``aggregator = "distance"`` each client starts a round from its own personalised state
    (a kernel of language distance over all updates) and the global state is their FedAvg."""
    personalised = fed_cfg.aggregator == "distance"
    if personalised and distances is None:
        raise ValueError("federated.aggregator = 'distance' needs language distances between the clients")
    aggregate = make_aggregator(fed_cfg)
    prox_mu = fed_cfg.prox_mu if fed_cfg.aggregator == "fedprox" else 0.0
    rng = random.Random(seed)
    state = {k: v.clone() for k, v in initial_state.items()}
    personal: dict[str, State] = {}
    server_state = None  # the rule's own state (momentum, Adam moments), explicit between rounds
    for rnd in range(1, fed_cfg.rounds + 1):
        updates = []
        for idx, client in enumerate(sample_clients(clients, fed_cfg.clients_per_round, rng)):
            if on_client:
                on_client(rnd, client.client_id)
            start = personal.get(client.client_id, state)
            updates.append(client.fit(model, start, train_cfg, head_names, seed * 100_003 + rnd * 1_009 + idx, prox_mu))
        state, server_state = aggregate(state, [(u.state, u.num_examples) for u in updates], server_state)
        if personalised:
            personal.update(distance_kernel([(u.client_id, u.state, u.num_examples) for u in updates], distances,
                                            fed_cfg.temperature))
        yield RoundResult(rnd, state, updates, dict(personal) if personalised else None)
    load_trainable_state(model, state)
