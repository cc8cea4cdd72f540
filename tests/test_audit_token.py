"""`borderless audit` on a tagger (NER, POS): a tagged sentence is one record, scored by the mean loss of
its words' tags; the loss attack, LiRA and the report run on a user's own CoNLL folder; canaries, which
relabel whole sentences, are refused by name."""

import json
import math

import numpy as np
import pytest

from borderless.audit.command import audit
from borderless.audit.loss_attack import losses_and_hits
from borderless.audit.metrics import auc
from borderless.config import ConfigError
from borderless.data.types import Example
from tests.test_token_task import token_config


class FixedTagger:
    """tag_proba with known probabilities: word k of any sentence gets WORDS[k] (the third is past max_length)."""

    labels = ["O", "B-PER"]
    WORDS = [{"O": 0.9, "B-PER": 0.1}, {"O": 0.2, "B-PER": 0.8}, {}]

    def tag_proba(self, sentences, language=None):
        return [(words, self.WORDS[:len(words)]) for words in sentences]


def tagged(tags):
    words = tuple(f"w{k}" for k in range(len(tags)))
    return Example(f"aaa/{len(tags)}", " ".join(words), 0, "aaa", words=words, tags=tuple(tags))


def test_a_tagged_sentence_scores_the_mean_loss_of_its_read_words():
    losses, hits = losses_and_hits(FixedTagger(), [tagged((0, 1, 0)), tagged((1, 1)), tagged(())], "aaa")
    assert losses[0] == pytest.approx((-math.log(0.9) - math.log(0.8)) / 2)  # the cut third word is not scored
    assert losses[1] == pytest.approx((-math.log(0.1) - math.log(0.8)) / 2)
    assert losses[2] == pytest.approx(math.log(2))  # nothing read: a uniform guess
    assert hits.tolist() == [True, False, False]


@pytest.mark.slow  # a tiny tagger, its audit and two LiRA shadows: about 15 s here
def test_an_audit_of_a_tagger_on_a_users_conll_folder(tmp_path, tiny_backbone):
    cfg = token_config(tmp_path, overrides=['run.paradigms=["monolingual","federated"]'])
    out = audit(cfg, tmp_path / "audit", backbone=tiny_backbone, progress=False, bootstrap_rounds=20, lira_shadows=2)
    results = json.loads((tmp_path / "audit" / "run" / "results.json").read_text())
    assert "mean loss of the sentence's true tags" in out["attack"]
    kept = np.load(tmp_path / "audit" / "scores.npz")
    for paradigm, r in out["paradigms"].items():
        assert r["test_metric"] == "f1" and r["test_score"] == results["paradigms"][paradigm]["mean_f1"]
        m, o = kept[f"{paradigm}.loss.members"], kept[f"{paradigm}.loss.non_members"]
        assert len(m) == sum(out["members_per_language"].values()) == len(o) > 0
        assert auc(m, o) == r["auc"] and np.all(m <= 0) and np.all(o <= 0)  # −(mean loss)
        assert 0 <= r["lira"]["auc"] <= 1
    text = (tmp_path / "audit" / "audit.md").read_text()
    assert "| paradigm | test entity F1 (seqeval, strict IOB2) |" in text and "## LiRA" in text
    with pytest.raises(ConfigError, match="audit --canaries` does not handle token tasks"):
        audit(cfg, tmp_path / "other", backbone=tiny_backbone, progress=False, canaries=(1,))
