import dataclasses

import torch

from borderless.config import FederatedConfig, MethodConfig, TrainConfig
from borderless.data.types import Example
from borderless.federated.aggregators.fedavg import fedavg
from borderless.federated.simulation import Client, ClientUpdate, run_rounds
from borderless.train import BatchStream, tokenize
from borderless.tuning.prompt import build_prompt_classifier
from borderless.tuning.state import load_trainable_state, trainable_state


def setup(backbone, sizes=(12, 20, 8)):
    model = build_prompt_classifier(backbone.model, backbone.hidden_size, 4, MethodConfig(num_virtual_tokens=3), 0)
    clients = []
    for c, n in enumerate(sizes):
        exs = [Example(f"l{c}/{i}", f"client {c} text {i} " * (1 + i % 3), i % 4, f"l{c}") for i in range(n)]
        clients.append(Client(f"l{c}", BatchStream(tokenize(exs, backbone.tokenizer, 48), 4, seed=c)))
    return model, clients


def test_one_model_serves_every_client_and_message_has_only_state_count_metrics(tiny_backbone, monkeypatch):
    model, clients = setup(tiny_backbone)
    seen_models = []
    original = Client.fit

    def spy(self, m, *a, **k):
        seen_models.append(id(m))
        return original(self, m, *a, **k)

    monkeypatch.setattr(Client, "fit", spy)
    init = trainable_state(model)
    results = list(run_rounds(model, clients, init, TrainConfig(local_steps=2, lr=0.05), FederatedConfig(rounds=2),
                              model.head_parameter_names(), seed=0))
    assert len(set(seen_models)) == 1 and len(seen_models) == 6
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    backbone_ids = {id(p) for p in tiny_backbone.model.parameters()}
    for r in results:
        for u in r.updates:
            assert isinstance(u, ClientUpdate)
            fields = {f.name for f in dataclasses.fields(u)}
            assert fields == {"client_id", "state", "num_examples", "metrics"}
            assert set(u.state) == trainable  # the trainable state and nothing else
            assert all(t.is_floating_point() for t in u.state.values())  # no token ids
            assert all(id(t) not in backbone_ids for t in u.state.values())
            assert all(isinstance(v, float) for v in u.metrics.values())  # no text
            assert isinstance(u.num_examples, int)


def test_round_state_is_fedavg_of_updates(tiny_backbone):
    model, clients = setup(tiny_backbone)
    init = trainable_state(model)
    results = list(run_rounds(model, clients, init, TrainConfig(local_steps=1, lr=0.05), FederatedConfig(rounds=1),
                              model.head_parameter_names(), seed=0))
    r = results[0]
    assert [u.num_examples for u in r.updates] == [12, 20, 8]
    expected = fedavg([(u.state, u.num_examples) for u in r.updates])
    assert all(torch.equal(expected[k], r.state[k]) for k in expected)
    # weights matter: the mean is not the unweighted mean
    unweighted = fedavg([(u.state, 1) for u in r.updates])
    assert not torch.allclose(unweighted["head.weight"], r.state["head.weight"])
    # after the run the model holds the global state
    now = trainable_state(model)
    assert all(torch.equal(now[k], r.state[k]) for k in now)


def test_each_client_starts_from_the_global_state(tiny_backbone, monkeypatch):
    model, clients = setup(tiny_backbone)
    init = trainable_state(model)
    starts = []
    original = load_trainable_state

    def spy(m, state):
        starts.append({k: v.clone() for k, v in state.items()})
        return original(m, state)

    monkeypatch.setattr("borderless.federated.simulation.load_trainable_state", spy)
    list(run_rounds(model, clients, init, TrainConfig(local_steps=1), FederatedConfig(rounds=1),
                    model.head_parameter_names(), seed=0))
    assert len(starts) >= 3
    for s in starts[:3]:
        assert all(torch.equal(s[k], init[k]) for k in init)


def test_client_sampling(tiny_backbone):
    model, clients = setup(tiny_backbone)
    results = list(run_rounds(model, clients, trainable_state(model), TrainConfig(local_steps=1),
                              FederatedConfig(rounds=3, clients_per_round=2), model.head_parameter_names(), seed=0))
    assert all(len(r.updates) == 2 for r in results)
