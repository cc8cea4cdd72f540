import math

import pytest
import torch

from borderless.federated.aggregators.distance_kernel import distance_kernel, kernel_weights, personalised_state
from borderless.federated.aggregators.fedavg import AggregationError, fedavg

D = {("a", "b"): 0.2, ("b", "a"): 0.2, ("a", "c"): 0.6, ("c", "a"): 0.6, ("b", "c"): 0.5, ("c", "b"): 0.5,
     ("z", "a"): 0.1, ("z", "b"): 0.3, ("z", "c"): 0.9}
UPDATES = [("a", {"w": torch.tensor([1.0, 0.0])}, 10), ("b", {"w": torch.tensor([0.0, 1.0])}, 30),
           ("c", {"w": torch.tensor([4.0, 4.0])}, 20)]


def test_hand_computed_personal_state():
    out = distance_kernel(UPDATES, D, temperature=0.5)
    # client a: weights 10·e^0, 30·e^-0.4, 20·e^-1.2
    w = [10.0, 30 * math.exp(-0.4), 20 * math.exp(-1.2)]
    expect = (w[0] * torch.tensor([1.0, 0.0], dtype=torch.float64) + w[1] * torch.tensor([0.0, 1.0], dtype=torch.float64)
              + w[2] * torch.tensor([4.0, 4.0], dtype=torch.float64)) / sum(w)
    assert torch.allclose(out["a"]["w"].double(), expect, atol=1e-6)
    assert set(out) == {"a", "b", "c"}
    assert not torch.allclose(out["a"]["w"], out["c"]["w"])  # personalised: each client its own


def test_infinite_temperature_is_fedavg_for_every_client_and_zero_shot():
    plain = fedavg([(s, n) for _, s, n in UPDATES])
    for cid, state in distance_kernel(UPDATES, D, math.inf).items():
        assert torch.equal(state["w"], plain["w"]), cid
    assert torch.equal(personalised_state("z", UPDATES, D, math.inf)["w"], plain["w"])
    # and a large finite temperature converges to it
    near = distance_kernel(UPDATES, D, 1e6)
    assert torch.allclose(near["a"]["w"], plain["w"], atol=1e-5)


def test_small_temperature_keeps_own_update_and_zero_shot_takes_nearest():
    out = distance_kernel(UPDATES, D, 1e-3)
    for cid, s, _ in UPDATES:
        assert torch.allclose(out[cid]["w"], s["w"], atol=1e-6)
    assert torch.allclose(personalised_state("z", UPDATES, D, 1e-3)["w"], torch.tensor([1.0, 0.0]), atol=1e-6)


def test_missing_distance_and_bad_temperature_are_refused():
    with pytest.raises(AggregationError, match="no language distance between a and b"):
        distance_kernel(UPDATES, {**D, ("a", "b"): float("nan")}, 0.5)
    with pytest.raises(AggregationError, match="temperature"):
        kernel_weights("a", ["a"], [1], D, 0.0)
