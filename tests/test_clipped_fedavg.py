import pytest
import torch

from borderless.federated.aggregators.clipped_fedavg import clip_update, clipped_fedavg, update_norm
from borderless.federated.aggregators.fedavg import AggregationError


def s(*w):
    return {"w": torch.tensor(w, dtype=torch.float64)}


def test_each_update_is_scaled_to_the_clip_norm_then_averaged_by_examples():
    g = s(0.0, 0.0)
    assert update_norm(s(3.0, 4.0), g) == 5.0
    assert clip_update(s(3.0, 4.0), g, 1.0)["w"].tolist() == pytest.approx([0.6, 0.8])
    assert clip_update(s(0.0, 1.0), g, 1.0)["w"].tolist() == [0.0, 1.0]  # inside the ball: untouched
    out = clipped_fedavg(g, [(s(3.0, 4.0), 1), (s(0.0, 1.0), 3)], 1.0)
    assert out["w"].tolist() == pytest.approx([0.15, 0.95])  # (1·[0.6, 0.8] + 3·[0, 1]) / 4


def test_clipping_is_around_the_global_state_not_zero():
    g = s(10.0, 10.0)
    out = clipped_fedavg(g, [(s(13.0, 14.0), 1)], 1.0)
    assert out["w"].tolist() == pytest.approx([10.6, 10.8])


def test_clip_must_be_positive():
    with pytest.raises(AggregationError, match="clip"):
        clipped_fedavg(s(0.0), [(s(1.0), 1)], 0.0)
