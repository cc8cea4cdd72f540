"""The borderless config a Flower run carries (one run-config entry, the whole TOML), read without
importing torch: the ClientApp process reads it for its privacy mods before it forwards the message
to its node's warm worker."""

from __future__ import annotations

import tomllib
from typing import Any

from borderless.config import Config, config_from_dict

RUN_CONFIG_KEY = "borderless-config"  # the run config entry holding the whole borderless config (TOML)


class NodeConfigError(ValueError):
    """A node started with missing or wrong node config, naming the key and how to fix it."""


def config_from_run_config(run_config: dict[str, Any]) -> Config:
    if RUN_CONFIG_KEY not in run_config:
        raise NodeConfigError(f"run config has no '{RUN_CONFIG_KEY}': submit runs with `borderless deploy run`")
    return config_from_dict(tomllib.loads(str(run_config[RUN_CONFIG_KEY])), "run config")
