import torch

from borderless.federated.aggregators.fedavg import fedavg
from borderless.federated.aggregators.fedavgm import fedavgm


def test_hand_computed_two_rounds():
    x = {"w": torch.tensor([1.0, 1.0])}
    replies = [({"w": torch.tensor([2.0, 3.0])}, 1), ({"w": torch.tensor([4.0, 1.0])}, 1)]
    # Δ = [3, 2] − [1, 1] = [2, 1];  m = Δ;  x = x + 0.5·m = [2, 1.5]
    x1, m = fedavgm(x, replies, None, server_lr=0.5, beta=0.9)
    assert torch.allclose(x1["w"], torch.tensor([2.0, 1.5]))
    # round 2, same replies: Δ = [3, 2] − [2, 1.5] = [1, 0.5];  m = 0.9·[2, 1] + [1, 0.5] = [2.8, 1.4]
    x2, m = fedavgm(x1, replies, m, server_lr=0.5, beta=0.9)
    assert torch.allclose(m["w"], torch.tensor([2.8, 1.4], dtype=torch.float64))
    assert torch.allclose(x2["w"], torch.tensor([3.4, 2.2]))
    assert x2["w"].dtype == torch.float32


def test_no_momentum_unit_lr_is_fedavg():
    x = {"w": torch.randn(3, 2)}
    replies = [({"w": torch.randn(3, 2)}, 5), ({"w": torch.randn(3, 2)}, 2)]
    out, _ = fedavgm(x, replies, None, server_lr=1.0, beta=0.0)
    assert torch.allclose(out["w"], fedavg(replies)["w"], atol=1e-6)
