"""In-process federation: ONE model in memory; each client's state is swapped in, trained, taken out.

A client is its data plus its trainable state. What it sends back is a :class:`ClientUpdate`:
the trainable state, its example count and scalar metrics, never text or token ids.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import torch

from borderless.config import FederatedConfig, TrainConfig
from borderless.federated.aggregators.distance_kernel import distance_kernel
from borderless.federated.aggregators.factory import make_aggregator
from borderless.checkpoint import rng_state, set_rng_state
from borderless.federated.attacks import poison
from borderless.federated.validation import Rejection, screen
from borderless.train import BatchStream, make_optimizer, schedule_factors, train_steps
from borderless.tuning.state import State, load_trainable_state, trainable_state


@dataclass(frozen=True)
class ClientUpdate:
    """The message a client sends to the server."""

    client_id: str
    state: State
    num_examples: int
    metrics: dict[str, float]


@dataclass(frozen=True)
class SecureSum(ClientUpdate):
    """Not a client's message: what the server unmasks under SecAgg+, the sum of ``members``' updates."""

    members: tuple[str, ...] = ()


@dataclass
class Client:
    """A language's private training data (as a batch stream) and nothing else; ``privacy`` (a
    ``borderless.privacy.plan.ClientPrivacy``) is what it applies while training and before its
    update leaves: DP-SGD (example), clipping (client), clipping and noise (local)."""

    client_id: str
    stream: BatchStream
    privacy: object = None

    @property
    def num_examples(self) -> int:
        return len(self.stream.data)

    def fit(self, model: torch.nn.Module, global_state: State, cfg: TrainConfig, head_names: set[str],
            seed: int, prox_mu: float = 0.0, rnd: int = 1, rounds: int = 1) -> ClientUpdate:
        """``cfg.local_steps`` steps from ``global_state``; the learning rate follows the run's
        schedule over all ``rounds`` × local steps, at round ``rnd``'s place in it."""
        load_trainable_state(model, global_state)
        torch.manual_seed(seed)  # dropout
        optimizer = make_optimizer(model, cfg, head_names)
        k = cfg.local_steps
        factors = schedule_factors(cfg, (rnd - 1) * k, k, rounds * k)
        dp = self.privacy
        metrics = train_steps(model, self.stream, k, optimizer, global_state, prox_mu, factors, dp, seed)
        state = trainable_state(model)
        if dp is not None:  # the loss is computed from the sentences without noise: it does not leave a DP client
            metrics.pop("train_loss", None)
        if dp is not None and dp.mechanism in ("client", "local"):
            from borderless.privacy.update_noise import add_noise, clip_update

            state = clip_update(state, global_state, dp.clip_norm)
            if dp.mechanism == "local":
                state = add_noise(state, dp.noise_multiplier * dp.clip_norm, dp.generator(seed))
        return ClientUpdate(self.client_id, state, self.num_examples, metrics)


@dataclass
class RoundResult:
    round: int
    state: State  # the global (FedAvg-family) state
    updates: list[ClientUpdate]
    personal: dict[str, State] | None = None  # distance-aware rule: each client's own state
    rejected: list[Rejection] = field(default_factory=list)  # updates the server refused this round, with why
    carry: dict = field(default_factory=dict)  # what the next round needs (federate's ``resume``): a checkpoint
    absent: list[str] = field(default_factory=list)  # sampled clients that did not answer (Flower, min_clients)


def sample_clients(clients: list, per_round: int, rng: random.Random) -> list:
    """The clients (objects or ids) trained this round, in client-id order."""
    if per_round <= 0 or per_round >= len(clients):
        return list(clients)
    key = (lambda c: c) if clients and isinstance(clients[0], str) else (lambda c: c.client_id)
    return sorted(rng.sample(clients, per_round), key=key)


@dataclass(frozen=True)
class FitRequest:
    """What the server asks of one client in one round: start from ``state``, train with ``seed``.
    ``batches_before`` is how many batches the client has already trained on in this run (its
    data stream resumes there, so a client that lives in a fresh process continues where it stopped)."""

    client_id: str
    state: State
    seed: int
    batches_before: int


FitMany = Callable[[int, list[FitRequest]], list[ClientUpdate]]


