"""Exact resume of ``borderless run``: after every round of every paradigm, what the next round needs.

``checkpoint.pt`` in the results folder holds the resolved config, the paradigms already finished
(their results), the one in progress (trainable state, optimizer state, stopping state, how many
batches each stream has consumed, the federation's server-optimizer state, sampling RNG state and
personalised states) and how far metrics.jsonl had been written. It is replaced atomically after
every round (written to a temporary file, fsync'ed, renamed), so a kill at any moment leaves either
the previous checkpoint or the new one. ``borderless run --resume DIR`` recomputes what is
deterministic (data, cached features, probes, the seeded start), truncates metrics.jsonl to the
checkpoint and continues; the final state and accuracies equal an uninterrupted run's bit for bit
on CPU (tests/test_checkpoint.py kills a real run with SIGKILL).

Only plain data is stored (tensors, numbers, strings, lists, dicts), and it is read back with
``torch.load(weights_only=True)``: a checkpoint cannot run code.

``checkpoint.pt`` is in .gitignore. To carry a stopped run to another machine with an uncommitted working
tree, copy it to ``checkpoint.carry.pt`` beside it (not ignored): a resume moves it back first
(:func:`restore_carried`), and drops it where it is stale (beside a live checkpoint or a finished run).
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import torch

from borderless.atomic_files import replace_atomically
from borderless.errors import BorderlessError

FORMAT = 1
NAME = "checkpoint.pt"
CARRIED = "checkpoint.carry.pt"


class CheckpointError(BorderlessError):
    """A checkpoint that cannot be used, naming the file and why."""


def _atomic_save(obj: dict, path: Path) -> None:
    replace_atomically(path, lambda tmp: torch.save(obj, tmp))


def _flat(d: dict, prefix: str = "") -> dict[str, object]:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def config_differences(saved: dict, current: dict) -> list[str]:
    """Keys whose values differ. A key one side lacks (a setting added to borderless since the
    checkpoint was written) counts as its default there, so a newer borderless can resume."""
    from borderless.config import Config

    a, b, default = _flat(saved), _flat(current), _flat(Config().to_dict())

    def value(d: dict, k: str) -> str:
        return json.dumps(d[k] if k in d else default.get(k), default=str)

    return sorted(k for k in set(a) | set(b) if value(a, k) != value(b, k))


def restore_carried(folder: Path) -> str | None:
    """Move a carried checkpoint (``checkpoint.carry.pt``) back to ``checkpoint.pt`` so the run can resume:
    "restored"; remove it where it is stale, beside a live checkpoint or a finished run (results.json):
    "dropped"; None when there is none."""
    folder = Path(folder)
    carried = folder / CARRIED
    if not carried.exists():
        return None
    if (folder / NAME).exists() or (folder / "results.json").exists():
        carried.unlink()
        return "dropped"
    carried.replace(folder / NAME)
    return "restored"


def load(folder: Path, config: dict) -> dict:
    """The checkpoint of ``folder``, checked against ``config`` (the resolved config as a dict)."""
    path = Path(folder) / NAME
    if not path.exists():
        if (Path(folder) / "results.json").exists():
            raise CheckpointError(f"{Path(folder)}: this run is complete (results.json is written and its checkpoint "
                                  "removed); there is nothing to resume. Start a new run into another folder.")
        raise CheckpointError(f"{path}: no checkpoint to resume from (a run writes one after its first round; "
                              "a finished run removes it). Start the run again without --resume.")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file gets the same message
        raise CheckpointError(f"{path}: the checkpoint cannot be read ({type(err).__name__}: {err}); it is damaged. "
                              "Start the run again without --resume, into a new folder.") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT or "config" not in payload:
        raise CheckpointError(f"{path}: not a borderless checkpoint of format {FORMAT}; start the run again "
                              "without --resume, into a new folder.")
    diff = config_differences(payload["config"], config)
    if diff:
        raise CheckpointError(f"{path}: the checkpoint was written by another config (differs in {', '.join(diff[:8])}"
                              f"{' …' if len(diff) > 8 else ''}); resume with the folder's own config.toml, "
                              "or start a new run.")
    return payload


class Checkpointer:
    """What a runner saves after each round and finds again after a restart. ``folder=None``: no
    checkpoints (tests, compare cells), every method a no-op."""

    def __init__(self, folder: Path | None, config: dict, payload: dict | None = None,
                 metrics_position=lambda: 0):
        self.path = Path(folder) / NAME if folder is not None else None
        self.payload = payload or {"format": FORMAT, "config": config, "finished": {}, "current": None,
                                   "metrics_bytes": 0}
        self.metrics_position = metrics_position
        self.units = lambda: 0  # the progress bar's count, saved so that a resumed bar starts where it was
        self._t0 = time.perf_counter()

    @property
    def metrics_bytes(self) -> int:
        return int(self.payload.get("metrics_bytes", 0))

    def finished(self, paradigm: str) -> dict | None:
        return self.payload["finished"].get(paradigm)

    def resumed(self, paradigm: str) -> dict | None:
        cur = self.payload.get("current")
        return cur["record"] if cur and cur["paradigm"] == paradigm else None

    def begin(self, paradigm: str) -> tuple[float, int]:
        """Start the clock of ``paradigm``: (seconds it had run, progress units it had done) before the
        restart it resumes from, (0, 0) when it starts afresh. Saved rounds carry both on, so a resumed
        paradigm reports its whole wall time, not the part after the restart."""
        cur = self.payload.get("current")
        before = (float(cur.get("elapsed_s", 0.0)), int(cur.get("units", 0))) if cur and cur["paradigm"] == paradigm \
            else (0.0, 0)
        self._t0 = time.perf_counter() - before[0]
        return before

    def elapsed(self) -> float:
        """Seconds the paradigm in progress has run, the part before a restart included."""
        return time.perf_counter() - self._t0

    def save(self, paradigm: str, record: dict) -> None:
        if self.path is not None:
            self.payload["current"] = {"paradigm": paradigm, "record": record,
                                       "elapsed_s": self.elapsed(), "units": self.units()}
            self._write()

    def finish(self, paradigm: str, record: dict) -> None:
        if self.path is not None:
            self.payload["finished"][paradigm] = record
            self.payload["current"] = None
            self._write()

    def _write(self) -> None:
        self.payload["metrics_bytes"] = self.metrics_position()
        _atomic_save(self.payload, self.path)

    def remove(self) -> None:
        if self.path is not None and self.path.exists():
            self.path.unlink()


NO_CHECKPOINT = Checkpointer(None, {})


def rng_state(rng: random.Random) -> list:
    version, internal, gauss = rng.getstate()
    return [version, list(internal), gauss]


def set_rng_state(rng: random.Random, saved: list) -> None:
    version, internal, gauss = saved
    rng.setstate((int(version), tuple(int(x) for x in internal), gauss))
