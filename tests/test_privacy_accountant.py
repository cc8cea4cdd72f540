"""The accountant: ε from dp-accounting's own events, calibration to a target, and a DP run's
results.json whose recorded parameters give back its reported ε."""

from __future__ import annotations

import json
import math
from pathlib import Path

import dp_accounting
import pytest
from dp_accounting.pld import pld_privacy_accountant
from dp_accounting.rdp import rdp_privacy_accountant

from borderless.config import load_config
from borderless.privacy.accountant import calibrate, epsilon
from borderless.runner import run
from conftest import tiny_config_text


def _dp_accounting_epsilon(mechanism: str, sigma: float, q: float, steps: int, delta: float, name: str,
                           probe: tuple[float, int] | None = None) -> float:
    """dp-accounting used directly, as its documentation shows, without borderless's helpers."""
    acc = rdp_privacy_accountant.RdpAccountant() if name == "rdp" else pld_privacy_accountant.PLDAccountant()
    if probe and probe[1]:  # the DP probe's steps first, same sigma, their own sampling rate
        pq, pt = probe
        acc.compose(dp_accounting.PoissonSampledDpEvent(pq, dp_accounting.GaussianDpEvent(sigma))
                    if pq < 1 else dp_accounting.GaussianDpEvent(sigma), pt)
    if mechanism == "local":
        event = dp_accounting.GaussianDpEvent(sigma / 2)  # sensitivity 2C
    elif q < 1:
        event = dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(sigma))
    else:
        event = dp_accounting.GaussianDpEvent(sigma)
    acc.compose(event, steps)
    return acc.get_epsilon(delta)


@pytest.mark.parametrize("mechanism,sigma,q,steps,name", [
    ("example", 1.1, 0.04, 30, "rdp"), ("example", 0.9, 0.1, 12, "pld"), ("client", 2.0, 1.0, 5, "rdp"),
    ("client", 1.5, 0.25, 20, "rdp"), ("local", 19.4, 1.0, 5, "rdp"), ("local", 19.4, 1.0, 20, "pld")])
def test_epsilon_is_dp_accountings_own(mechanism, sigma, q, steps, name):
    assert epsilon(mechanism, sigma, q, steps, 1e-5, name) == pytest.approx(
        _dp_accounting_epsilon(mechanism, sigma, q, steps, 1e-5, name), rel=1e-9)


def test_the_old_local_calibration_is_far_tighter_than_basic_composition():
    """privacy.dp's classic per-round calibration at ε = 1 (σ = 2C·sqrt(2 ln(1.25/δ))) summed to k·ε."""
    sigma = 2 * math.sqrt(2 * math.log(1.25 / 1e-5))
    assert epsilon("local", sigma, 1.0, 5, 1e-5) < 2.5 < 5
    assert epsilon("local", sigma, 1.0, 20, 1e-5) < 5 < 20


# PLD's calibration searches with a fine discretisation (18 s here): full suite only; RDP stays fast
@pytest.mark.parametrize("target,name", [(1.0, "rdp"), (8.0, "rdp"), pytest.param(3.0, "pld", marks=pytest.mark.slow)])
def test_calibration_reaches_the_target_and_no_further(target, name):
    sigma = calibrate("example", target, 8 / 200, 40, 1e-5, name)
    assert epsilon("example", sigma, 8 / 200, 40, 1e-5, name) <= target * (1 + 1e-3)
    assert epsilon("example", sigma * 0.97, 8 / 200, 40, 1e-5, name) > target  # not more noise than needed


def test_no_step_spends_nothing_and_no_noise_is_infinite():
    assert epsilon("example", 1.0, 0.1, 0, 1e-5) == 0.0
    assert epsilon("example", 0.0, 0.1, 5, 1e-5) == float("inf")


@pytest.mark.parametrize("head_init", ["probe", "random"])
def test_an_example_level_run_reports_the_epsilon_its_recorded_parameters_give(sib200_dir, tmp_path, tiny_backbone,
                                                                                head_init):
    """With LP-FT (head_init = "probe") the DP probe's steps come first in every party's composition."""
    extra = '[privacy]\nmechanism = "example"\ntarget_epsilon = 2.0\n[run]\nparadigms = ["monolingual", "centralized", "federated"]\n'
    cfg = tmp_path / "c.toml"
    cfg.write_text(tiny_config_text(sib200_dir, extra=extra).replace("[method]\n", f'[method]\nhead_init = "{head_init}"\n'))
    out = tmp_path / "out"
    run(load_config(cfg), out, progress=False, backbone=tiny_backbone)
    results = json.loads((out / "results.json").read_text())
    seen = 0
    for paradigm, p in results["paradigms"].items():
        rec = p["privacy"]
        assert rec["mechanism"] == "example" and rec["delta"] == 1e-5 and rec["accountant"] == "rdp"
        for who, g in rec["parties"].items():
            assert {"mechanism", "noise_multiplier", "sampling_rate", "steps", "delta", "epsilon", "accountant"} <= set(g)
            assert g["steps"] > 0 and 0 < g["sampling_rate"] < 1 and g["noise_multiplier"] > 0
            assert (g["probe_steps"] == 30) == (head_init == "probe")
            mine = _dp_accounting_epsilon("example", g["noise_multiplier"], g["sampling_rate"], g["steps"], g["delta"], "rdp",
                                          (g["probe_sampling_rate"], g["probe_steps"]))
            assert g["epsilon"] == pytest.approx(mine, rel=1e-9), (paradigm, who)
            assert g["epsilon"] <= 2.0 * (1 + 1e-3)
            seen += 1
        assert rec["epsilon"] == max(g["epsilon"] for g in rec["parties"].values())
    assert seen == 2 + 1 + 2  # two languages, the pooled set, two clients
    report = (out / "report.md").read_text()
    assert "## Privacy" in report and "one training sentence" in report
    # a probe fitted without noise is a reference, not a floor a DP run is flagged against; the DP probe is
    for p in results["paradigms"].values():
        if head_init == "probe":
            assert p["below_probe"] == (p["mean_accuracy"] < p["dp_probe_mean_accuracy"] - 1e-9)
        else:
            assert not p["below_probe"] and "dp_probe_mean_accuracy" not in p
