"""A token task over Flower's message path (issue 46): NER on a user's own CoNLL folder, one node per
language, gives `borderless run`'s own numbers: the per-word federated probe chosen on dev entity F1,
stopping on the nodes' dev entity F1, federated + personal on the nodes, every test metric and the
most-frequent-tag baseline; the report leads with entity F1."""

from __future__ import annotations

import json

import pytest

from borderless.runner import run
from flower_helpers import direct_serve
from test_token_task import token_config

RECIPE = ('train.stop="dev"', "train.patience=2", "train.probe_candidate=true",
          'run.paradigms=["federated", "federated_personal"]', "federated.rounds=3", "federated.eval_every=1",
          "federated.personal_steps=4", "federated.personal_eval_every=2", "train.lr=0.1", "train.head_lr=0.1",
          "probe.weight_decays=[0.001, 0.1]", "probe.federated_rounds=3", "deploy.wait_for_nodes_s=60")


# the prompt starts from the LP-FT head fitted on the untrained prompt's per-word features, on each node
# (on this easy synthetic task that head is already near perfect, so dev keeps it); LoRA from a random head
@pytest.mark.parametrize("method,head", [("prompt", "probe"), ("lora", "random")])
def test_ner_over_flower_gives_the_in_process_numbers(tmp_path, method, head):
    cfg = token_config(tmp_path, method, overrides=(*RECIPE, f'method.head_init="{head}"'))
    ref = run(cfg, tmp_path / "in_process", progress=False).results
    out = tmp_path / "flower"
    dep = direct_serve(cfg, tmp_path / "conll", out, keep_messages=False)
    assert dep["metric"] == ref["metric"] == "f1" and dep["data"]["task"] == "token"
    for name in ("federated", "federated_personal"):
        for key in ("test_accuracy", "test_f1", "test_macro_f1", "dev_score", "weight_decay"):
            assert dep["probes"][name][key] == pytest.approx(ref["probes"][name][key], abs=1e-12), (name, key)
        d, r = dep["paradigms"][name], ref["paradigms"][name]
        for key in ("stopping", "chosen_on_dev", "below_probe", "worst_language"):
            assert d[key] == r[key], (name, key)
        for key in ("test_f1", "tuned_test_f1", "test_precision", "test_accuracy", "dev_score"):
            assert d[key] == pytest.approx(r[key], abs=1e-12), (name, key)
        assert d["probe_mean_f1"] == pytest.approx(r["probe_mean_f1"], abs=1e-12)
    # the floor every node computed on its own: the most frequent tag per word type, every metric
    for lang, b in ref["majority_baseline"].items():
        assert dep["majority_baseline"][lang] == pytest.approx(b, abs=1e-12), lang
    assert dep["majority_class_accuracy"] == pytest.approx(ref["majority_class_accuracy"], abs=1e-12)
    if head == "random":  # it learned: a trained round was kept, and some node kept personal steps
        assert dep["paradigms"]["federated"]["stopping"]["all"]["best_round"] >= 1
        assert dep["paradigms"]["federated"]["tuned_mean_f1"] > 0.3
        assert any(v.get("personal_steps", 0) > 0 for v in dep["paradigms"]["federated_personal"]["stopping"].values())
    else:
        assert dep["head_init"]["fitted_on"] == "the untrained prompt's features"
        assert dep["head_init"]["dev_score"] == ref["head_init"]["dev_score"]["federated"]
    report = (out / "report.md").read_text()
    assert "Test entity F1 (seqeval, strict IOB2) (%) per language" in report
    assert "most frequent tag per word" in report and "Test token accuracy" in report
    # only tags' counts and scores crossed: the node query carries numbers, never words
    wire = [json.loads(l) for l in (out / "wire.jsonl").read_text().splitlines()]
    query = [r for r in wire if r["type"] == "query" and r["direction"] == "up"]
    assert query and all(rec["kind"] in ("config", "metrics") for r in query for rec in r["records"].values())
