"""What a deployment refuses before any process starts: settings the ServerApp does not carry out."""

import pytest

from borderless.config import load_config
from borderless.flower.node import NodeConfigError, check_deployable


@pytest.mark.parametrize("overrides, key", [
    (['method.head_init="probe"', 'privacy.mechanism="example"', "privacy.target_epsilon=8",
      "train.probe_candidate=false"], "method.head_init"),
    (['method.name="head"'], "method.name"),
    (['data.partition="dirichlet"'], "data.partition"),
    (['run.paradigms=["monolingual", "centralized"]'], "run.paradigms")])
def test_unsupported_settings_are_refused_by_name(overrides, key):
    ok = ['method.head_init="random"', 'train.stop="budget"', 'run.paradigms=["federated"]']
    cfg = load_config(None, ok + overrides)
    with pytest.raises(NodeConfigError, match=key.split(".")[1]):
        check_deployable(cfg)
    check_deployable(load_config(None, ok))  # the supported settings pass
    # the recipe runs over Flower: probe-initialised heads, stopping on dev, the probe as candidate
    check_deployable(load_config(None, ['method.head_init="probe"', 'train.stop="dev"', "train.probe_candidate=true"]))


def test_the_shipped_deployment_config_is_deployable():
    from pathlib import Path

    for name in ("deploy.toml", "demo.toml"):  # the demo runs under `deploy local` unchanged
        check_deployable(load_config(Path(__file__).resolve().parents[1] / "configs" / name))
