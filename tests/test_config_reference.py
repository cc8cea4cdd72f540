"""The configuration's declarations are its reference: the committed table in docs/configuration.md is
the generated one, every key says what it does, and the JSON schema (pydantic, from the same
declarations) accepts and refuses what the loader accepts and refuses."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import tomllib
import typing
from pathlib import Path

import pytest

from borderless.config import Config, ConfigError, load_config
from borderless.config_reference import replace_table, rows, schema

ROOT = Path(__file__).resolve().parents[1]


def test_the_committed_table_is_the_generated_one():
    page = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert replace_table(page) == page, ("docs/configuration.md differs from the declarations: run "
                                         "`borderless config --write-table docs/configuration.md`")


def test_every_key_is_declared_with_what_it_does():
    listed = {k for k, _, _, _ in rows()}
    every = {f"{s.name}.{f.name}" for s in dataclasses.fields(Config)
             for f in dataclasses.fields(typing.get_type_hints(Config)[s.name])}
    assert listed == every and len(every) > 100
    assert all(doc for _, _, _, doc in rows()), [k for k, _, _, doc in rows() if not doc]


def test_the_folder_reader_knows_exactly_the_declared_formats():
    from borderless.config import DataConfig
    from borderless.data.folder import FORMATS

    declared = typing.get_args(typing.get_type_hints(DataConfig)["format"])
    assert set(declared) == {""} | set(FORMATS)


@pytest.mark.parametrize("override", [
    "federated.rounds=0", "train.lr=0.0", "train.warmup=1.0", 'train.optimizer="lion"', "privacy.delta=1.5",
    'run.paradigms=["fedrated"]', "probe.weight_decays=[]", "probe.weight_decays=[-1.0]", "data.languages=[]",
    "compare.fractions=[0.0]", 'backbone.dtype="float16"', "deploy.poll_interval_s=11.0", "train.batch_size=1.5",
    "federated.trim_beta=0.5", "data.max_zero_shot_dev_per_language=-2", 'method.pooling="max"',
    "train.lr=0.01", "federated.rounds=1", 'data.format="conll"', "privacy.delta=0.5", 'train.select_metric="f1"',
])
def test_the_schema_and_the_loader_agree(override):
    """pydantic reads the declarations for the schema; the loader checks them itself (no pydantic on
    Flower's per-message path). For each value both accept, or both refuse it."""
    from pydantic import TypeAdapter, ValidationError

    key, value = override.split("=", 1)
    section, name = key.split(".")
    raw = {section: {name: tomllib.loads(f"v = {value}")["v"]}}
    try:
        TypeAdapter(Config).validate_python(raw, strict=False)
        schema_ok = True
    except ValidationError:
        schema_ok = False
    try:
        from borderless.config import _build

        _build(Config, raw, "")
        loader_ok = True
    except ConfigError:
        loader_ok = False
    assert schema_ok == loader_ok, override


def test_the_schema_names_and_describes_every_key_and_refuses_unknown_ones():
    out = subprocess.run([sys.executable, "-m", "borderless.cli", "config", "--schema"], capture_output=True,
                         text=True, check=True).stdout
    s = json.loads(out)
    train = s["$defs"]["TrainConfig"]
    assert train["additionalProperties"] is False and s["additionalProperties"] is False
    assert train["properties"]["select_metric"]["enum"] == ["", "accuracy", "macro_f1", "weighted_f1", "f1"]
    assert train["properties"]["batch_size"]["minimum"] == 1
    assert "dev selection" in train["properties"]["select_metric"]["description"]
    assert s == schema()


def test_config_prints_a_file_as_a_run_reads_it(tmp_path):
    src = tmp_path / "c.toml"
    src.write_text('[train]\nlr = 0.01\n[federated]\nrounds = 3\n')
    out = subprocess.run([sys.executable, "-m", "borderless.cli", "config", str(src), "--set", "run.seed=4"],
                         capture_output=True, text=True, check=True).stdout
    printed = tomllib.loads(out)
    assert printed["train"]["lr"] == 0.01 and printed["federated"]["rounds"] == 3 and printed["run"]["seed"] == 4
    assert load_config(None, ["train.lr=0.01", "federated.rounds=3", "run.seed=4"]).to_dict() == printed
    src.write_text("[federated]\nrounds = 0\n")
    bad = subprocess.run([sys.executable, "-m", "borderless.cli", "config", str(src)], capture_output=True, text=True)
    assert bad.returncode == 2 and f"{src}: federated.rounds: must be >= 1, got 0" in bad.stderr