def client_seed(seed: int, rnd: int, idx: int) -> int:
    """Dropout seed of the idx-th sampled client in round ``rnd``."""
    return seed * 100_003 + rnd * 1_009 + idx


def federate(client_ids: list[str],  # in the order of the config's clients (sampling depends on it)
             fit_many: FitMany, initial_state: State, train_cfg: TrainConfig,
             fed_cfg: FederatedConfig, seed: int,
             distances: Mapping[tuple[str, str], float] | None = None,
             declared: Mapping[str, int] | None = None, resume: dict | None = None,
             privacy=None, local_keys: frozenset[str] = frozenset(),
             initial_personal: Mapping[str, State] | None = None) -> Iterator[RoundResult]:
    """The federation's round loop, whatever carries the messages: sample, ask each sampled client
    to train (``fit_many``: in this process, or over Flower), check every update
    (``borderless.federated.validation``: refused ones are left out and listed in the round's
    result), aggregate the rest with the configured rule. ``declared``: each client's example count
    when it joined (by default the first count it reports); no update may claim more. ``resume``: a
    round's ``carry`` (from a checkpoint): the loop continues with the next round exactly as if it
    had never stopped.

    Under ``aggregator = "distance"`` each client starts a round from its own personalised state
    (a kernel of language distance over all updates) and the global state is their FedAvg.

    ``privacy`` (a ``borderless.privacy.plan.ServerPrivacy``, client-level DP): each client joins a
    round with probability ``sampling_rate`` (Poisson, as the accountant models it), the server clips
    every update to ``clip_norm`` again, adds Gaussian noise to their sum, divides by the expected
    number of clients and hands that one noisy mean to the configured rule (fedavg keeps it; fedavgm,
    fedadam and fedyogi take it as their pseudo-gradient). A round nobody joined still adds the noise.

    ``local_keys`` (``federated.local_head``: the head's tensors) stay with each client: a client starts
    every round from the global state with its own ``local_keys`` (first from ``initial_personal``), and
    its new ones replace them after the round. The global state's copy of them is the clients' average,
    for languages outside the federation."""
    personalised = fed_cfg.aggregator == "distance"
    if personalised and distances is None:
        raise ValueError("federated.aggregator = 'distance' needs language distances between the clients")
    aggregate = make_aggregator(fed_cfg)
    rng = random.Random(seed)
    state = {k: v.clone() for k, v in initial_state.items()}
    personal: dict[str, State] = {cid: dict(st) for cid, st in (initial_personal or {}).items()}
    trained: dict[str, int] = {cid: 0 for cid in client_ids}
    joined: dict[str, int] = dict(declared or {})
    server_state = None  # the rule's own state (momentum, Adam moments), explicit between rounds
    first = 1
    if resume is not None:
        first, state, personal = resume["round"] + 1, dict(resume["state"]), dict(resume["personal"])
        trained, joined = dict(resume["trained"]), dict(resume["joined"])
        server_state = decode_server_state(resume["server_state"])
        set_rng_state(rng, resume["rng"])
    for rnd in range(first, fed_cfg.rounds + 1):
        if privacy is None:
            sampled = sample_clients(list(client_ids), fed_cfg.clients_per_round, rng)
        else:
            sampled = [c for c in client_ids if privacy.sampling_rate >= 1.0 or rng.random() < privacy.sampling_rate]
        requests = [FitRequest(cid, personal.get(cid, state), client_seed(seed, rnd, idx),
                               trained[cid] * train_cfg.local_steps) for idx, cid in enumerate(sampled)]
        replies = fit_many(rnd, requests)  # on Flower with federated.min_clients: those that answered
        answered = {cid for u in replies for cid in (u.members if isinstance(u, SecureSum) else (u.client_id,))}
        absent = [r.client_id for r in requests if r.client_id not in answered]
        for r in requests:
            if r.client_id in answered:  # an absent client's batch stream waits for its next round
                trained[r.client_id] += 1
        for u in replies:
            if isinstance(u.num_examples, int) and u.num_examples > 0:
                joined.setdefault(u.client_id, u.num_examples)
        updates, rejected = screen(replies, state, rnd, joined, fed_cfg.max_update_norm)
        if privacy is not None:
            from borderless.privacy.update_noise import clip_update, noisy_mean

            noisy = noisy_mean(state, [clip_update(u.state, state, privacy.clip_norm) for u in updates],
                               privacy.noise_multiplier * privacy.clip_norm, privacy.expected_clients,
                               privacy.generator(rnd))
            state, server_state = aggregate(state, [(noisy, 1)], server_state)
        elif updates:  # a round where every update was refused keeps the global state
            state, server_state = aggregate(state, [(u.state, u.num_examples) for u in updates], server_state)
        if personalised and updates:
            personal.update(distance_kernel([(u.client_id, u.state, u.num_examples) for u in updates], distances,
                                            fed_cfg.temperature))
        if local_keys:
            personal = keep_local(state, personal, updates, local_keys)
        carry = {"round": rnd, "state": state, "personal": dict(personal), "trained": dict(trained),
                 "joined": dict(joined), "server_state": encode_server_state(server_state), "rng": rng_state(rng)}
        yield RoundResult(rnd, state, updates, dict(personal) if personalised or local_keys else None, rejected,
                          carry, absent)
        replies = updates = None  # not held here while the next round trains: the caller decides what it keeps


