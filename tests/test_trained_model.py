"""borderless.load / TrainedModel: a finished run's kept models classify new text exactly as the run
tested them, one backbone for every language, with errors that name the fix."""

import json

import pytest

import borderless
from borderless.data.sampling import stratified_cap
from borderless.errors import ModelError
from borderless.runner import load_data

from trained_run import LANGS, finished_run


@pytest.fixture(scope="module")
def finished(tmp_path_factory, tiny_backbone):
    return finished_run(tmp_path_factory.mktemp("run"), tiny_backbone)


@pytest.mark.parametrize("paradigm", ["monolingual", "centralized", "federated", "federated_personal"])
def test_predicting_a_runs_own_test_split_reproduces_its_test_accuracy(finished, tiny_backbone, paradigm):
    folder, cfg = finished
    res = json.loads((folder / "results.json").read_text())
    data = load_data(cfg)
    clf = borderless.load(folder, paradigm, backbone=tiny_backbone)
    try:
        for lang in LANGS:
            test = stratified_cap(data[lang].test, cfg.data.max_test_per_language, cfg.run.seed)
            labels = clf.predict([ex.text for ex in test], language=lang)
            acc = sum(l == data[lang].labels.names[ex.label] for l, ex in zip(labels, test)) / len(test)
            assert acc == res["paradigms"][paradigm]["test_accuracy"][lang], (paradigm, lang)
            probs = clf.predict_proba([test[0].text], language=lang)[0]
            assert set(probs) == set(res["labels"]) and abs(sum(probs.values()) - 1) < 1e-5
    finally:
        clf.close()


def test_the_default_is_the_federated_model_and_one_model_serves_any_language(finished, tiny_backbone):
    folder, _ = finished
    clf = borderless.load(folder, backbone=tiny_backbone)
    try:
        assert clf.paradigm == "federated" and clf.shared
        assert len(clf.predict(["the market", "kasar"], language=None)) == 2
        assert clf.predict(["the market"], language="yor_Latn") == clf.predict(["the market"])  # unseen: the global model
    finally:
        clf.close()


def test_errors_name_the_fix(finished, tiny_backbone, tmp_path):
    folder, _ = finished
    clf = borderless.load(folder, "monolingual", backbone=tiny_backbone)
    try:
        with pytest.raises(ModelError, match="one model per language; choose one with language=.*eng_Latn"):
            clf.predict(["x"])
        with pytest.raises(ModelError, match="no monolingual model for yor_Latn; this run trained eng_Latn, hau_Latn"):
            clf.predict(["x"], language="yor_Latn")
        with pytest.raises(ModelError, match="a list of strings"):
            clf.predict("one string", language="eng_Latn")
    finally:
        clf.close()
    with pytest.raises(ModelError, match="no lora models in this run; it kept: monolingual"):
        borderless.load(folder, "lora", backbone=tiny_backbone)
    with pytest.raises(ModelError, match="no results.json, so not a finished borderless run"):
        borderless.load(tmp_path, backbone=tiny_backbone)
    old = tmp_path / "old"
    old.mkdir()
    res = json.loads((folder / "results.json").read_text())
    res.pop("models")
    (old / "results.json").write_text(json.dumps(res))
    with pytest.raises(ModelError, match="kept no models.*rerun it"):
        borderless.load(old, backbone=tiny_backbone)


@pytest.mark.real
def test_a_committed_real_run_predicts_its_own_test_split_exactly(e5_backbone):
    """multilingual-e5-small and SIB-200: the federated model of a committed held-out draw (a run made
    before every model was kept: its federated_state.safetensors) gives back its reported accuracy."""
    from conftest import REAL_SIB200, REPO

    folder = REPO / "docs" / "results" / "heldout_draws_prompt" / "draw0" / "seed0"
    if not REAL_SIB200.exists():
        pytest.skip(f"{REAL_SIB200}: the SIB-200 data is not there")
    res = json.loads((folder / "results.json").read_text())
    clf = borderless.load(folder, backbone=e5_backbone)
    try:
        import csv

        with open(REAL_SIB200 / "bel_Cyrl" / "test.tsv", encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))
        labels = clf.predict([r["text"] for r in rows], language="bel_Cyrl")
        acc = sum(p == r["category"] for p, r in zip(labels, rows)) / len(rows)
        assert len(rows) == 204 and acc == res["paradigms"]["federated"]["test_accuracy"]["bel_Cyrl"]
    finally:
        clf.close()
