"""federated.local_head (FedPer): the prompt or adapter is averaged, each client's head stays with it.
Each client starts from its own probe, trains, and keeps its own head; the server averages the rest;
only the shared part is counted as sent; the refusals name the key."""

import json
import math

import pytest
import torch

import borderless
from borderless.config import ConfigError, FederatedConfig, TrainConfig
from borderless.data.conll import read_conll
from borderless.federated.simulation import ClientUpdate, federate, keep_local
from borderless.flower.node import NodeConfigError, check_deployable
from borderless.runner import run
from tests.test_token_task import token_config

HEAD = frozenset({"head.weight"})


def test_keep_local_gives_every_client_the_global_body_and_its_own_head():
    state = {"prompt": torch.tensor([5.0]), "head.weight": torch.tensor([0.0])}
    before = {"a": {"prompt": torch.tensor([1.0]), "head.weight": torch.tensor([10.0])},
              "b": {"prompt": torch.tensor([1.0]), "head.weight": torch.tensor([20.0])}}
    update = ClientUpdate("a", {"prompt": torch.tensor([9.0]), "head.weight": torch.tensor([11.0])}, 3, {})
    after = keep_local(state, before, [update], HEAD)
    assert after["a"]["prompt"].item() == 5.0 and after["a"]["head.weight"].item() == 11.0  # trained this round
    assert after["b"]["prompt"].item() == 5.0 and after["b"]["head.weight"].item() == 20.0  # kept from before


def test_federate_averages_the_body_and_each_client_trains_from_its_own_head():
    """A fake client adds 1 to the body and its own offset to the head: under local_head the server
    averages only the body, and the next round asks each client to start from its own head."""
    offsets, asked = {"a": 1.0, "b": 3.0}, []

    def fit_many(rnd, requests):
        asked.append({r.client_id: r.state["head.weight"].item() for r in requests})
        return [ClientUpdate(r.client_id, {"prompt": r.state["prompt"] + 1,
                                           "head.weight": r.state["head.weight"] + offsets[r.client_id]}, 10, {})
                for r in requests]

    init = {"prompt": torch.tensor([0.0]), "head.weight": torch.tensor([0.0])}
    own = {"a": {**init, "head.weight": torch.tensor([100.0])}, "b": {**init, "head.weight": torch.tensor([200.0])}}
    rounds = list(federate(["a", "b"], fit_many, init, TrainConfig(), FederatedConfig(rounds=2, local_head=True), 0,
                           local_keys=HEAD, initial_personal=own))
    assert asked == [{"a": 100.0, "b": 200.0}, {"a": 101.0, "b": 203.0}]  # each from its own head
    last = rounds[-1]
    assert last.state["prompt"].item() == 2.0  # the body: averaged, the same for both
    assert {c: s["head.weight"].item() for c, s in last.personal.items()} == {"a": 102.0, "b": 206.0}
    assert all(s["prompt"].item() == 2.0 for s in last.personal.values())
    assert last.state["head.weight"].item() == pytest.approx((102.0 + 206.0) / 2)  # for a language outside


@pytest.mark.parametrize("override, words", [
    ('method.name="full"', "full fine-tuning"),
    ('federated.aggregator="distance"', "distance"),
    ('run.paradigms=["monolingual", "centralized"]', "federated paradigms only"),
])
def test_combinations_it_cannot_serve_are_refused_by_name(tmp_path, override, words):
    with pytest.raises(ConfigError, match="federated.local_head") as err:
        token_config(tmp_path, "lora", overrides=("federated.local_head=true", override))
    assert words in str(err.value)


def test_a_deployment_refuses_it_by_name(tmp_path):
    cfg = token_config(tmp_path, "lora", overrides=("federated.local_head=true",))
    with pytest.raises(NodeConfigError, match="local_head"):
        check_deployable(cfg)


def test_a_run_starts_each_client_from_its_own_probe_and_sends_no_head(tmp_path):
    """Two languages tag the same words the opposite way. LoRA starts as the identity, so round 0 of
    the federation scores exactly each language's own probe; the federated floor is that probe; the
    bytes a round leave the head out; the loaded model tags each language with its own head."""
    cfg = token_config(tmp_path, "lora", pos=True, overrides=("federated.local_head=true",))
    for f in (tmp_path / "conll" / "bbb").iterdir():  # bbb tags the same words the other way round
        f.write_text(f.read_text().replace("PROPN", "TMP").replace("VERB", "PROPN").replace("TMP", "VERB"))
    out = run(cfg, tmp_path / "out", progress=False)
    r = out.results
    rows = [json.loads(l) for l in (out.folder / "metrics.jsonl").read_text().splitlines()]
    round0 = {x["lang"]: x["score"] for x in rows if x["paradigm"] == "federated" and x.get("round") == 0
              and x.get("split") == "dev"}
    mono_dev = r["probes"]["monolingual"]["dev_score"]
    # one shared head cannot tag both languages (the same words, opposite tags); each client's own can
    assert min(r["paradigms"]["federated"]["test_accuracy"].values()) > 0.9
    assert r["probes"]["centralized"]["mean_accuracy"] < 0.8
    assert round0 == pytest.approx({l: mono_dev[l] for l in round0})
    assert r["probes"]["federated"]["mean_accuracy"] == r["probes"]["monolingual"]["mean_accuracy"]
    comm = r["communication"]
    sent = {x["bytes_up"] for x in rows if x["paradigm"] == "federated" and "bytes_up" in x}
    assert sent == {comm["bytes_per_client_per_round_up"]}
    total = sum(math.prod(shape) for shape in r["method"]["trainable_tensors"].values()) * 4  # float32
    assert comm["bytes_per_client_per_round_up"] == total - comm["head_bytes"] > 0
    assert "each client keeps its own head" in (out.folder / "report.md").read_text()
    # in a user's hands, each language is tagged with its own head, as the run scored it
    tagger = borderless.load(out.folder, "federated")
    try:
        for lang in ("aaa", "bbb"):
            gold = [list(zip(w, t)) for _, w, t in read_conll((tmp_path / "conll" / lang / "test.txt").read_text(), "t")]
            tagged = tagger.tag([[w for w, _ in s] for s in gold], language=lang)
            right = sum(g == p for s, t in zip(gold, tagged) for (_, g), (_, p) in zip(s, t))
            assert right / sum(map(len, gold)) == pytest.approx(r["paradigms"]["federated"]["test_accuracy"][lang])
    finally:
        tagger.close()
