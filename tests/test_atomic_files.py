"""Whole-or-absent files, and the window at the end of a run: a run killed after its last round, while
its results are being written, is never lost (``borderless run --resume`` rebuilds them without
training)."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from borderless import atomic_files, paradigms, runner
from borderless.checkpoint import NAME, CheckpointError
from borderless.config import load_config
from borderless.runner import run
from conftest import tiny_config_text


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path):
    path = tmp_path / "results.json"
    atomic_files.write_text(path, "old")

    def half_then_die(tmp):
        tmp.write_text("half of the new")
        raise KeyboardInterrupt  # a Ctrl-C in the middle of writing

    with pytest.raises(KeyboardInterrupt):
        atomic_files.replace_atomically(path, half_then_die)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]
    atomic_files.save_safetensors({"w": torch.arange(3.0)[1:]}, tmp_path / "s.safetensors")  # a non-contiguous view
    assert torch.equal(load_file(tmp_path / "s.safetensors")["w"], torch.tensor([1.0, 2.0]))


def _config(tmp_path, sib200_dir):
    p = tmp_path / "c.toml"
    p.write_text(tiny_config_text(sib200_dir, ("eng_Latn", "hau_Latn", "amh_Ethi"),
                                  "eval_every = 1\npersonal_steps = 2\npersonal_eval_every = 1"))
    return p, load_config(p)


FILES = ("results.json", "report.md", "states/federated/global.safetensors", "metrics.jsonl")


@pytest.mark.slow
@pytest.mark.parametrize("point", ["after_training", "before_checkpoint_removal"])
def test_a_run_killed_while_writing_its_results_is_rebuilt_by_resume_without_training(
        tmp_path, sib200_dir, tiny_backbone, monkeypatch, point):
    path, cfg = _config(tmp_path, sib200_dir)
    whole = run(cfg, tmp_path / "whole", progress=False, backbone=tiny_backbone).folder

    cut, marker = tmp_path / "cut", tmp_path / "paused"
    env = {**os.environ, "BORDERLESS_CACHE": str(tmp_path / "cache"), "BORDERLESS_TEST_PAUSE": f"{point}={marker}"}
    proc = subprocess.Popen([sys.executable, "-m", "borderless.cli", "run", str(path), "-o", str(cut), "--quiet"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)  # polls for the run to reach the window, not a wait for time to pass
        assert marker.exists(), f"the run never reached {point}: {proc.poll()} {proc.stderr.read()[-2000:]!r}"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert (cut / NAME).exists(), "the checkpoint must outlive the kill"
    assert (cut / "results.json").exists() == (point == "before_checkpoint_removal")
    assert not list(cut.glob(".*.tmp"))
    metrics = (cut / "metrics.jsonl").read_bytes()

    def no_training(*a, **k):
        raise AssertionError("resume trained again; every paradigm was finished in the checkpoint")

    monkeypatch.setattr(paradigms, "run_federated_personal", no_training)
    monkeypatch.setattr(runner, "run_federated_personal", no_training)
    monkeypatch.setattr(runner, "RUNNERS", {k: no_training for k in runner.RUNNERS})
    run(cfg, cut, progress=False, backbone=tiny_backbone, resume=True)

    assert not (cut / NAME).exists()  # removed only now that everything is written
    assert (cut / "metrics.jsonl").read_bytes() == metrics
    a, b = (json.loads((f / "results.json").read_text()) for f in (whole, cut))
    for p in a["paradigms"]:
        for key in ("test_accuracy", "stopping", "optimizer_steps", "probe_mean_accuracy"):
            assert a["paradigms"][p][key] == b["paradigms"][p][key], (p, key)
    sa, sb = load_file(whole / FILES[2]), load_file(cut / FILES[2])
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert all((cut / f).exists() for f in FILES)
    with pytest.raises(CheckpointError, match="this run is complete"):  # a second --resume says so
        run(cfg, cut, progress=False, backbone=tiny_backbone, resume=True)
