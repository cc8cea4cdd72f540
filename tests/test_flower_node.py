"""What a deployment refuses before any process starts: settings the ServerApp does not carry out."""

import pytest

from borderless.config import load_config
from borderless.flower.node import NodeConfigError, check_deployable


@pytest.mark.parametrize("override, key", [('method.head_init="probe"', "method.head_init"),
                                            ('train.stop="dev"', "train.stop"),
                                            ('data.partition="dirichlet"', "data.partition")])
def test_unsupported_settings_are_refused_by_name(override, key):
    ok = ['method.head_init="random"', 'train.stop="budget"', 'run.paradigms=["federated"]']
    cfg = load_config(None, ok + [override])
    with pytest.raises(NodeConfigError, match=key.split(".")[1]):
        check_deployable(cfg)
    check_deployable(load_config(None, ok))  # the supported settings pass


def test_the_shipped_deployment_config_is_deployable():
    from pathlib import Path

    check_deployable(load_config(Path(__file__).resolve().parents[1] / "configs" / "deploy.toml"))
