"""What an evaluation reports, per task.

- Sentence and pair tasks: accuracy, and macro-F1 and weighted-F1 over the classes that occur in the
  gold labels or the predictions (scikit-learn's convention). Always answering the majority class
  scores its share in accuracy but only one class's F1 averaged with k − 1 zeros in macro-F1, so a
  model that learned nothing shows it there.
- Token tasks: token accuracy over the words (each word's first sub-word), and, when the tags are BIO
  (NER), entity-level precision, recall and F1 with seqeval in strict IOB2 mode: an entity counts only
  when its type and both ends match. Predicted I- tags that begin an entity are read as B- first
  (``repair_bio``), as the gold tags were on reading, so the scorer sees spans, not tag accidents.

Accuracy is counted exactly (correct / n), so a tuned model that keeps its probe-initialised start
equals its probe to the last digit.
"""

from __future__ import annotations

import statistics

import numpy as np


def f1_scores(gold: np.ndarray, pred: np.ndarray) -> tuple[float, float]:
    """(macro-F1, weighted-F1) over the classes in ``gold`` or ``pred``; weights: each class's gold count."""
    if len(gold) == 0:
        return float("nan"), float("nan")
    classes = np.union1d(gold, pred)
    f1s, support = [], []
    for c in classes:
        tp = int(np.sum((pred == c) & (gold == c)))
        fp = int(np.sum((pred == c) & (gold != c)))
        fn = int(np.sum((pred != c) & (gold == c)))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
        support.append(int(np.sum(gold == c)))
    f1s, support = np.asarray(f1s), np.asarray(support)
    weighted = float((f1s * support).sum() / support.sum()) if support.sum() else 0.0
    return float(f1s.mean()), weighted


def sentence_scores(gold: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    n = len(gold)
    macro, weighted = f1_scores(gold, pred)
    return {"accuracy": int(np.sum(gold == pred)) / n if n else 0.0, "macro_f1": macro, "weighted_f1": weighted}


def entity_scores(gold: list[list[str]], pred: list[list[str]]) -> dict[str, float]:
    """seqeval's strict IOB2 precision / recall / F1 over whole sentences of tag names."""
    from seqeval.metrics import f1_score, precision_score, recall_score
    from seqeval.scheme import IOB2

    from borderless.data.conll import repair_bio

    pred = [repair_bio(p)[0] for p in pred]
    kw = {"mode": "strict", "scheme": IOB2, "zero_division": 0}
    return {"f1": float(f1_score(gold, pred, **kw)), "precision": float(precision_score(gold, pred, **kw)),
            "recall": float(recall_score(gold, pred, **kw))}


def token_scores(gold: list[np.ndarray], pred: list[np.ndarray], names: tuple[str, ...]) -> dict[str, float]:
    """Token accuracy over every word, macro-F1 over the tags and, for BIO tags, entity F1."""
    from borderless.data.conll import is_bio

    g = np.concatenate(gold) if gold else np.zeros(0, dtype=np.int64)
    p = np.concatenate(pred) if pred else np.zeros(0, dtype=np.int64)
    out = {"accuracy": int(np.sum(g == p)) / len(g) if len(g) else 0.0, "words": float(len(g))}
    out["macro_f1"], out["weighted_f1"] = f1_scores(g, p)
    if names and is_bio(names):
        out.update(entity_scores([[names[t] for t in s] for s in gold], [[names[t] for t in s] for s in pred]))
    return out


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation over seeds (0 for one value; NaN, NaN for none)."""
    if not values:
        return float("nan"), float("nan")
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)
