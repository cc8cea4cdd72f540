import torch

from borderless.config import FederatedConfig, MethodConfig, TrainConfig
from borderless.data.types import Example
from borderless.federated.aggregators.factory import make_aggregator
from borderless.federated.simulation import Client
from borderless.train import BatchStream, tokenize
from borderless.tuning.prompt import build_prompt_classifier
from borderless.tuning.state import trainable_state


def distance(a, b):
    return sum(((a[k] - b[k]) ** 2).sum().item() for k in a) ** 0.5


def test_proximal_term_keeps_the_client_near_the_global_state(tiny_backbone):
    model = build_prompt_classifier(tiny_backbone.model, tiny_backbone.hidden_size, 3, MethodConfig(num_virtual_tokens=2), 0)
    exs = [Example(f"x/{i}", "token " * (1 + i % 4), i % 3, "x") for i in range(24)]
    data = tokenize(exs, tiny_backbone.tokenizer, 32)
    start = trainable_state(model)
    cfg = TrainConfig(local_steps=6, lr=0.05)
    moved = {}
    for mu in (0.0, 50.0):
        client = Client("x", BatchStream(data, 4, seed=0))  # identical batches for both
        update = client.fit(model, start, cfg, model.head_parameter_names(), seed=0, prox_mu=mu)
        moved[mu] = distance(update.state, start)
    assert moved[50.0] < 0.5 * moved[0.0]


def test_factory_names():
    x = {"w": torch.zeros(2)}
    replies = [({"w": torch.ones(2)}, 1)]
    for name in ("fedavg", "fedprox", "fedavgm", "fedadam", "fedyogi"):
        out, _ = make_aggregator(FederatedConfig(aggregator=name))(x, replies, None)
        assert out["w"].shape == (2,) and (out["w"] > 0).all()
