"""Evaluation metrics: macro / weighted F1 against scikit-learn, entity F1 against seqeval's own
strict scorer, the majority class's macro-F1 far below its accuracy."""

import numpy as np
import pytest
from sklearn.metrics import f1_score

from borderless.metrics import entity_scores, f1_scores, sentence_scores, token_scores


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_macro_and_weighted_f1_match_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    gold, pred = rng.integers(0, 5, 200), rng.integers(0, 4, 200)
    macro, weighted = f1_scores(gold, pred)
    assert macro == pytest.approx(f1_score(gold, pred, average="macro"))
    assert weighted == pytest.approx(f1_score(gold, pred, average="weighted"))


def test_majority_class_is_exposed_by_macro_f1():
    gold = np.array([0] * 60 + [1] * 30 + [2] * 10)
    out = sentence_scores(gold, np.zeros_like(gold))
    assert out["accuracy"] == 0.6
    assert out["macro_f1"] == pytest.approx((2 * 0.6 / 1.6) / 3)  # one class's F1, two zeros


def test_entity_f1_is_strict_and_repairs_predicted_i_tags():
    gold = [["B-PER", "I-PER", "O", "B-LOC"]]
    assert entity_scores(gold, gold)["f1"] == 1.0
    # a wrong boundary is a miss and a false alarm: strict spans
    assert entity_scores(gold, [["B-PER", "O", "O", "B-LOC"]]) == pytest.approx(
        {"f1": 0.5, "precision": 0.5, "recall": 0.5})
    # an entity predicted as I-PER I-PER is read as B-PER I-PER (conlleval) before strict scoring
    assert entity_scores(gold, [["I-PER", "I-PER", "O", "B-LOC"]])["f1"] == 1.0


def test_token_scores_count_words_and_add_entity_f1_for_bio_only():
    names = ("B-PER", "I-PER", "O")
    gold = [np.array([0, 1, 2]), np.array([2, 0])]
    pred = [np.array([0, 1, 2]), np.array([2, 2])]
    out = token_scores(gold, pred, names)
    assert out["accuracy"] == 4 / 5 and out["words"] == 5
    assert out["f1"] == pytest.approx(2 / 3) and out["precision"] == 1.0 and out["recall"] == 0.5
    pos = token_scores(gold, pred, ("NOUN", "VERB", "ADJ"))
    assert "f1" not in pos and pos["accuracy"] == 4 / 5
