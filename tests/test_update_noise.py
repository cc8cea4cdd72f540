"""Update-level DP in the in-process federation: local (each client clips and noises its update) and
client-level (clients clip, the server samples by Poisson and noises the sum)."""

from __future__ import annotations

import dataclasses

import torch

from borderless.config import FederatedConfig, TrainConfig
from borderless.federated.simulation import run_rounds
from borderless.privacy.plan import ClientPrivacy, ServerPrivacy
from borderless.privacy.update_noise import clip_update, update_norm
from borderless.tuning.state import load_trainable_state, trainable_state
from test_simulation import setup

CFG = TrainConfig(batch_size=4, local_steps=2, lr=0.05)


def test_clipping_bounds_the_update_and_leaves_short_ones_alone():
    start = {"a": torch.zeros(3), "b": torch.zeros(2)}
    state = {"a": torch.tensor([3.0, 0, 0]), "b": torch.tensor([0.0, 4.0])}
    assert update_norm(clip_update(state, start, 1.0), start) == __import__("pytest").approx(1.0)
    same = clip_update(state, start, 10.0)
    assert all(torch.equal(same[k], state[k]) for k in state)


def test_local_dp_adds_noise_of_std_sigma_c_to_the_update_that_leaves(tiny_backbone):
    model, clients = setup(tiny_backbone)
    start = trainable_state(model)
    plain = clients[0].fit(model, start, CFG, model.head_parameter_names(), seed=1)
    model, clients = setup(tiny_backbone)  # the same stream from its start
    clients[0].privacy = ClientPrivacy("local", clip_norm=100.0, noise_multiplier=0.2, seed=3)
    noisy = clients[0].fit(model, start, CFG, model.head_parameter_names(), seed=1)
    assert update_norm(plain.state, start) < 100.0  # the clip does not bite: the difference is the noise
    diff = torch.cat([(noisy.state[k] - plain.state[k]).ravel() for k in start])
    assert abs(float(diff.std()) / 20.0 - 1) < 0.12
    load_trainable_state(model, start)


def _one_round(backbone, start, server: ServerPrivacy):
    """One round of three clients that clip to the server's clip norm (each setup restarts their streams)."""
    model, clients = setup(backbone)
    for c in clients:
        c.privacy = ClientPrivacy("client", clip_norm=server.clip_norm, noise_multiplier=0.0)
    (r,) = list(run_rounds(model, clients, start, CFG, FederatedConfig(rounds=1), model.head_parameter_names(), 0,
                           privacy=server))
    return model, clients, r


def test_client_level_dp_clips_each_update_and_noises_the_mean(tiny_backbone):
    start = trainable_state(setup(tiny_backbone)[0])
    server = ServerPrivacy(0.01, 1e-12, 1.0, 3, seed=0)  # noise negligible: the mean itself
    model, clients, r = _one_round(tiny_backbone, start, server)
    for u in r.updates:
        assert update_norm(u.state, start) <= 0.01 + 1e-6  # clipped before it left the client
    mean = {k: start[k] + sum(u.state[k] - start[k] for u in r.updates) / len(clients) for k in start}
    for k in start:  # the unweighted mean over the expected count, not FedAvg's example weighting
        assert torch.allclose(r.state[k], mean[k], atol=1e-6)
    loud = dataclasses.replace(server, noise_multiplier=30.0)  # std 0.3 on the sum, 0.1 on the mean of 3
    model, _, n = _one_round(tiny_backbone, start, loud)
    diff = torch.cat([(n.state[k] - r.state[k]).ravel() for k in start])
    assert abs(float(diff.std()) / 0.1 - 1) < 0.12
    load_trainable_state(model, start)


def test_client_level_dp_samples_clients_by_poisson(tiny_backbone):
    model, clients = setup(tiny_backbone)
    start = trainable_state(model)
    for c in clients:
        c.privacy = ClientPrivacy("client", clip_norm=1.0, noise_multiplier=0.0)
    server = ServerPrivacy(1.0, 0.5, 0.5, len(clients), seed=0)
    rounds = list(run_rounds(model, clients, start, dataclasses.replace(CFG, local_steps=1), FederatedConfig(rounds=30),
                             model.head_parameter_names(), 0, privacy=server))
    counts = [len(r.updates) for r in rounds]
    assert len(set(counts)) > 1  # varies, as Poisson sampling does
    assert abs(sum(counts) / len(counts) - 1.5) < 0.45
    empty = [i for i in range(1, 30) if counts[i] == 0]
    assert empty  # (seeded) some round drew nobody...
    for i in empty:  # ...and still added the noise
        assert any(not torch.equal(rounds[i].state[k], rounds[i - 1].state[k]) for k in start)
    load_trainable_state(model, start)
