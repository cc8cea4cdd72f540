"""LiRA, the offline variant (Carlini et al., 2022, "Membership Inference Attacks From First
Principles"), with shadow models trained on random halves of the audit's pool.

The pool is the audit's members and scored non-members. Shadow k trains every audited paradigm, with
the audited run's recipe, on the pool sentences whose id falls in its half (a keyed hash of the
parallel sentence id, so an id is in a shadow's half in every language or in none). For a sentence x
and a paradigm, the statistic is the logit-scaled confidence of the true label, φ = log p − log(1 − p).
The shadows for which x was OUT give its mean μ(x); the spread σ is pooled over every sentence (the
"global variance" LiRA recommends with few shadows). The score of the audited model's φ(x) is
Φ((φ(x) − μ(x)) / σ): how far above what models that never saw x give it. A sentence no shadow left
out scores 0.5 (no evidence either way).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

from borderless.audit.membership import in_keyed_half, sentence_id
from borderless.data.types import Example


def in_half(sid: str, shadow: int, seed: int) -> bool:
    """Whether a sentence id trains shadow ``shadow`` (half the ids, the same in every language)."""
    return in_keyed_half(f"borderless-lira-{seed}-{shadow}", sid)


def half(pool: dict[str, list[Example]], shadow: int, seed: int) -> dict[str, list[Example]]:
    return {lang: [ex for ex in exs if in_half(sentence_id(ex), shadow, seed)] for lang, exs in pool.items()}


def confidence(losses: np.ndarray) -> np.ndarray:
    """φ = log p − log(1 − p) of the true label, from its cross-entropy (p = e^−loss), kept finite."""
    losses = np.maximum(np.asarray(losses, dtype=np.float64), 1e-12)
    return -losses - np.log(-np.expm1(-losses))


def scores(target: np.ndarray, shadows: np.ndarray, was_in: np.ndarray) -> tuple[np.ndarray, dict]:
    """``target``: φ of each sentence under the audited model, shape (n,); ``shadows``: φ under each
    shadow, (k, n); ``was_in``: whether each shadow trained on each sentence, (k, n). Returns each
    sentence's score and what it rests on."""
    out = ~was_in
    count = out.sum(axis=0)
    mu = np.where(count > 0, np.where(out, shadows, 0.0).sum(axis=0) / np.maximum(count, 1), np.nan)
    resid = np.where(out, shadows - mu, np.nan)
    sigma = float(np.nanstd(resid)) if np.isfinite(resid).any() else 1.0
    sigma = max(sigma, 1e-6)
    z = (target - mu) / sigma
    s = np.where(count > 0, norm.cdf(np.nan_to_num(z)), 0.5)
    return s, {"shadows": int(shadows.shape[0]), "mean_out_shadows_per_sentence": float(count.mean()),
               "sentences_without_an_out_shadow": int((count == 0).sum()), "sigma": sigma}
