import math

import torch

from borderless.federated.aggregators.fedadam import fedadam, fedyogi


def one_client(value):
    return [({"w": torch.tensor([value], dtype=torch.float64)}, 3)]


def test_fedadam_hand_computed():
    x = {"w": torch.tensor([0.0], dtype=torch.float64)}
    eta, b1, b2, tau = 0.1, 0.9, 0.99, 1e-3
    x1, s = fedadam(x, one_client(2.0), None, server_lr=eta, beta1=b1, beta2=b2, tau=tau)
    d = 2.0
    m = (1 - b1) * d
    v = b2 * tau**2 + (1 - b2) * d * d
    assert math.isclose(s.m["w"].item(), m) and math.isclose(s.v["w"].item(), v)
    assert math.isclose(x1["w"].item(), eta * m / (math.sqrt(v) + tau))
    # second round keeps and uses the explicit state
    x2, s2 = fedadam(x1, one_client(2.0), s, server_lr=eta, beta1=b1, beta2=b2, tau=tau)
    d2 = 2.0 - x1["w"].item()
    m2 = b1 * m + (1 - b1) * d2
    v2 = b2 * v + (1 - b2) * d2 * d2
    assert math.isclose(x2["w"].item(), x1["w"].item() + eta * m2 / (math.sqrt(v2) + tau), rel_tol=1e-12)


def test_fedyogi_differs_from_fedadam_in_v():
    x = {"w": torch.tensor([0.0], dtype=torch.float64)}
    b2, tau = 0.99, 1e-3
    _, s = fedyogi(x, one_client(2.0), None, server_lr=0.1, beta2=b2, tau=tau)
    # v0 = τ² < Δ² = 4, so sign(v0 − Δ²) = −1 and v = τ² + (1 − β2)·4
    assert math.isclose(s.v["w"].item(), tau**2 + (1 - b2) * 4.0)
    _, s_adam = fedadam(x, one_client(2.0), None, server_lr=0.1, beta2=b2, tau=tau)
    assert s.v["w"].item() != s_adam.v["w"].item()


def test_moves_towards_client_average():
    x = {"w": torch.zeros(4)}
    target = torch.tensor([1.0, -1.0, 2.0, 0.5])
    for rule in (fedadam, fedyogi):
        cur, state = x, None
        for _ in range(30):
            cur, state = rule(cur, [({"w": target}, 1)], state, server_lr=0.1)
        assert torch.sign(cur["w"]).tolist() == torch.sign(target).tolist()
        assert cur["w"].dtype == torch.float32
