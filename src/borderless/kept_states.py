"""Every model a run trains, kept in its results folder (issue 44, item 1).

A run keeps the chosen trainable state of each paradigm, as safetensors under ``states/``:

- ``states/<paradigm>/global.safetensors`` for a paradigm with one model for every language
  (centralized, federated);
- ``states/<paradigm>/<language>.safetensors`` for one model a language (monolingual,
  federated + personal, and federated under the distance-aware rule, where each language has its own mix);
- ``states/<paradigm>/<who>.probe.safetensors`` where ``train.probe_candidate`` kept the frozen-feature
  probe instead of the tuned state: a linear head on the frozen backbone's pooled features, no prompt.

Each file carries its paradigm, who and kind (``tuned`` / ``probe``) in the safetensors metadata, and
results.json's ``models`` maps every paradigm and language to the file whose test accuracy it reports.
Files are written atomically as each model is chosen (a monolingual language as soon as it finishes),
so a killed run keeps what it had finished and a resumed one rewrites nothing it had.
"""

from __future__ import annotations

from pathlib import Path

from borderless import atomic_files
from borderless.tuning.state import State

FOLDER = "states"
SHARED_WHO = "global"
TUNED, PROBE = "tuned", "probe"
ROUND_START = "start"  # run.keep_updates: the global state a round started from, beside its clients' updates


def update_who(rnd: int, client: str) -> str:
    """``run.keep_updates``: the kept name of ``client``'s update in round ``rnd`` (or the round's start)."""
    return f"updates/round{rnd:03d}/{client}"


def kept_updates(folder: Path) -> dict[int, dict[str, str]]:
    """round → who (``start`` and each client) → the file's path relative to ``folder``, for the federated
    updates a run kept with ``run.keep_updates``; empty when it kept none."""
    base = Path(folder) / FOLDER / "federated" / "updates"
    out: dict[int, dict[str, str]] = {}
    for d in sorted(base.glob("round*")) if base.exists() else []:
        out[int(d.name[len("round"):])] = {f.name[:-len(".safetensors")]: f.relative_to(folder).as_posix()
                                            for f in sorted(d.glob("*.safetensors"))}
    return out


def relative_path(paradigm: str, who: str, kind: str = TUNED) -> str:
    suffix = ".probe.safetensors" if kind == PROBE else ".safetensors"
    return f"{FOLDER}/{paradigm}/{who}{suffix}"


class StateKeeper:
    """Writes chosen states into ``folder``; ``folder=None`` keeps nothing (tests, compare cells
    with ``run.keep_states = false``)."""

    def __init__(self, folder: Path | None):
        self.folder = Path(folder) if folder is not None else None

    def save(self, paradigm: str, who: str, state: State, kind: str = TUNED) -> str | None:
        if self.folder is None:
            return None
        rel = relative_path(paradigm, who, kind)
        path = self.folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_files.save_safetensors(state, path, metadata={"paradigm": paradigm, "who": who, "kind": kind})
        return rel

    def for_paradigm(self, paradigm: str):
        """The ``keep(who, state)`` hook a paradigm runner calls with each state it chose."""
        return lambda who, state: self.save(paradigm, who, state)


def models_index(summary: dict, probes: dict, keeper: StateKeeper) -> dict[str, dict[str, str]]:
    """After dev selection (``borderless.probe_selection``): paradigm → language → the kept file whose
    test accuracy results.json reports. Writes the probe heads that selection chose."""
    if keeper.folder is None:
        return {}
    index: dict[str, dict[str, str]] = {}
    langs = summary["languages"]
    for name, entry in summary["paradigms"].items():
        chosen = entry.get("chosen_on_dev") or {}
        shared_choice = next(iter(chosen.values())) if len(chosen) == 1 and not set(chosen) & set(langs) else None
        files: dict[str, str] = {}
        for lang in langs:
            who = lang if (keeper.folder / relative_path(name, lang)).exists() else SHARED_WHO
            rel = relative_path(name, who)
            if not (keeper.folder / rel).exists():
                continue  # this paradigm keeps no state (the head-only method's paradigms are their probes)
            if (chosen.get(lang) or shared_choice) == PROBE:
                probe, rel = probes[name], relative_path(name, who, PROBE)
                if not (keeper.folder / rel).exists() or who != SHARED_WHO:
                    keeper.save(name, who, probe.heads[lang] if lang in probe.heads
                                else next(iter(probe.heads.values())), PROBE)
            files[lang] = rel
        if files:
            index[name] = files
    return index


def load(folder: Path, rel: str) -> tuple[State, dict[str, str]]:
    """A kept state and its metadata (paradigm, who, kind)."""
    from safetensors import safe_open

    path = Path(folder) / rel
    if not path.exists():
        raise FileNotFoundError(f"{path}: no kept state there; results.json 'models' names the files a run kept")
    with safe_open(str(path), framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata() or {})
