"""``borderless compare``: the paper's matrix, methods × paradigms × seeds (× data fractions).

Every cell is an ordinary ``borderless run`` of ONE paradigm, written to
``<output>/cells/<method>/<paradigm>/frac<f>/seed<s>/``. A cell whose ``results.json`` exists and
was made with the same resolved config is reused, so an interrupted study picks up where it
stopped; a cell made with a different config is refused (or redone with ``redo_changed``), so one
study never mixes settings. One backbone is loaded for the whole matrix, and only if a cell needs it.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import tomli_w
from tqdm.auto import tqdm

from borderless.backbones.resolve import Backbone, load_configured
from borderless.compare_cells import PARADIGM_RUNS, Cell, expanded_paradigms, plan_cells  # noqa: F401 (the study's API)
from borderless.config import CompareConfig, Config, ConfigError, config_from_dict, with_overrides


class StaleCellError(FileExistsError):
    """A cell in the results folder was made with a different config."""


def cell_config(cfg: Config, cell: Cell) -> Config:
    """The base config with the method's overrides and the cell's coordinates applied."""
    base_paradigm, _, aggregator = cell.paradigm.partition("@")
    paradigm, partition = PARADIGM_RUNS[base_paradigm]
    items = list(cfg.compare.overrides.get(cell.method, ()))
    if aggregator:
        items.append(f'federated.aggregator="{aggregator}"')
    items += [f'method.name="{cell.method}"', f"run.seed={cell.seed}", f'run.paradigms=["{paradigm}"]',
              f"data.train_fraction={cell.fraction!r}"]
    if partition:
        items.append(f'data.partition="{partition}"')
    # the matrix itself is not part of a cell: adding a seed must not invalidate the finished cells
    base = dataclasses.replace(cfg, compare=CompareConfig())
    return with_overrides(base, items, f"compare cell {cell.key} (compare.overrides.{cell.method})")


def _cell_is_done(folder: Path, expected: dict) -> bool | None:
    """True: done with this config; False: absent or interrupted; None: done with another config."""
    path = folder / "results.json"
    if not path.exists():
        return False
    try:  # read through the config schema, so keys added to borderless since then take their defaults
        stored = config_from_dict(json.loads(path.read_text())["config"], str(path)).to_dict()
    except ConfigError:
        return None
    return True if stored == expected else None


@dataclass
class CompareOutput:
    folder: Path
    ran: list[str]
    reused: list[str]
    summary: dict


def run_compare(cfg: Config, output: Path, progress: bool = True, redo_changed: bool = False,
                backbone: Backbone | None = None, shard: tuple[int, int] = (0, 1),
                run_cell: Callable[..., object] | None = None) -> CompareOutput:
    from borderless.compare_report import summarize, write_compare_report
    from borderless.runner import ensure_writable, load_data, run

    from borderless.config import refuse_token_task

    refuse_token_task(cfg, "compare", "run each method over seeds with scripts/seeds.sh (configs/masakhaner.toml "
                      "says how)")
    run_cell = run_cell or run
    output = Path(output)
    load_data(cfg)  # bad data or language codes fail here, before anything is written
    cells = plan_cells(cfg)
    configs = {cell: cell_config(cfg, cell) for cell in cells}  # bad overrides fail here too
    status = {cell: _cell_is_done(output / "cells" / cell.key, configs[cell].to_dict()) for cell in cells}
    stale = [cell.key for cell in cells if status[cell] is None]
    if stale and not redo_changed:
        raise StaleCellError(
            f"{output}: {len(stale)} cell(s) were made with a different config, e.g. {stale[0]} "
            f"(see its config.toml). Nothing was touched. Use another --output for a new study, "
            "or pass --redo-changed to rerun those cells.")
    ensure_writable(output)
    (output / "config.toml").write_text(tomli_w.dumps(cfg.to_dict()))
    ran = []
    k, n = shard  # this process runs every n-th cell, from the k-th: share a study between processes/machines
    todo = [cell for i, cell in enumerate(cells) if status[cell] is not True and i % n == k]
    reused = [cell.key for cell in cells if status[cell] is True]
    with tqdm(total=len(cells), initial=len(reused), desc="compare", unit="cell", disable=not progress,
              dynamic_ncols=True) as bar:
        for cell in todo:
            bar.set_postfix_str(cell.key)
            if backbone is None:
                t0 = time.perf_counter()
                backbone = load_configured(cfg.backbone)
                if progress:
                    bar.write(f"backbone {backbone.name} loaded in {time.perf_counter() - t0:.1f} s")
            # an interrupted cell (no results.json) is started again from scratch
            run_cell(configs[cell], output / "cells" / cell.key, overwrite=True, progress=False, backbone=backbone)
            ran.append(cell.key)
            bar.update(1)
    summary = summarize(cfg, output, cells)
    write_compare_report(output, summary, cells)
    return CompareOutput(output, ran, reused, summary)

