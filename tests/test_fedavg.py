import pytest
import torch

from borderless.federated.aggregators.fedavg import AggregationError, fedavg


def test_weighted_by_examples_hand_computed():
    a = {"w": torch.tensor([1.0, 2.0]), "b": torch.tensor(0.0)}
    b = {"w": torch.tensor([4.0, 8.0]), "b": torch.tensor(3.0)}
    out = fedavg([(a, 1), (b, 2)])
    # (1*[1,2] + 2*[4,8]) / 3 = [3, 6];  (0 + 6) / 3 = 2
    assert torch.equal(out["w"], torch.tensor([3.0, 6.0]))
    assert torch.equal(out["b"], torch.tensor(2.0))


def test_single_client_is_identity_and_inputs_untouched():
    a = {"w": torch.randn(3, 4)}
    before = a["w"].clone()
    out = fedavg([(a, 5)])
    assert torch.allclose(out["w"], before) and torch.equal(a["w"], before)
    assert out["w"] is not a["w"]


def test_dtype_preserved_and_computed_in_float64():
    a = {"w": torch.tensor([1.0], dtype=torch.float16)}
    b = {"w": torch.tensor([2.0], dtype=torch.float16)}
    out = fedavg([(a, 1), (b, 1)])
    assert out["w"].dtype == torch.float16 and out["w"].item() == 1.5
    # float32 sums that would lose precision in float32 stay exact
    big = [({"w": torch.tensor([1e8 + i], dtype=torch.float64)}, 1) for i in range(3)]
    assert fedavg(big)["w"].item() == 1e8 + 1


def test_missing_or_extra_keys_rejected_with_client_named():
    a = {"w": torch.zeros(2), "b": torch.zeros(1)}
    with pytest.raises(AggregationError, match=r"client 1: .*missing \['b'\]"):
        fedavg([(a, 1), ({"w": torch.zeros(2)}, 1)])
    with pytest.raises(AggregationError, match=r"unexpected \['c'\]"):
        fedavg([(a, 1), ({**a, "c": torch.zeros(1)}, 1)])


def test_shape_dtype_count_and_empty_rejected():
    a = {"w": torch.zeros(2)}
    with pytest.raises(AggregationError, match="client 1: w"):
        fedavg([(a, 1), ({"w": torch.zeros(3)}, 1)])
    with pytest.raises(AggregationError, match="client 1: w"):
        fedavg([(a, 1), ({"w": torch.zeros(2, dtype=torch.float64)}, 1)])
    with pytest.raises(AggregationError, match="positive integer"):
        fedavg([(a, 0)])
    with pytest.raises(AggregationError, match="no client updates"):
        fedavg([])
