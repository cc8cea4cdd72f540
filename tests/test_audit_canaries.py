"""Canaries in the audit: drawn from rows neither trained nor scored, relabelled to another label,
inserted the asked number of times; exposure ranks a canary among never-inserted references; an audit
folder refuses canaries other than those its run trained with."""

import json
import math

import numpy as np
import pytest

from borderless.audit import canaries as c
from borderless.audit.command import audit
from borderless.audit.membership import split, with_members_only
from borderless.config import ConfigError, load_config
from borderless.data.types import Example, LabelSet, LanguageData
from conftest import tiny_config_text


def _data(langs=("eng_Latn", "hau_Latn"), n=120, allowed=None):
    labels = LabelSet(("a", "b", "c"))
    return {l: LanguageData(l, labels, [Example(f"{l}/{i}", f"{l} text {i}", i % 3, l) for i in range(n)],
                            [], [], allowed=allowed) for l in langs}


def test_canaries_come_from_rows_neither_trained_nor_scored_and_carry_another_label():
    data = _data()
    sp = split(data, list(data), cap=20, seed=0)
    drawn = c.draw(data, list(data), sp, (1, 4, 16), 2, 30, seed=0)
    for lang, d in data.items():
        truth = {ex.uid: ex.label for ex in d.train}
        used = {ex.uid for ex in sp.members[lang] + sp.outsiders[lang]}
        canaries = [ex for ex, _ in drawn.inserted[lang]] + drawn.references[lang]
        assert [r for _, r in drawn.inserted[lang]] == [1, 1, 4, 4, 16, 16] and len(drawn.references[lang]) == 30
        originals = [f"{lang}/{ex.uid.split('canary-')[1]}" for ex in canaries]
        assert len(set(originals)) == len(originals) and not set(originals) & used  # distinct, never trained or scored
        assert all(ex.label != truth[o] for ex, o in zip(canaries, originals))  # relabelled to another label
    again = c.draw(data, list(data), sp, (1, 4, 16), 2, 30, seed=0)
    assert again == drawn and c.draw(data, list(data), sp, (1, 4, 16), 2, 30, seed=1) != drawn  # seeded
    trained = c.with_canaries(with_members_only(data, sp.members), drawn)
    assert len(trained["eng_Latn"].train) == len(sp.members["eng_Latn"]) + 2 * (1 + 4 + 16)
    assert len({ex.uid for ex in trained["eng_Latn"].train}) == len(trained["eng_Latn"].train)  # every copy its own row


def test_a_language_with_its_own_labels_gets_canaries_among_them_and_too_few_rows_are_refused():
    data = _data(allowed=(0, 2))
    sp = split(data, list(data), cap=20, seed=0)
    drawn = c.draw(data, list(data), sp, (1, 4), 3, 20, seed=0)
    assert {ex.label for ex, _ in drawn.inserted["hau_Latn"]} | {ex.label for ex in drawn.references["hau_Latn"]} <= {0, 2}
    small = _data(n=50)
    with pytest.raises(ValueError, match=r"eng_Latn has \d+ training rows .* need 70"):
        c.draw(small, list(small), split(small, list(small), cap=20, seed=0), (1, 4, 16), 20, 30, seed=0)


def test_exposure_is_the_rank_among_references():
    refs = np.arange(1.0, 64.0)  # 63 references: losses 1 ... 63
    assert c.exposure(0.5, refs) == pytest.approx(6.0)  # below every reference: log2(64)
    assert c.exposure(100.0, refs) == pytest.approx(0.0)  # above every one
    assert c.exposure(31.5, refs) == pytest.approx(1.0)  # the middle: 1 bit
    per = {"x": ([(0.5, True, 16), (100.0, False, 1)], refs, np.array([True] + [False] * 62))}
    s = c.summarise(per)
    assert s["by_count"]["16"] == {"canaries": 1, "mean_exposure": pytest.approx(6.0), "max_exposure": pytest.approx(6.0),
                                   "predicted_as_inserted": 1.0}
    assert s["by_count"]["1"]["predicted_as_inserted"] == 0.0
    assert s["exposure_ceiling"] == pytest.approx(math.log2(64)) and s["references_predicted_as_wrong_label"] == pytest.approx(1 / 63)


@pytest.mark.slow  # a tiny audit and its reruns: about 5 s here
def test_an_audit_with_canaries_trains_them_reports_exposure_and_keeps_its_folder_to_them(sib200_dir, tmp_path,
                                                                                          tiny_backbone):
    p = tmp_path / "c.toml"
    p.write_text(tiny_config_text(sib200_dir, extra='[run]\nparadigms = ["monolingual", "federated"]\n'))
    cfg = load_config(p, ["data.max_train_per_language=6"])
    kw = dict(backbone=tiny_backbone, progress=False, bootstrap_rounds=20, canaries=(1, 4), canaries_per_count=2,
              canary_references=10)
    out = audit(cfg, tmp_path / "a", **kw)
    results = json.loads((tmp_path / "a" / "run" / "results.json").read_text())
    for lang in cfg.data.languages:  # the members and every canary copy trained
        assert results["examples"][lang]["train"] == out["members_per_language"][lang] + 2 * (1 + 4)
    for r in out["paradigms"].values():
        assert set(r["canaries"]["by_count"]) == {"1", "4"}
        assert all(0 <= g["mean_exposure"] <= r["canaries"]["exposure_ceiling"] + 1e-9 for g in r["canaries"]["by_count"].values())
    assert "## Canaries" in (tmp_path / "a" / "audit.md").read_text()
    with pytest.raises(ConfigError, match=r"trained with canaries \[1, 4\].*asks for none"):
        audit(cfg, tmp_path / "a", backbone=tiny_backbone, progress=False, bootstrap_rounds=20)
    assert audit(cfg, tmp_path / "a", **kw)["paradigms"] == out["paradigms"]  # the same run, reused
