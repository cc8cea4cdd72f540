import pytest
import torch

from borderless.federated.aggregators.fedavg import AggregationError
from borderless.federated.aggregators.trimmed_mean import trimmed_mean


def s(*w):
    return {"w": torch.tensor(w, dtype=torch.float64)}


def test_trims_floor_beta_n_from_each_end_per_coordinate():
    replies = [(s(1.0, 40.0), 1), (s(3.0, 30.0), 1), (s(10.0, 20.0), 1), (s(100.0, 10.0), 1)]
    out = trimmed_mean(replies, 0.25)  # k = 1: drop the smallest and the largest of each coordinate
    assert out["w"].tolist() == [6.5, 25.0]
    assert trimmed_mean(replies, 0.2)["w"].tolist() == [28.5, 25.0]  # k = floor(0.8) = 0: the plain mean


def test_five_clients_beta_point_two_drops_one_each_side():
    replies = [(s(v), 1) for v in (-1e6, 1.0, 2.0, 3.0, 1e6)]
    assert trimmed_mean(replies, 0.2)["w"].item() == 2.0


def test_beta_out_of_range_is_refused():
    with pytest.raises(AggregationError, match="beta"):
        trimmed_mean([(s(1.0), 1)], 0.5)
