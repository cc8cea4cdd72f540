"""[privacy]: every combination a DP run cannot honour is refused by name; old results folders load."""

from __future__ import annotations

from pathlib import Path

import pytest

from borderless.config import ConfigError, config_from_dict, load_config, refuse_unprotected_paradigms

DP = ['method.head_init="random"']


def _cfg(*sets):
    return load_config(None, list(sets))


@pytest.mark.parametrize("sets,key", [
    (['privacy.mechanism="example"', *DP], "exactly one of target_epsilon"),
    (['privacy.mechanism="example"', "privacy.target_epsilon=1.0", "privacy.noise_multiplier=1.0", *DP], "exactly one"),
    (['privacy.mechanism="local"', "privacy.target_epsilon=1.0"], "method.head_init"),
    (['privacy.mechanism="example"', "privacy.target_epsilon=1.0", "privacy.probe_batch_size=0"], "privacy.probe_batch_size"),
    (['privacy.mechanism="example"', "privacy.target_epsilon=1.0", "train.probe_candidate=true", *DP], "train.probe_candidate"),
    (['privacy.mechanism="example"', "privacy.target_epsilon=1.0", 'method.name="head"', *DP], "method.name"),
    (['privacy.mechanism="client"', "privacy.noise_multiplier=1.0", 'federated.aggregator="median"', *DP], "federated.aggregator"),
    (['privacy.mechanism="local"', "privacy.noise_multiplier=1.0", 'federated.attack="sign_flip"',
      'federated.attack_clients=["eng_Latn"]', *DP], "federated.attack"),
    (['privacy.mechanism="client"', "privacy.noise_multiplier=1.0", "privacy.secagg=true", *DP], "privacy.secagg"),
    (["privacy.target_epsilon=3.0"], "privacy.mechanism"),
    (["privacy.probe_steps=50"], "privacy.probe_steps.*only mechanism"),
    (['privacy.mechanism="example"', "privacy.target_epsilon=1.0", "privacy.probe_dims=8", *DP], "privacy.probe_dims"),
    (['privacy.mechanism="gaussian"'], "privacy.mechanism"),
    (['privacy.accountant="prv"'], "privacy.accountant"),
    (["privacy.delta=0"], "privacy.delta"),
    (["privacy.clip_norm=0"], "privacy.clip_norm"),
])
def test_what_a_dp_run_cannot_honour_is_refused_by_name(sets, key):
    with pytest.raises(ConfigError, match=key):
        _cfg(*sets)


def test_update_level_dp_refuses_paradigms_that_send_no_update():
    cfg = _cfg('privacy.mechanism="local"', "privacy.noise_multiplier=1.0", *DP)
    with pytest.raises(ConfigError, match="run.paradigms.*monolingual, centralized"):
        refuse_unprotected_paradigms(cfg)
    refuse_unprotected_paradigms(_cfg('privacy.mechanism="local"', "privacy.noise_multiplier=1.0", *DP,
                                      'run.paradigms=["federated", "federated_personal"]'))


def test_old_keys_load_when_off_and_are_refused_with_the_new_ones_when_on():
    old = {"privacy": {"dp": False, "dp_clip_norm": 1.0, "dp_epsilon": 1.0, "dp_delta": 1e-5, "secagg": False}}
    assert config_from_dict(old).privacy.mechanism == "none"
    with pytest.raises(ConfigError, match='mechanism = "local", clip_norm = 2.0'):
        config_from_dict({"privacy": {"dp": True, "dp_clip_norm": 2.0}})


def test_the_demo_results_folder_written_before_still_loads():
    folder = Path(__file__).resolve().parents[1] / "docs" / "results" / "demo"
    cfg = load_config(folder / "config.toml")
    assert cfg.privacy.mechanism == "none" and cfg.data.languages
