import copy
import json

import pytest

from borderless import probe_selection
from borderless.config import load_config
from borderless.runner import run
from conftest import script_module, tiny_config_text


def _probe(dev, test, zs=None):
    return {"dev_accuracy": dev, "test_accuracy": test, "mean_accuracy": sum(test.values()) / len(test),
            "zero_shot_accuracy": zs or {}}


def _entry(test, dev_score, zs=None):
    return {"test_accuracy": test, "mean_accuracy": sum(test.values()) / len(test), "dev_score": dev_score,
            "zero_shot_accuracy": zs or {}, "worst_language": "", "worst_accuracy": 0.0, "below_probe": False}


def hand_summary():
    return {
        "languages": ["a", "b"], "zero_shot": ["z"], "zero_shot_nearest": {"z": "b"},
        "probes": {
            "monolingual": _probe({"a": 0.50, "b": 0.80, "z": 0.1}, {"a": 0.55, "b": 0.70}, {"z": 0.33}),
            "centralized": _probe({"a": 0.60, "b": 0.60, "z": 0.1}, {"a": 0.90, "b": 0.90}, {"z": 0.9}),
            "federated": _probe({"a": 0.70, "b": 0.70, "z": 0.1}, {"a": 0.40, "b": 0.50}, {"z": 0.44}),
            "federated_personal": _probe({"a": 0.60, "b": 0.60}, {"a": 0.10, "b": 0.20}),
        },
        "paradigms": {
            # a: tuned dev 0.60 > probe 0.50 → tuned; b: tuned dev 0.70 < probe 0.80 → probe (z follows b)
            "monolingual": _entry({"a": 0.65, "b": 0.60}, {"a": 0.60, "b": 0.70}, {"z": 0.22}),
            # probe mean dev 0.60 == tuned 0.60: a tie keeps the tuned state
            "centralized": _entry({"a": 0.30, "b": 0.30}, {"pooled": 0.60}, {"z": 0.3}),
            # probe mean dev 0.70 > 0.65 → probe for every language and the zero-shot one
            "federated": _entry({"a": 0.80, "b": 0.80}, {"all": 0.65}, {"z": 0.8}),
            # a: probe wins (0.60 > 0.50), b: tuned (0.90); zero-shot: the federation's final model
            "federated_personal": _entry({"a": 0.70, "b": 0.70}, {"a": 0.50, "b": 0.90}, {"z": 0.8}),
        },
    }


def test_probe_competes_on_the_paradigms_own_dev_criterion():
    s = probe_selection.select(hand_summary())
    mono, cen, fed, pers = (s["paradigms"][p] for p in ("monolingual", "centralized", "federated", "federated_personal"))
    assert mono["chosen_on_dev"] == {"a": "tuned", "b": "probe"}
    assert mono["test_accuracy"] == {"a": 0.65, "b": 0.70} and mono["zero_shot_accuracy"] == {"z": 0.33}
    assert mono["mean_accuracy"] == pytest.approx(0.675) and mono["tuned_mean_accuracy"] == pytest.approx(0.625)
    assert mono["tuned_test_accuracy"] == {"a": 0.65, "b": 0.60}
    assert cen["chosen_on_dev"] == {"pooled": "tuned"} and cen["test_accuracy"] == {"a": 0.30, "b": 0.30}
    assert cen["below_probe"]  # kept on dev, still below its probe on test: flagged, not hidden
    assert fed["chosen_on_dev"] == {"all": "probe"}
    assert fed["test_accuracy"] == {"a": 0.40, "b": 0.50} and fed["zero_shot_accuracy"] == {"z": 0.44}
    assert (fed["worst_language"], fed["worst_accuracy"]) == ("a", 0.40) and not fed["below_probe"]
    assert pers["chosen_on_dev"] == {"a": "probe", "b": "tuned"}
    assert pers["test_accuracy"] == {"a": 0.10, "b": 0.70} and pers["zero_shot_accuracy"] == {"z": 0.44}
    assert probe_selection.describe(mono) == "tuned for 1 of 2, probe for b"
    assert probe_selection.describe(fed) == "the frozen probe" and probe_selection.describe(cen) == "the tuned state"


def test_selection_needs_a_dev_criterion_and_runs_once():
    s = hand_summary()
    for e in s["paradigms"].values():
        e.pop("dev_score")  # train.stop = "budget": nothing was chosen on dev
    before = copy.deepcopy(s)
    assert probe_selection.select(s) == before
    once = probe_selection.select(hand_summary())
    assert probe_selection.select(copy.deepcopy(once)) == once


