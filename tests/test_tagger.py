"""A trained tagger in a user's hands (issue 46 with issue 44's tools): borderless.load reads a token
task's run and tags new sentences exactly as the run scored its test split; `borderless predict` writes
words, tags and entities; `borderless serve` answers the same; an exported tagger loads and tags alike."""

from __future__ import annotations

import json
import random

import pytest

import borderless
from borderless.data.conll import entity_spans, read_conll
from borderless.errors import ModelError
from borderless.metrics import token_scores
from borderless.runner import run
from test_token_task import token_config


# the tuned prompt and LoRA states; and with the probe as a dev candidate, the frozen probe that dev
# keeps on this easy synthetic task (its head on the backbone's own per-word states)
@pytest.fixture(scope="module", params=[("prompt", "false"), ("lora", "false"), ("prompt", "true")])
def ner_run(request, tmp_path_factory):
    method, candidate = request.param
    tmp = tmp_path_factory.mktemp(f"ner-{method}")
    cfg = token_config(tmp, method, overrides=('run.paradigms=["monolingual", "federated"]',
                                               f"train.probe_candidate={candidate}"))
    out = run(cfg, tmp / "out", progress=False)
    kept = {v for e in out.results["paradigms"].values() for v in (e.get("chosen_on_dev") or {"": "tuned"}).values()}
    assert kept == ({"probe"} if candidate == "true" else {"tuned"})
    return out.folder, tmp / "conll"


def _test_split(conll, lang):
    """[[(word, gold tag), ...], ...] of a language's test file."""
    return [list(zip(words, tags)) for _, words, tags in read_conll((conll / lang / "test.txt").read_text(), "test.txt")]


@pytest.mark.parametrize("paradigm", ["federated", "monolingual"])
def test_a_loaded_tagger_scores_the_test_split_as_the_run_did(ner_run, paradigm):
    folder, conll = ner_run
    res = json.loads((folder / "results.json").read_text())
    tagger = borderless.load(folder, paradigm)
    try:
        for lang in ("aaa", "bbb"):
            gold = _test_split(conll, lang)
            tagged = tagger.tag([[w for w, _ in s] for s in gold], language=lang)
            assert [[w for w, _ in t] for t in tagged] == [[w for w, _ in s] for s in gold]
            names = tuple(tagger.labels)
            got = token_scores([[names.index(t) for _, t in s] for s in gold],
                               [[names.index(t) for _, t in s] for s in tagged], names)
            entry = res["paradigms"][paradigm]
            assert got["accuracy"] == pytest.approx(entry["test_accuracy"][lang], abs=1e-12), lang
            assert got["f1"] == pytest.approx(entry["test_f1"][lang], abs=1e-12), lang
        # a sentence as one string is split on whitespace; a tagger does not classify sentences
        assert [w for w, _ in tagger.tag(["Musa  ya\tje"], language="aaa")[0]] == ["Musa", "ya", "je"]
        with pytest.raises(ModelError, match=r"\.tag\(texts\)"):
            tagger.predict(["Musa ya je"], language="aaa")
        with pytest.raises(ModelError, match=r"sentences\[1\]: no words"):
            tagger.tag(["Musa ya", "   "], language="aaa")
    finally:
        tagger.close()


def test_entity_spans_are_seqevals_entities():
    from seqeval.metrics.sequence_labeling import get_entities

    rng = random.Random(0)
    for _ in range(300):
        tags = [rng.choice(["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]) for _ in range(rng.randrange(1, 9))]
        words = [f"w{i}" for i in range(len(tags))]
        from borderless.data.conll import repair_bio

        want = [(t, s, e + 1) for t, s, e in get_entities(repair_bio(tags)[0])]
        assert [(e["type"], e["start"], e["end"]) for e in entity_spans(words, tags)] == sorted(want, key=lambda x: x[1])


def test_predict_and_serve_tag_with_entities(ner_run, tmp_path):
    from fastapi.testclient import TestClient

    from borderless.predict import run_predict
    from borderless.serve import create_app

    folder, _ = ner_run
    src = tmp_path / "in.tsv"
    src.write_text("id\ttext\nx1\tMusa ya je Kano\nx2\tAmina da Ade\n")
    run_predict(str(folder), str(src), str(tmp_path / "out.jsonl"), language="aaa", progress=False)
    rows = [json.loads(l) for l in (tmp_path / "out.jsonl").read_text().splitlines()]
    tagger = borderless.load(folder)
    try:
        want = tagger.tag(["Musa ya je Kano", "Amina da Ade"], language="aaa")
        assert [r["id"] for r in rows] == ["x1", "x2"]
        for r, w in zip(rows, want):
            assert r["words"] == [x for x, _ in w] and r["tags"] == [t for _, t in w]
            assert r["entities"] == entity_spans(r["words"], r["tags"])
        client = TestClient(create_app(tagger))
        body = client.post("/predict", json={"texts": ["Musa ya je Kano", "Amina da Ade"], "language": "aaa"}).json()
        assert [p["tags"] for p in body["predictions"]] == [r["tags"] for r in rows]
        assert [p["entities"] for p in body["predictions"]] == [r["entities"] for r in rows]
        bad = client.post("/predict", json={"texts": ["Musa", " "], "language": "aaa"})
        assert bad.status_code == 400 and "texts[1]: no words" in bad.json()["detail"]
        card = client.get("/model").json()
        assert card["task"] == "token" and card["metric"] == "f1" and set(card["test_f1"]) == {"aaa", "bbb"}
    finally:
        tagger.close()
    empty = tmp_path / "empty.jsonl"
    empty.write_text('{"text": "Musa ya"}\n{"text": []}\n')
    with pytest.raises(Exception, match="input line 2: no words to tag"):
        run_predict(str(folder), str(empty), str(tmp_path / "never.jsonl"), language="aaa", progress=False)
    assert not (tmp_path / "never.jsonl").exists()


def test_an_exported_tagger_tags_as_its_run(ner_run, tmp_path):
    from borderless.export import export

    folder, conll = ner_run
    out = export(folder, tmp_path / "model")
    card = (out / "README.md").read_text()
    assert "## Test entity F1 (seqeval, strict IOB2) (%)" in card and "tagger.tag(" in card
    sentences = [[w for w, _ in s] for s in _test_split(conll, "bbb")]
    run_model, exported = borderless.load(folder), None
    try:
        want = run_model.tag(sentences, language="bbb")
    finally:
        run_model.close()
    exported = borderless.load(out)
    try:
        assert exported.tag(sentences, language="bbb") == want
    finally:
        exported.close()
