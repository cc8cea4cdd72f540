"""Every tuning method through the one interface, on the tiny random backbone."""

import pytest
import torch

from borderless.backbones.resolve import load_backbone
from borderless.config import FederatedConfig, MethodConfig, TrainConfig
from borderless.data.types import Example
from borderless.federated.aggregators.fedavg import fedavg
from borderless.federated.simulation import Client, run_rounds
from borderless.train import BatchStream, make_optimizer, tokenize, train_steps
from borderless.tuning.factory import BUILDERS, build_classifier, describe
from borderless.tuning.state import load_trainable_state, trainable_state

METHODS = {
    "prompt": MethodConfig(name="prompt", num_virtual_tokens=3),
    "p_tuning_mlp": MethodConfig(name="p_tuning", num_virtual_tokens=3, encoder_type="MLP", encoder_hidden_size=16),
    "p_tuning_lstm": MethodConfig(name="p_tuning", num_virtual_tokens=3, encoder_type="LSTM", encoder_hidden_size=16),
    "prefix": MethodConfig(name="prefix", num_virtual_tokens=3),
    "lora": MethodConfig(name="lora", lora_r=2, lora_alpha=4),
    "full": MethodConfig(name="full"),
    "head": MethodConfig(name="head"),
}


@pytest.fixture
def backbone(tmp_path):
    return load_backbone("tiny-random", tmp_path)  # fresh per test: methods may touch it


def batches(backbone, n=16, lang="x"):
    exs = [Example(f"{lang}/{i}", f"{lang} words {i} " * (1 + i % 3), i % 3, lang) for i in range(n)]
    return tokenize(exs, backbone.tokenizer, 40)


def snapshot(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_every_method_is_covered():
    assert {c.name for c in METHODS.values()} == set(BUILDERS)


@pytest.mark.parametrize("key", list(METHODS))
def test_state_is_requires_grad_round_trips_and_backbone_is_restored(backbone, key):
    cfg = METHODS[key]
    before = snapshot(backbone.model)
    model = build_classifier(backbone.model, backbone.hidden_size, 3, cfg, seed=0)
    state = trainable_state(model)
    assert set(state) == {n for n, p in model.named_parameters() if p.requires_grad}
    assert {"head.weight", "head.bias"} <= set(state)
    backbone_names = {f"encoder.{n}" for n in before}
    if key == "full":
        assert backbone_names <= set(state)
    else:
        assert not (set(state) & backbone_names)  # no frozen backbone weight is sent
    assert describe(cfg)

    data = batches(backbone)
    opt = make_optimizer(model, TrainConfig(lr=0.05), model.head_parameter_names())
    train_steps(model, BatchStream(data, 4, 0), 3, opt)
    trained = trainable_state(model)
    assert any(not torch.equal(trained[k], state[k]) for k in state if not k.startswith("head")) or key == "head"
    if key != "full":  # the frozen backbone's own weights never change
        now = backbone.model.state_dict()
        assert all(torch.equal(now[k], v) for k, v in before.items() if k in now)

    # exact round trip: load into the model, outputs identical
    model.eval()
    ids, mask, _ = data.collate([0, 1, 2])
    out = model(ids, mask)
    load_trainable_state(model, state)
    load_trainable_state(model, trained)
    assert torch.equal(model(ids, mask), out)

    model.release()
    after = backbone.model.state_dict()
    assert set(after) == set(before), "release() must remove injected layers"
    assert all(torch.equal(after[k], v) for k, v in before.items())
    assert not any(p.requires_grad for p in backbone.model.parameters())


@pytest.mark.parametrize("encoder_type", ["MLP", "LSTM"])
def test_p_tuning_encoder_weights_are_federated_and_reload_exactly(backbone, encoder_type):
    cfg = METHODS["p_tuning_" + encoder_type.lower()]
    model = build_classifier(backbone.model, backbone.hidden_size, 3, cfg, seed=0)
    head_key = "mlp_head" if encoder_type == "MLP" else "lstm_head"
    encoder_keys = [k for k in trainable_state(model) if head_key in k]
    assert encoder_keys, "the prompt encoder's own weights must be in the trainable state"
    clients = [Client(l, BatchStream(batches(backbone, 12 + 4 * i, l), 4, i)) for i, l in enumerate("ab")]
    (r,) = run_rounds(model, clients, trainable_state(model), TrainConfig(local_steps=2, lr=0.05),
                      FederatedConfig(rounds=1), model.head_parameter_names(), seed=0)
    expected = fedavg([(u.state, u.num_examples) for u in r.updates])
    for k in encoder_keys:
        assert not torch.equal(r.updates[0].state[k], r.updates[1].state[k])  # clients differ
        assert torch.equal(r.state[k], expected[k])  # the weights themselves were averaged
    # a second model loaded from the global state computes exactly the same prompts and outputs
    model.release()
    other = build_classifier(backbone.model, backbone.hidden_size, 3, cfg, seed=99)
    load_trainable_state(other, r.state)
    load_trainable_state(model, r.state)
    model.eval(), other.eval()
    ids, mask, _ = clients[0].stream.data.collate([0, 1])
    assert torch.equal(model(ids, mask), other(ids, mask))
