"""AUC, TPR at 1 % FPR and the empirical ε lower bound on scores with known answers."""

import math

import numpy as np

from borderless.audit.metrics import auc, epsilon_lower_bound, summarise, tpr_at


def test_separated_scores_are_found_and_identical_ones_are_a_guess():
    rng = np.random.default_rng(0)
    assert auc(np.array([2.0, 3.0]), np.array([0.0, 1.0])) == 1.0
    assert auc(np.array([1.0, 1.0]), np.array([1.0, 1.0])) == 0.5
    a, b = rng.normal(size=2000), rng.normal(size=2000)
    assert abs(auc(a, b) - 0.5) < 0.03
    assert tpr_at(a, b, 0.01) < 0.05
    assert epsilon_lower_bound(a, b) < 0.5


def test_the_bound_grows_with_the_gap_and_respects_sample_size():
    rng = np.random.default_rng(1)
    near = epsilon_lower_bound(rng.normal(0.5, 1, 1000), rng.normal(0, 1, 1000))
    far = epsilon_lower_bound(rng.normal(4, 1, 1000), rng.normal(0, 1, 1000))
    assert far > near and far > 2
    # perfect separation of n = 100 each proves at most about ln(100) (Clopper–Pearson limits it)
    perfect = epsilon_lower_bound(np.arange(100) + 1000.0, np.arange(100) * 1.0)
    assert 2.0 < perfect < math.log(100)


def test_the_summary_carries_intervals_around_its_point_estimates():
    rng = np.random.default_rng(2)
    s = summarise(rng.normal(1, 1, 300), rng.normal(0, 1, 300), rounds=200)
    assert s["auc_ci95"][0] <= s["auc"] <= s["auc_ci95"][1]
    assert s["tpr_at_1pct_fpr_ci95"][0] <= s["tpr_at_1pct_fpr"] <= s["tpr_at_1pct_fpr_ci95"][1] + 1e-9
    assert 0.7 < s["auc"] < 0.82  # Φ(1/√2) ≈ 0.76


def test_the_bound_holds_at_95_percent_over_all_thresholds_at_once():
    # Two identical score distributions: a valid 95 % bound proves ε > 0 in at most 5 % of audits.
    # The maximum over 601 thresholds of uncorrected 95 % intervals did so in 21 of these 100.
    rng = np.random.default_rng(3)
    positive = sum(epsilon_lower_bound(rng.normal(size=300), rng.normal(size=300)) > 0 for _ in range(100))
    assert positive <= 5
