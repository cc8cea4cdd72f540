"""The whole recipe over Flower's message path (issue 43): the federated probe (floor and LP-FT head),
stopping on the nodes' dev accuracies, federated + personal on the nodes, and the probe as a dev
candidate give `borderless run`'s own numbers for the same config and seed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from borderless.kept_states import SHARED_WHO, relative_path
from borderless.runner import run
from flower_helpers import LANGS, direct_serve, flower_config

RECIPE = ('method.head_init="probe"', 'train.stop="dev"', "train.patience=2", "train.probe_candidate=true",
          'run.paradigms=["federated", "federated_personal"]', "federated.rounds=4", "federated.eval_every=1",
          "federated.personal_steps=4", "federated.personal_eval_every=2", "train.lr=0.1", "train.head_lr=0.1")


@pytest.fixture
def data3(sib200_dir: Path) -> Path:
    return sib200_dir


def _both(data: Path, tmp_path: Path, *extra: str) -> tuple[dict, dict, Path]:
    cfg = flower_config(data, *RECIPE, *extra)
    ref = run(cfg, tmp_path / "in_process", progress=False).results
    out = tmp_path / "flower"
    return ref, direct_serve(cfg, data, out, keep_messages=False), out


@pytest.mark.parametrize("method", ["prompt", "lora"])
def test_deployment_trains_the_recipe_with_the_in_process_numbers(data3, tmp_path, method):
    extra = () if method == "prompt" else ('method.name="lora"',)
    ref, dep, out = _both(data3, tmp_path, *extra)
    # the probes: floor (frozen features), its personalised form, and the LP-FT head
    for name in ("federated", "federated_personal"):
        for key in ("test_accuracy", "dev_score", "weight_decay"):
            assert dep["probes"][name][key] == ref["probes"][name][key], (name, key)
    if method == "prompt":  # fitted on the untrained prompt's features, on each node
        assert dep["head_init"]["fitted_on"] == "the untrained prompt's features"
        assert dep["head_init"]["dev_score"] == ref["head_init"]["dev_score"]["federated"]
    # the paradigms: stopping, dev selection with the probe as candidate, test scores
    for name in ("federated", "federated_personal"):
        d, r = dep["paradigms"][name], ref["paradigms"][name]
        for key in ("stopping", "chosen_on_dev", "untrained", "below_probe"):
            assert d[key] == r[key], (name, key)
        assert d["test_accuracy"] == pytest.approx(r["test_accuracy"], abs=1e-12), name
        assert d["tuned_test_accuracy"] == pytest.approx(r["tuned_test_accuracy"], abs=1e-12), name
        assert d["dev_score"] == pytest.approx(r["dev_score"], abs=1e-12), name
    assert dep["majority_class_accuracy"] == {l: ref["majority_class_accuracy"][l] for l in LANGS}
    # the recipe did something on this seed: a trained round was kept, stopping ended the federation
    # before its budget, and some node kept personal steps
    stop = dep["paradigms"]["federated"]["stopping"]
    assert stop["all"]["best_round"] >= 1
    if method == "prompt":  # LoRA kept improving for all 4 rounds on this seed
        assert stop["all"]["best_round"] < stop["all"]["trained_rounds"] < 4
    assert any(v.get("personal_steps", 0) > 0 for v in dep["paradigms"]["federated_personal"]["stopping"].values())
    final = load_file(out / "final_state.safetensors")  # the kept tuned state, as `borderless run` keeps it
    kept = load_file(tmp_path / "in_process" / relative_path("federated", SHARED_WHO))
    assert set(final) == set(kept)
    for k in final:
        assert torch.allclose(final[k], kept[k], atol=1e-6), k
    # personal states stay on the nodes: the messages back carried scores only
    wire = [json.loads(l) for l in (out / "wire.jsonl").read_text().splitlines()]
    personal_up = [r for r in wire if r["type"] == "train.personal" and r["direction"] == "up"]
    assert len(personal_up) == len(LANGS)
    assert all(rec["kind"] == "metrics" for r in personal_up for rec in r["records"].values())
    assert "monolingual and centralized have no deployment form" in (out / "report.md").read_text().lower()


def test_stopping_on_dev_survives_a_resume(data3, tmp_path):
    """A checkpoint taken mid-federation holds the stopper: the resumed run ends where an unbroken one does."""
    from borderless.checkpoint import NAME
    from borderless.flower import server_app

    cfg = flower_config(data3, *RECIPE, 'run.paradigms=["federated"]')
    whole = direct_serve(cfg, data3, tmp_path / "whole", keep_messages=False)
    calls = {"n": 0}
    real = server_app.evaluate_all

    def failing(nodes, state_for, split, c):  # the third dev evaluation fails (after round 2)
        calls["n"] += 1
        if split == "dev" and calls["n"] == 3:
            raise server_app.DeploymentError("a node went away")
        return real(nodes, state_for, split, c)

    server_app.evaluate_all = failing
    try:
        with pytest.raises(server_app.DeploymentError):
            direct_serve(cfg, data3, tmp_path / "broken", keep_messages=False)
    finally:
        server_app.evaluate_all = real
    saved = torch.load(tmp_path / "broken" / NAME, weights_only=False)
    assert saved["current"]["record"]["stopper"]["best_acc"] >= 0  # the stopper is in the checkpoint
    from flower_helpers import run_config
    from borderless.flower import client_app
    from borderless.flower.direct_grid import DirectGrid

    grid = DirectGrid(client_app.app, {100 + i: {"language": l, "data-path": str(data3)}
                                       for i, l in enumerate(cfg.data.languages)}, run_config(cfg))
    resumed = server_app.serve(grid, cfg, tmp_path / "broken", say=lambda m: None, resume=True)
    assert resumed["paradigms"]["federated"]["stopping"] == whole["paradigms"]["federated"]["stopping"]
    assert resumed["paradigms"]["federated"]["test_accuracy"] == whole["paradigms"]["federated"]["test_accuracy"]


@pytest.mark.real
def test_deployment_equals_borderless_run_on_the_real_backbone(tmp_path, e5_backbone):
    """multilingual-e5-small and real SIB-200, 3 languages with small caps: the Flower message path
    (every node its own setup, as on its machine) gives `borderless run`'s federated and federated +
    personal accuracies, probes and stopping."""
    from conftest import REAL_SIB200

    if not REAL_SIB200.exists():
        pytest.skip("real SIB-200 not beside the repo")
    cfg = flower_config(REAL_SIB200, *RECIPE, "backbone.name=e5-small", "method.num_virtual_tokens=4",
                        "data.max_train_per_language=40", "data.max_dev_per_language=24",
                        "data.max_test_per_language=32", "train.batch_size=8", "train.lr=0.03", "train.head_lr=0.003",
                        "federated.rounds=3", "probe.weight_decays=[0.001, 0.01, 0.1]")
    ref = run(cfg, tmp_path / "in_process", progress=False, backbone=e5_backbone).results
    dep = direct_serve(cfg, REAL_SIB200, tmp_path / "flower", keep_messages=False)
    for name in ("federated", "federated_personal"):
        assert dep["probes"][name]["test_accuracy"] == ref["probes"][name]["test_accuracy"], name
        d, r = dep["paradigms"][name], ref["paradigms"][name]
        assert d["stopping"] == r["stopping"] and d["chosen_on_dev"] == r["chosen_on_dev"], name
        assert d["test_accuracy"] == pytest.approx(r["test_accuracy"], abs=1e-9), name
        assert d["tuned_test_accuracy"] == pytest.approx(r["tuned_test_accuracy"], abs=1e-9), name
        assert d["mean_accuracy"] > max(dep["majority_class_accuracy"].values()), name  # it learned


def test_select_metric_chooses_the_probe_and_the_rounds_over_flower_as_in_process(data3, tmp_path):
    """train.select_metric = "macro_f1": the nodes score the probe candidates and the global states in
    macro-F1, and the deployment keeps what `borderless run` keeps."""
    ref, dep, out = _both(data3, tmp_path, 'train.select_metric="macro_f1"')
    assert dep["metric"] == ref["metric"] == "macro_f1"
    for name in ("federated", "federated_personal"):
        for key in ("dev_score", "weight_decay", "test_macro_f1", "test_accuracy"):
            assert dep["probes"][name][key] == pytest.approx(ref["probes"][name][key], abs=1e-12), (name, key)
        d, r = dep["paradigms"][name], ref["paradigms"][name]
        for key in ("stopping", "chosen_on_dev", "below_probe", "worst_language"):
            assert d[key] == r[key], (name, key)
        for key in ("test_macro_f1", "test_accuracy", "probe_mean_macro_f1"):
            assert d[key] == pytest.approx(r[key], abs=1e-12), (name, key)
    assert "Test macro-F1 (%) per language" in (out / "report.md").read_text()