def keep_local(state: State, personal: Mapping[str, State], updates: list[ClientUpdate],
               local_keys: frozenset[str]) -> dict[str, State]:
    """Every client's state after a round under a local head: the new global state, with the client's
    own ``local_keys`` (the ones it just trained, else the ones it kept)."""
    own = {cid: {k: st[k] for k in local_keys} for cid, st in personal.items()}
    own.update({u.client_id: {k: u.state[k] for k in local_keys} for u in updates})
    return {cid: {**state, **head} for cid, head in own.items()}


def encode_server_state(server_state):
    """The aggregation rule's state as plain data (a checkpoint holds no objects)."""
    from borderless.federated.aggregators.fedadam import AdaptiveState

    if isinstance(server_state, AdaptiveState):
        return {"adaptive_m": server_state.m, "adaptive_v": server_state.v}
    return server_state


def decode_server_state(saved):
    from borderless.federated.aggregators.fedadam import AdaptiveState

    if isinstance(saved, dict) and "adaptive_m" in saved:
        return AdaptiveState(saved["adaptive_m"], saved["adaptive_v"])
    return saved


def run_rounds(model: torch.nn.Module, clients: list[Client], initial_state: State, train_cfg: TrainConfig,
               fed_cfg: FederatedConfig, head_names: set[str], seed: int,
               on_client: Callable[[int, str], None] | None = None,
               distances: Mapping[tuple[str, str], float] | None = None,
               resume: dict | None = None, privacy=None,
               initial_personal: Mapping[str, State] | None = None) -> Iterator[RoundResult]:
    """The federation in this process: the same ``model`` object serves every client in turn.
    Yields the round results; the model holds the global state at the end. With ``resume`` the
    clients' streams must already be where that round left them."""
    prox_mu = fed_cfg.prox_mu if fed_cfg.aggregator == "fedprox" else 0.0
    by_id = {c.client_id: c for c in clients}

    def fit_many(rnd: int, requests: list[FitRequest]) -> list[ClientUpdate]:
        updates = []
        for req in requests:
            if on_client:
                on_client(rnd, req.client_id)
            u = by_id[req.client_id].fit(model, req.state, train_cfg, head_names, req.seed, prox_mu, rnd, fed_cfg.rounds)
            if fed_cfg.attack in ("sign_flip", "gaussian", "nan") and req.client_id in fed_cfg.attack_clients:
                u = dataclasses.replace(u, state=poison(u.state, req.state, fed_cfg.attack, fed_cfg.attack_scale,
                                                        req.seed))
            updates.append(u)
        return updates

    state = initial_state
    local_keys = frozenset(head_names) if fed_cfg.local_head else frozenset()
    for result in federate(list(by_id), fit_many, initial_state, train_cfg, fed_cfg, seed, distances,
                           {c.client_id: c.num_examples for c in clients}, resume, privacy, local_keys,
                           initial_personal):
        state = result.state
        yield result
    load_trainable_state(model, state)
