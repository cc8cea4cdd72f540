"""Zero-shot languages (evaluated, never trained) and the distance-aware rule, end to end on the tiny model."""

import json

import pytest

from borderless.config import ConfigError, DataConfig, load_config
from borderless.runner import dev_cap, run
from tests.conftest import tiny_config_text

ZS = 'zero_shot = ["amh_Ethi"]\n'


def _config(tmp_path, sib200_dir, federated: str = "", extra_data: str = ZS):
    text = tiny_config_text(sib200_dir).replace("[backbone]", extra_data + "[backbone]").replace("lr = 0.01", "lr = 0.01\nstop = \"budget\"")
    text = text.replace("rounds = 2", "rounds = 2\n" + federated)
    path = tmp_path / "zs.toml"
    path.write_text(text)
    return load_config(path)


def test_zero_shot_languages_are_evaluated_never_trained(tmp_path, sib200_dir, tiny_backbone):
    cfg = _config(tmp_path, sib200_dir, 'aggregator = "distance"\ntemperature = 0.2\n')
    out = run(cfg, tmp_path / "out", progress=False, backbone=tiny_backbone)
    r = out.results
    assert r["languages"] == ["eng_Latn", "hau_Latn"] and r["zero_shot"] == ["amh_Ethi"]
    assert r["examples"]["amh_Ethi"]["train"] == 0 and r["examples"]["amh_Ethi"]["test"] == 14
    assert "amh_Ethi" not in (tmp_path / "out" / "partition.txt").read_text()
    rows = [json.loads(l) for l in (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()]
    trained = {row.get("client") for row in rows if "train_examples" in row}
    assert trained == {"eng_Latn", "hau_Latn", "pooled"}  # amh never trained, in any paradigm
    for p in ("monolingual", "centralized", "federated"):
        res = r["paradigms"][p]
        assert set(res["zero_shot_accuracy"]) == {"amh_Ethi"} and 0 <= res["zero_shot_accuracy"]["amh_Ethi"] <= 1
        assert "amh_Ethi" not in res["test_accuracy"]  # the training-language mean excludes it
    # amh's monolingual stand-in is the training language nearest in URIEL distance
    d = r["distances"]["pairs"]
    nearest = min(("eng_Latn", "hau_Latn"), key=lambda t: d["|".join(sorted(("amh_Ethi", t)))])
    assert nearest in r["paradigms"]["monolingual"]["zero_shot_via"]["amh_Ethi"]
    assert "distance" in r["paradigms"]["federated"]["zero_shot_via"]["amh_Ethi"]
    assert "Zero-shot" in (tmp_path / "out" / "report.md").read_text()


@pytest.mark.slow
def test_distance_rule_at_infinite_temperature_equals_fedavg_end_to_end(tmp_path, sib200_dir, tiny_backbone):
    base = ['run.paradigms=["federated"]']
    inf = load_config(_config_path(tmp_path, sib200_dir), base + ['federated.aggregator="distance"', "federated.temperature=inf"])
    avg = load_config(_config_path(tmp_path, sib200_dir), base)
    a = run(inf, tmp_path / "inf", progress=False, backbone=tiny_backbone).results
    b = run(avg, tmp_path / "avg", progress=False, backbone=tiny_backbone).results
    assert a["paradigms"]["federated"]["test_accuracy"] == b["paradigms"]["federated"]["test_accuracy"]
    assert a["paradigms"]["federated"]["zero_shot_accuracy"] == b["paradigms"]["federated"]["zero_shot_accuracy"]
    low = load_config(_config_path(tmp_path, sib200_dir), base + ['federated.aggregator="distance"', "federated.temperature=0.01"])
    c = run(low, tmp_path / "low", progress=False, backbone=tiny_backbone).results
    assert c["paradigms"]["federated"]["test_accuracy"] != b["paradigms"]["federated"]["test_accuracy"]


def _config_path(tmp_path, sib200_dir):
    path = tmp_path / "zs.toml"
    # the aggregation rule itself is under test: train every round, no stopping on dev
    path.write_text(tiny_config_text(sib200_dir).replace("[backbone]", ZS + "[backbone]")
                    .replace("lr = 0.01", 'lr = 0.01\nstop = "budget"'))
    return path


def test_bad_zero_shot_and_distance_settings(tmp_path, sib200_dir):
    with pytest.raises(ConfigError, match="data.zero_shot.*never train"):
        _config(tmp_path, sib200_dir, extra_data='zero_shot = ["hau_Latn"]\n')
    with pytest.raises(ConfigError, match='partition = "language"'):
        _config(tmp_path, sib200_dir, 'aggregator = "distance"\n', extra_data=ZS + 'partition = "iid"\n')
    with pytest.raises(ConfigError, match="federated.temperature"):
        _config(tmp_path, sib200_dir, "temperature = 0\n")


def test_zero_shot_dev_cap_defaults_to_the_dev_cap_and_can_differ():
    assert dev_cap(DataConfig(max_dev_per_language=60), zero_shot=True) == 60
    own = DataConfig(max_dev_per_language=0, max_zero_shot_dev_per_language=100)
    assert dev_cap(own, zero_shot=True) == 100 and dev_cap(own, zero_shot=False) == 0
    assert dev_cap(DataConfig(max_dev_per_language=60, max_zero_shot_dev_per_language=0), zero_shot=True) == 0
