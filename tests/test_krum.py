import pytest
import torch

from borderless.federated.aggregators.fedavg import AggregationError
from borderless.federated.aggregators.krum import krum, krum_scores


def s(v):
    return {"w": torch.tensor([v], dtype=torch.float64), "b": torch.zeros(2)}


REPLIES = [(s(0.0), 1), (s(1.0), 1), (s(2.0), 1), (s(100.0), 1)]


def test_scores_sum_the_squared_distances_to_the_nearest_n_minus_f_minus_2():
    # f = 0: two neighbours each. 0: 1 + 4; 1: 1 + 1; 2: 1 + 4; 100: 98² + 99²
    assert krum_scores(REPLIES, 0) == [5.0, 2.0, 5.0, 98.0 ** 2 + 99.0 ** 2]
    # f = 1: one neighbour each
    assert krum_scores(REPLIES, 1) == [1.0, 1.0, 1.0, 98.0 ** 2]


def test_krum_picks_the_lowest_score_and_multi_krum_averages_the_m_best():
    assert krum(REPLIES, f=0)["w"].item() == 1.0
    assert krum(REPLIES, f=1)["w"].item() == 0.0  # a three-way tie goes to the earliest client
    assert krum(REPLIES, f=1, m=3)["w"].item() == 1.0  # mean of 0, 1, 2: the outlier is never chosen
    assert torch.equal(krum(REPLIES, f=0)["b"], torch.zeros(2))


def test_bad_parameters_are_refused():
    with pytest.raises(AggregationError, match="krum"):
        krum(REPLIES, f=-1)
