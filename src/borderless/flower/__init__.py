"""The same federation on Flower: a ServerApp and a ClientApp that wrap borderless's own local
training, evaluation and aggregation, plus the commands that deploy them across machines."""

import os as _os

from borderless.flower.processes import OFFLINE as _OFFLINE

for _key, _value in _OFFLINE.items():  # no telemetry or update checks from this process either
    _os.environ.setdefault(_key, _value)
