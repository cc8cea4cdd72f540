"""Every protected party's noise, fixed by the config and its data sizes alone, before training.

A Flower node computes its own σ from the same config and its own example count, so the node and
the in-process simulation agree without the server telling anyone. With ``privacy.target_epsilon``
the noise is calibrated to the most steps the party can take (all rounds, no early stop, every
personal step); ``privacy.noise_multiplier`` sets it directly. The reported ε counts the steps the
party actually took, so it never exceeds the target.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from borderless.config import Config
from borderless.privacy.accountant import Guarantee, calibrate, guarantee
from borderless.privacy.dp_sgd import PoissonStream, noise_generator


@dataclass(frozen=True)
class ClientPrivacy:
    """What one client (or the pooled centralized set) applies while it trains and before its update
    leaves. ``seed``: the noise's seed in a simulation; None draws it from the OS (a real node)."""

    mechanism: str  # example | client | local
    clip_norm: float
    noise_multiplier: float
    seed: int | None = None

    def generator(self, step_seed: int) -> torch.Generator:
        return noise_generator(None if self.seed is None else self.seed * 1_000_003 + step_seed)


@dataclass(frozen=True)
class ServerPrivacy:
    """Client-level DP at the server: Poisson sampling of clients and noise on the clipped sum."""

    clip_norm: float
    noise_multiplier: float
    sampling_rate: float
    num_clients: int
    seed: int | None = None

    @property
    def expected_clients(self) -> float:
        return self.sampling_rate * self.num_clients

    def generator(self, rnd: int) -> torch.Generator:
        return noise_generator(None if self.seed is None else self.seed * 1_000_003 + 7 + rnd)


def is_private(cfg: Config) -> bool:
    return cfg.privacy.mechanism != "none"


def planned_steps(cfg: Config, paradigm: str, clients: int = 1) -> int:
    """The most DP-SGD steps (example) or rounds (client, local) one party of ``paradigm`` can take."""
    rounds, k = cfg.federated.rounds, cfg.train.local_steps
    if cfg.privacy.mechanism in ("client", "local"):
        return rounds
    if paradigm == "centralized":
        return rounds * k * clients
    if paradigm.startswith("federated") and "federated_personal" in cfg.run.paradigms:
        return rounds * k + cfg.federated.personal_steps
    return rounds * k


def sampling_rate(cfg: Config, examples: int) -> float:
    """q of DP-SGD: each sentence of a party of ``examples`` joins a step with this probability."""
    return min(1.0, cfg.train.batch_size / max(examples, 1))


def client_sampling_rate(cfg: Config, num_clients: int) -> float:
    per = cfg.federated.clients_per_round
    return 1.0 if per <= 0 or per >= num_clients else per / num_clients


def probe_phase(cfg: Config, examples: int) -> tuple[tuple[float, int], ...]:
    """Example-level DP with LP-FT: the DP probe's (sampling rate, steps) on the party's sentences
    before tuning (borderless.privacy.dp_probe); () otherwise."""
    p = cfg.privacy
    if p.mechanism != "example" or not cfg.method.probe_init:
        return ()
    return ((min(1.0, p.probe_batch_size / max(examples, 1)), p.probe_steps),)


def party_sampling_rate(cfg: Config, examples: int, num_clients: int) -> float:
    """The sampling rate the accountant models: of a party's sentences (example), of the clients
    (client), none (local: the client knows it was sampled)."""
    if cfg.privacy.mechanism == "example":
        return sampling_rate(cfg, examples)
    if cfg.privacy.mechanism == "client":
        return client_sampling_rate(cfg, num_clients)
    return 1.0


def noise_multiplier(cfg: Config, paradigm: str, examples: int, num_clients: int) -> float:
    p = cfg.privacy
    if p.noise_multiplier > 0:
        return p.noise_multiplier
    q = party_sampling_rate(cfg, examples, num_clients)
    return calibrate(p.mechanism, p.target_epsilon, q, planned_steps(cfg, paradigm, num_clients), p.delta, p.accountant,
                     probe_phase(cfg, examples))


def client_privacy(cfg: Config, paradigm: str, examples: int, num_clients: int, seed: int | None) -> ClientPrivacy | None:
    """None when ``privacy.mechanism = "none"``. Under ``client`` the client only clips; σ is the server's."""
    p = cfg.privacy
    if p.mechanism == "none":
        return None
    if p.mechanism in ("client", "local") and not paradigm.startswith("federated"):
        return None  # refused by config validation; nothing to apply outside a federation
    sigma = 0.0 if p.mechanism == "client" else noise_multiplier(cfg, paradigm, examples, num_clients)
    return ClientPrivacy(p.mechanism, p.clip_norm, sigma, seed)


def server_privacy(cfg: Config, num_clients: int, seed: int | None) -> ServerPrivacy | None:
    p = cfg.privacy
    if p.mechanism != "client":
        return None
    return ServerPrivacy(p.clip_norm, noise_multiplier(cfg, "federated", 0, num_clients),
                         client_sampling_rate(cfg, num_clients), num_clients, seed)


def make_stream(cfg: Config, data, seed: int):
    """The training stream of one party: fixed-size shuffled batches, or Poisson batches under DP-SGD."""
    from borderless.train import BatchStream

    if cfg.privacy.mechanism == "example":
        return PoissonStream(data, cfg.train.batch_size, seed)
    return BatchStream(data, cfg.train.batch_size, seed)


def party_guarantee(cfg: Config, paradigm: str, examples: int, num_clients: int, steps_taken: int) -> Guarantee:
    """The (ε, δ) of one party after ``steps_taken`` steps (example) or rounds taken part in (client, local)."""
    p = cfg.privacy
    sigma = noise_multiplier(cfg, paradigm, examples, num_clients)
    q = party_sampling_rate(cfg, examples, num_clients)
    return guarantee(p.mechanism, sigma, p.clip_norm, q, steps_taken, p.delta, p.accountant, probe_phase(cfg, examples))


def steps_taken(cfg: Config, rounds_trained: int, rounds_run: int, personal_steps: int = 0) -> int:
    """What a federated party's accountant composes: DP-SGD steps (example: rounds it trained × local
    steps, plus personal steps), rounds it took part in (local), or every round the server ran
    (client: the sampling is part of the mechanism)."""
    mech = cfg.privacy.mechanism
    if mech == "example":
        return rounds_trained * cfg.train.local_steps + personal_steps
    return rounds_trained if mech == "local" else rounds_run


def noise_seed(cfg: Config, party_index: int) -> int:
    """The simulation's noise seed of one party (clients in config order; the pooled set after them)."""
    return cfg.run.seed * 7_919 + party_index


def paradigm_record(cfg: Config, paradigm: str, parties: dict[str, tuple[int, int]], num_clients: int) -> dict:
    """results.json's ``privacy`` of one paradigm: each party's guarantee from (examples, steps taken),
    and the run's ε, the largest (each sentence belongs to one party)."""
    p = cfg.privacy
    each = {who: party_guarantee(cfg, paradigm, n, num_clients, steps).as_dict() for who, (n, steps) in parties.items()}
    return {"mechanism": p.mechanism, "delta": p.delta, "accountant": p.accountant, "clip_norm": p.clip_norm,
            "target_epsilon": p.target_epsilon or None,
            "epsilon": max((g["epsilon"] for g in each.values()), default=0.0), "parties": each}
