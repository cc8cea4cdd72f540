import pytest
import torch

from borderless.config import FederatedConfig, TrainConfig
from borderless.federated.simulation import ClientUpdate, federate
from borderless.federated.validation import screen, update_problem

G = {"w": torch.zeros(2, 2), "b": torch.zeros(2)}


def ok(**kw):
    return {**{k: v.clone() for k, v in G.items()}, **kw}


@pytest.mark.parametrize("state,n,declared,max_norm,why", [
    ({"w": torch.zeros(2, 2)}, 5, None, 0, r"missing \['b'\]"),
    ({**G, "extra": torch.zeros(1)}, 5, None, 0, r"unexpected \['extra'\]"),
    ({**G, "w": torch.zeros(2, 3)}, 5, None, 0, r"w is \(2, 3\)"),
    ({**G, "w": torch.zeros(2, 2, dtype=torch.float64)}, 5, None, 0, "torch.float64"),
    ({**G, "b": torch.tensor([0.0, float("nan")])}, 5, None, 0, "1 non-finite"),
    ({**G, "w": torch.full((2, 2), float("inf"))}, 5, None, 0, "4 non-finite"),
    (G, 0, None, 0, "positive integer"),
    (G, True, None, 0, "positive integer"),
    (G, 2.5, None, 0, "positive integer"),
    (G, 11, 10, 0, "above the 10 it declared"),
    ({**G, "b": torch.tensor([3.0, 4.0])}, 5, None, 4.9, "update norm 5 is above"),
])
def test_each_kind_of_bad_update_is_named(state, n, declared, max_norm, why):
    problem = update_problem(state, n, G, declared, max_norm)
    assert problem is not None
    import re
    assert re.search(why, problem), problem


def test_a_good_update_passes():
    assert update_problem(ok(b=torch.tensor([3.0, 4.0])), 10, G, 10, 5.0) is None


def test_screen_keeps_the_good_ones_in_order():
    ups = [ClientUpdate("a", ok(), 3, {}), ClientUpdate("b", ok(b=torch.tensor([float("nan"), 0.0])), 3, {}),
           ClientUpdate("c", ok(), 3, {})]
    accepted, rejected = screen(ups, G, 4, {})
    assert [u.client_id for u in accepted] == ["a", "c"]
    assert [(r.client_id, r.round) for r in rejected] == [("b", 4)] and "non-finite" in rejected[0].reason


def _federation(bad_client: str | None, how, rounds=2, **fed):
    """Three clients that return fixed states; ``bad_client`` returns ``how(state)``."""
    targets = {"a": 1.0, "b": 2.0, "c": 3.0}

    def fit_many(rnd, requests):
        out = []
        for r in requests:
            state = {"w": torch.full((2,), targets[r.client_id])}
            n = 10
            if r.client_id == bad_client:
                state, n = how(state, n)
            out.append(ClientUpdate(r.client_id, state, n, {}))
        return out

    cfg = FederatedConfig(rounds=rounds, **fed)
    return list(federate(["a", "b", "c"], fit_many, {"w": torch.zeros(2)}, TrainConfig(), cfg, 0))


def test_federate_leaves_a_bad_update_out_and_goes_on():
    results = _federation("b", lambda s, n: ({"w": torch.tensor([float("nan"), 1.0])}, n))
    for r in results:
        assert torch.equal(r.state["w"], torch.full((2,), 2.0))  # mean of a and c only
        assert [x.client_id for x in r.updates] == ["a", "c"] and [x.client_id for x in r.rejected] == ["b"]


def test_a_client_may_not_claim_more_examples_than_it_declared():
    calls = {"n": 0}

    def grow(state, n):
        calls["n"] += 1
        return state, n * calls["n"]  # 10 in round 1 (declared), 20 in round 2

    results = _federation("b", grow)
    assert results[0].rejected == [] and "above the 10" in results[1].rejected[0].reason


def test_a_round_with_every_update_refused_keeps_the_global_state():
    def fit_many(rnd, requests):
        return [ClientUpdate(r.client_id, {"w": torch.full((2,), float("inf"))}, 1, {}) for r in requests]

    out = list(federate(["a", "b"], fit_many, {"w": torch.ones(2)}, TrainConfig(), FederatedConfig(rounds=1), 0))
    assert torch.equal(out[0].state["w"], torch.ones(2)) and len(out[0].rejected) == 2


def test_max_update_norm_and_robust_rules_through_the_round_loop():
    far = _federation("c", lambda s, n: ({"w": torch.full((2,), 1000.0)}, n), rounds=1, max_update_norm=10.0)
    assert [x.client_id for x in far[0].rejected] == ["c"]
    wild = lambda s, n: ({"w": torch.full((2,), -1e6)}, n)  # noqa: E731
    for rule in ("median", "krum", "trimmed_mean"):  # trim_beta 0.34 of 3: only the middle value stays
        out = _federation("c", wild, rounds=1, aggregator=rule, trim_beta=0.34)
        assert torch.equal(out[0].state["w"], torch.full((2,), 1.0)), rule
    clipped = _federation("c", wild, rounds=1, aggregator="clipped_fedavg", clip_norm=1.0)
    assert clipped[0].state["w"].abs().max() < 2.0