def test_a_run_selects_and_old_runs_reselect_to_the_same_result(tmp_path, sib200_dir, tiny_backbone):
    p = tmp_path / "c.toml"
    p.write_text(tiny_config_text(sib200_dir, ("eng_Latn", "hau_Latn", "amh_Ethi"),
                                  "personal_steps = 2\npersonal_eval_every = 1"))
    out = run(load_config(p, ["federated.rounds=3", "federated.eval_every=1", "train.probe_candidate=true"]),
              tmp_path / "r", progress=False, backbone=tiny_backbone)
    s = out.results
    for name, e in s["paradigms"].items():
        assert e["chosen_on_dev"], name
        probe = s["probes"][name]
        for who, kept in e["chosen_on_dev"].items():
            langs = s["languages"] if who in ("pooled", "all") else [who]
            for l in langs:
                want = probe["test_accuracy"][l] if kept == "probe" else e["tuned_test_accuracy"][l]
                assert e["test_accuracy"][l] == want, (name, l)
    assert "kept on dev" in (out.folder / "report.md").read_text()

    # an old run (written before the probe candidate) has only its stopping facts and metrics.jsonl:
    # the script finds the same dev criteria there, so it makes the same choices
    rows = [json.loads(x) for x in (out.folder / "metrics.jsonl").read_text().splitlines() if x.strip()]
    old = {"languages": s["languages"], "paradigms": {n: {"stopping": e["stopping"]} for n, e in s["paradigms"].items()}}
    assert script_module("reselect_with_probe").dev_scores(old, rows) == {n: e["dev_score"] for n, e in s["paradigms"].items()}


@pytest.mark.slow
def test_budget_runs_report_the_tuned_state(tmp_path, sib200_dir, tiny_backbone):
    p = tmp_path / "c.toml"
    p.write_text(tiny_config_text(sib200_dir))
    out = run(load_config(p, ['train.stop="budget"', "train.probe_candidate=true"]), tmp_path / "b", progress=False,
              backbone=tiny_backbone)
    assert not any("chosen_on_dev" in e for e in out.results["paradigms"].values())
    off = run(load_config(p, []), tmp_path / "o", progress=False, backbone=tiny_backbone)  # off by default
    assert not any("chosen_on_dev" in e for e in off.results["paradigms"].values())


def test_an_untrained_start_counts_as_the_probe_whatever_dev_says():
    s = hand_summary()
    p = s["paradigms"]
    # centralized kept round 0 although it tied the probe on dev: nothing learned → the probe
    p["centralized"]["stopping"] = {"pooled": {"trained_rounds": 6, "best_round": 0}}
    # federated trained (round 3) but the probe wins on dev anyway: the usual rule, not 'untrained'
    p["federated"]["stopping"] = {"all": {"trained_rounds": 6, "best_round": 3}}
    # monolingual a beat its probe on dev but kept round 0; b trained and lost on dev as before
    p["monolingual"]["stopping"] = {"a": {"trained_rounds": 6, "best_round": 0}, "b": {"best_round": 2}}
    # personal: a took no step from a trained global → tuned (the usual rule picks the probe on dev
    # anyway for a); b took no step from an untrained global → probe although dev preferred it tuned
    s2 = hand_summary()
    s2["paradigms"]["federated_personal"]["stopping"] = {
        "all": {"trained_rounds": 6, "best_round": 0}, "a": {"personal_steps": 4}, "b": {"personal_steps": 0}}
    p["federated_personal"]["stopping"] = {
        "all": {"trained_rounds": 6, "best_round": 2}, "a": {"personal_steps": 0}, "b": {"personal_steps": 0}}
    probe_selection.select(s)
    probe_selection.select(s2)
    assert p["centralized"]["chosen_on_dev"] == {"pooled": "probe"} and p["centralized"]["untrained"] == ["pooled"]
    assert p["centralized"]["test_accuracy"] == {"a": 0.90, "b": 0.90}
    assert probe_selection.describe(p["centralized"]) == "the frozen probe (dev had kept the untrained start)"
    assert p["federated"]["chosen_on_dev"] == {"all": "probe"} and p["federated"]["untrained"] == []
    assert p["monolingual"]["chosen_on_dev"] == {"a": "probe", "b": "probe"}
    assert p["monolingual"]["untrained"] == ["a"] and p["monolingual"]["test_accuracy"] == {"a": 0.55, "b": 0.70}
    assert probe_selection.describe(p["monolingual"]).endswith("; 1 had kept the untrained start")
    assert p["federated_personal"]["untrained"] == []  # the global model had trained: not untrained
    assert p["federated_personal"]["chosen_on_dev"] == {"a": "probe", "b": "tuned"}
    pers2 = s2["paradigms"]["federated_personal"]
    assert pers2["untrained"] == ["b"] and pers2["chosen_on_dev"] == {"a": "probe", "b": "probe"}
    assert pers2["test_accuracy"] == {"a": 0.10, "b": 0.20}


def test_reselect_again_undoes_a_selection_and_applies_todays_rule():
    unselect = script_module("reselect_with_probe").unselect
    once = probe_selection.select(hand_summary())
    again = copy.deepcopy(once)
    unselect(again)
    assert not any("chosen_on_dev" in e or "tuned_test_accuracy" in e for e in again["paradigms"].values())
    assert again["paradigms"]["federated"]["test_accuracy"] == {"a": 0.80, "b": 0.80}  # the tuned numbers back
    assert probe_selection.select(again) == once  # the same rule gives the same choices
    # a run selected before the untrained rule: centralized had kept round 0 and the tuned state
    before = copy.deepcopy(once)
    before["paradigms"]["centralized"]["stopping"] = {"pooled": {"best_round": 0}}
    assert before["paradigms"]["centralized"]["chosen_on_dev"] == {"pooled": "tuned"}
    unselect(before)
    probe_selection.select(before)
    assert before["paradigms"]["centralized"]["chosen_on_dev"] == {"pooled": "probe"}
    assert before["paradigms"]["centralized"]["mean_accuracy"] == pytest.approx(0.90)
