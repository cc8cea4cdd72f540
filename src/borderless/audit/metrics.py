"""From attack scores (higher = "member") to what an audit reports: AUC, TPR at a low FPR, their
bootstrap confidence intervals, and the empirical ε lower bound the attack implies.

The ε bound: an (ε, δ)-DP mechanism keeps every attack's TPR ≤ e^ε · FPR + δ (and, swapping the
roles, 1 − FPR ≤ e^ε · (1 − TPR) + δ). At each threshold the bound is ln((TPR − δ) / FPR); with
Clopper–Pearson intervals (lower end for TPR, upper for FPR, 95 % each) it is one an auditor can
state with confidence, the convention of Jagielski et al. (2020) and Nasr et al. (2021). The largest
over the thresholds is reported.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import beta


def roc(member: np.ndarray, outsider: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(FPR, TPR) at every threshold, from the highest score down."""
    scores = np.concatenate([member, outsider])
    truth = np.concatenate([np.ones(len(member)), np.zeros(len(outsider))])
    order = np.argsort(-scores, kind="stable")
    tp, fp = np.cumsum(truth[order]), np.cumsum(1 - truth[order])
    return np.concatenate([[0.0], fp / len(outsider)]), np.concatenate([[0.0], tp / len(member)])


def auc(member: np.ndarray, outsider: np.ndarray) -> float:
    """P(a member scores above a non-member), ties counting half (the Mann–Whitney statistic)."""
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([member, outsider]))
    return float((ranks[: len(member)].sum() - len(member) * (len(member) + 1) / 2) / (len(member) * len(outsider)))


def tpr_at(member: np.ndarray, outsider: np.ndarray, fpr: float) -> float:
    """The highest TPR whose FPR is at most ``fpr``."""
    f, t = roc(member, outsider)
    return float(t[f <= fpr + 1e-12].max())


def bootstrap(member: np.ndarray, outsider: np.ndarray, stat, rounds: int = 1000, seed: int = 0) -> tuple[float, float]:
    """95 % percentile interval of ``stat`` over resamples of both groups."""
    rng = np.random.default_rng(seed)
    vals = [stat(rng.choice(member, len(member)), rng.choice(outsider, len(outsider))) for _ in range(rounds)]
    return float(np.percentile(vals, 2.5)), float(np.percentile(vals, 97.5))


def _cp(k: int, n: int, upper: bool, conf: float = 0.95) -> float:
    a = 1 - conf
    if upper:
        return 1.0 if k >= n else float(beta.ppf(1 - a, k + 1, n - k))
    return 0.0 if k <= 0 else float(beta.ppf(a, k, n - k + 1))


def epsilon_lower_bound(member: np.ndarray, outsider: np.ndarray, delta: float = 1e-5) -> float:
    """The largest ε any threshold of this attack proves, with 95 % Clopper–Pearson bounds; 0 if none."""
    f, t = roc(member, outsider)
    n1, n0 = len(member), len(outsider)
    best = 0.0
    for fpr, tpr in zip(f, t):
        tpr_lo = _cp(round(tpr * n1), n1, upper=False)
        fpr_hi = _cp(round(fpr * n0), n0, upper=True)
        if tpr_lo - delta > 0 and fpr_hi > 0:
            best = max(best, math.log((tpr_lo - delta) / fpr_hi))
        tnr_lo, fnr_hi = _cp(round((1 - fpr) * n0), n0, upper=False), _cp(round((1 - tpr) * n1), n1, upper=True)
        if tnr_lo - delta > 0 and fnr_hi > 0:
            best = max(best, math.log((tnr_lo - delta) / fnr_hi))
    return best


def summarise(member: np.ndarray, outsider: np.ndarray, delta: float = 1e-5, rounds: int = 1000) -> dict:
    return {"members": len(member), "non_members": len(outsider),
            "auc": auc(member, outsider), "auc_ci95": bootstrap(member, outsider, auc, rounds),
            "tpr_at_1pct_fpr": tpr_at(member, outsider, 0.01),
            "tpr_at_1pct_fpr_ci95": bootstrap(member, outsider, lambda a, b: tpr_at(a, b, 0.01), rounds),
            "epsilon_lower_bound": epsilon_lower_bound(member, outsider, delta)}
