"""The attack study's table (scripts/robustness_report.py) from hand-made cells."""

import json

from conftest import script_module

report = script_module("robustness_report")


def _cell(root, name, rule, attack, attacker, acc, rejected=0):
    folder = root / "cells" / name
    folder.mkdir(parents=True)
    fed = {"aggregator": rule, "attack": attack, "attack_clients": [attacker] if attacker else []}
    (folder / "results.json").write_text(json.dumps({
        "config": {"federated": fed},
        "majority_class_accuracy": {lang: 0.25 for lang in acc},
        "probes": {"federated": {"mean_accuracy": 0.6}},
        "paradigms": {"federated": {"test_accuracy": acc, "rejected_updates": [{}] * rejected}}}))


def test_table_averages_attackers_and_keeps_the_honest_worst(tmp_path):
    _cell(tmp_path, "none-fedavg", "fedavg", "none", "", {"a": 0.8, "b": 0.6, "c": 0.7})
    _cell(tmp_path, "sign_flip-a-fedavg", "fedavg", "sign_flip", "a", {"a": 0.1, "b": 0.5, "c": 0.3})
    _cell(tmp_path, "sign_flip-b-fedavg", "fedavg", "sign_flip", "b", {"a": 0.5, "b": 0.2, "c": 0.4})
    _cell(tmp_path, "nan-a-median", "median", "nan", "a", {"a": 0.7, "b": 0.6, "c": 0.5}, rejected=8)
    cells = report.read_cells(tmp_path)
    out, attacks, rules = report.table(cells)
    assert attacks == ["none", "sign_flip", "nan"] and rules == ["fedavg", "median"]
    mean, worst, attackers, rejected = out[("sign_flip", "fedavg")]
    assert abs(mean - (0.3 + 1.1 / 3) / 2) < 1e-9  # mean over all languages, averaged over the two attackers
    assert abs(worst - (0.3 + 0.4) / 2) < 1e-9  # the worst honest language (the attacker left out), averaged
    assert attackers == ["a", "b"] and out[("nan", "median")][3] == 8
    report.main(tmp_path)
    text = (tmp_path / "README.md").read_text()
    assert "| sign_flip | 33.3 / 35.0 | — |" in text and "| nan | — | 60.0 / 50.0 (r 8) |" in text
    assert (tmp_path / "accuracy.png").stat().st_size > 0
