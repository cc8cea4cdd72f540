"""Exact resume: a run stopped at any round continues to the same numbers and the same final state."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from borderless.checkpoint import CARRIED, NAME, Checkpointer, CheckpointError, load, restore_carried
from borderless.config import load_config
from borderless.runner import run, run_or_resume
from conftest import WORDS, tiny_config_text, write_language


def _config(tmp_path, sib200_dir, *overrides):
    p = tmp_path / "c.toml"
    p.write_text(tiny_config_text(sib200_dir, ("eng_Latn", "hau_Latn", "amh_Ethi"),
                                  "eval_every = 1\npersonal_steps = 2\npersonal_eval_every = 1"))
    return p, load_config(p, ["federated.rounds=3", "train.patience=5", 'federated.aggregator="fedavgm"', *overrides])


def _rows(folder):
    rows = [json.loads(x) for x in (folder / "metrics.jsonl").read_text().splitlines() if x.strip()]
    return [{k: v for k, v in r.items() if k != "elapsed_s"} for r in rows]


def _same_run(a, b):
    ra, rb = (json.loads((f / "results.json").read_text()) for f in (a, b))
    for p in ra["paradigms"]:
        assert ra["paradigms"][p]["test_accuracy"] == rb["paradigms"][p]["test_accuracy"], p
        assert ra["paradigms"][p]["stopping"] == rb["paradigms"][p]["stopping"], p
        assert ra["paradigms"][p]["optimizer_steps"] == rb["paradigms"][p]["optimizer_steps"], p
    assert _rows(a) == _rows(b)  # every logged loss and dev accuracy, in order
    assert ra["models"] == rb["models"] and ra["models"]["federated"]  # every kept model, by the same files
    kept = sorted(str(f.relative_to(a)) for f in (a / "states").rglob("*.safetensors"))
    assert kept == sorted(str(f.relative_to(b)) for f in (b / "states").rglob("*.safetensors"))
    for rel in kept:
        sa, sb = load_file(a / rel), load_file(b / rel)
        assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa), rel  # bit for bit
    assert not (a / NAME).exists() and not (b / NAME).exists()  # a finished run leaves no checkpoint


class Killed(BaseException):
    pass


def _die_after_save(monkeypatch, n: int) -> dict:
    """Make the n-th checkpoint save the last thing the run does, as if the process died right after
    writing it. Returns the count, and the paradigm it died in under "at"."""
    real_save, calls = Checkpointer.save, {"n": 0, "at": None}

    def save_then_die(self, name, record):
        real_save(self, name, record)
        calls["n"] += 1
        if calls["n"] == n:
            calls["at"] = name
            raise Killed

    monkeypatch.setattr(Checkpointer, "save", save_then_die)
    return calls


@pytest.fixture(scope="module")
def whole(tmp_path_factory, tiny_backbone):
    """One uninterrupted run, the reference for every interrupted one."""
    root = tmp_path_factory.mktemp("whole")
    data = root / "sib200"
    for lang in WORDS:
        write_language(data, lang)
    _, cfg = _config(root, data)
    run(cfg, root / "run", progress=False, backbone=tiny_backbone)
    return root, data


# saves: monolingual 3 languages × (3 rounds + 1 done) = 1-12, centralized 13-15, federated 16-18, personal 19-21
# the fast tier keeps the federated case; the others are slow (a whole tiny run and its resume each, 6-10 s)
SLOW = pytest.mark.slow


@pytest.mark.parametrize("after,paradigm", [pytest.param(2, "monolingual", marks=SLOW),
                                            pytest.param(4, "monolingual", marks=SLOW),
                                            pytest.param(14, "centralized", marks=SLOW), (17, "federated"),
                                            pytest.param(20, "federated_personal", marks=SLOW)])
def test_a_run_stopped_after_any_round_resumes_to_the_same_result(whole, tmp_path, tiny_backbone, monkeypatch,
                                                                  after, paradigm):
    root, data = whole
    _, cfg = _config(root, data)
    real_save, calls = Checkpointer.save, _die_after_save(monkeypatch, after)
    with pytest.raises(Killed):
        run(cfg, tmp_path / "cut", progress=False, backbone=tiny_backbone)
    assert calls["at"] == paradigm
    assert (tmp_path / "cut" / NAME).exists() and not (tmp_path / "cut" / "results.json").exists()
    if paradigm == "federated":  # a round's client updates do not outlive it (full fine-tuning: clients × the model)
        record = load(tmp_path / "cut", cfg.to_dict())["current"]["record"]
        assert record["result"]["round"] == 2 and record["result"]["updates"] == []
        assert record["stopper"]["best"] is not None and record["stopper"]["best"]["updates"] == []
    monkeypatch.setattr(Checkpointer, "save", real_save)
    run(cfg, tmp_path / "cut", progress=False, backbone=tiny_backbone, resume=True)
    _same_run(root / "run", tmp_path / "cut")


@pytest.mark.slow
def test_a_checkpoint_written_with_client_updates_in_it_still_resumes_to_the_same_result(whole, tmp_path,
                                                                                      tiny_backbone, monkeypatch):
    """Checkpoints written before rounds left their updates out (the killed 16-language full
    fine-tuning study's) resume as they are; the updates are dropped on loading."""
    import borderless.paradigms as paradigms

    root, data = whole
    _, cfg = _config(root, data)
    _die_after_save(monkeypatch, 17)
    monkeypatch.setattr(paradigms, "without_updates", lambda r: r)  # the former behaviour
    with pytest.raises(Killed):
        run(cfg, tmp_path / "cut", progress=False, backbone=tiny_backbone)
    record = load(tmp_path / "cut", cfg.to_dict())["current"]["record"]
    assert len(record["result"]["updates"]) == 3 and len(record["stopper"]["best"]["updates"]) == 3
    monkeypatch.undo()
    decoded, real_decode = [], paradigms.round_from_record

    def decode(d):  # every saved round the resume turns back into objects: none may carry updates
        decoded.append(len(d["updates"]))
        return real_decode(d)

    monkeypatch.setattr(paradigms, "round_from_record", decode)
    run(cfg, tmp_path / "cut", progress=False, backbone=tiny_backbone, resume=True)
    assert len(decoded) >= 2 and decoded == [0] * len(decoded)  # the stopper's best and the last round
    _same_run(root / "run", tmp_path / "cut")


@pytest.mark.slow
def test_a_resumed_paradigm_reports_its_whole_wall_time_and_its_bar_goes_on(whole, tmp_path, tiny_backbone,
                                                                               monkeypatch):
    root, data = whole
    _, cfg = _config(root, data)
    real_save, calls = Checkpointer.save, {"n": 0}

    def slow_save_then_die(self, name, record):
        if name == "centralized":
            time.sleep(0.5)  # its rounds before the restart take a while
        real_save(self, name, record)
        calls["n"] += 1
        if calls["n"] == 14:  # after centralized round 2 of 3
            raise Killed

    monkeypatch.setattr(Checkpointer, "save", slow_save_then_die)
    with pytest.raises(Killed):
        run(cfg, tmp_path / "cut", progress=True, backbone=tiny_backbone)
    current = load(tmp_path / "cut", cfg.to_dict())["current"]
    assert current["paradigm"] == "centralized" and current["units"] == 2 and current["elapsed_s"] >= 1.0
    monkeypatch.setattr(Checkpointer, "save", real_save)
    run(cfg, tmp_path / "cut", progress=True, backbone=tiny_backbone, resume=True)
    wall = json.loads((tmp_path / "cut" / "results.json").read_text())["paradigms"]["centralized"]["wall_s"]
    assert wall >= 1.0  # the seconds before the restart count
    rows = [json.loads(x) for x in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()]
    central = [r["elapsed_s"] for r in rows if r["paradigm"] == "centralized"]
    assert central == sorted(central) and central[-1] >= 1.0  # elapsed_s goes on across the restart


def test_a_carried_checkpoint_resumes_a_study_cell_to_the_same_result(whole, tmp_path, tiny_backbone, monkeypatch):
    """checkpoint.pt is git-ignored; a stopped run travels as checkpoint.carry.pt and a study's cell
    (run_or_resume, as scripts/privacy_utility.py and the audit call it) continues from it."""
    root, data = whole
    _, cfg = _config(root, data)
    real_save = Checkpointer.save
    _die_after_save(monkeypatch, 17)  # dies in the federated paradigm
    cut = tmp_path / "cut"
    with pytest.raises(Killed):
        run(cfg, cut, progress=False, backbone=tiny_backbone)
    monkeypatch.setattr(Checkpointer, "save", real_save)
    (cut / NAME).rename(cut / CARRIED)  # what a user copies beside the uncommitted results
    assert run_or_resume(cfg, cut, tiny_backbone).startswith("resumed")
    assert not (cut / CARRIED).exists()
    _same_run(root / "run", cut)
    # a stale carry beside a finished run is dropped, and the run stays finished
    (cut / CARRIED).write_bytes(b"stale")
    assert run_or_resume(cfg, cut, tiny_backbone) == "done" and not (cut / CARRIED).exists()


def test_a_stale_carried_checkpoint_never_replaces_a_live_one(tmp_path):
    assert restore_carried(tmp_path) is None
    (tmp_path / NAME).write_bytes(b"live")
    (tmp_path / CARRIED).write_bytes(b"old")
    assert restore_carried(tmp_path) == "dropped"
    assert (tmp_path / NAME).read_bytes() == b"live" and not (tmp_path / CARRIED).exists()
    (tmp_path / NAME).unlink()
    (tmp_path / CARRIED).write_bytes(b"carried")
    assert restore_carried(tmp_path) == "restored"
    assert (tmp_path / NAME).read_bytes() == b"carried" and not (tmp_path / CARRIED).exists()


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_from_the_command_line(tmp_path, sib200_dir):
    path, _ = _config(tmp_path, sib200_dir)
    cli = [sys.executable, "-m", "borderless.cli"]
    # federated only, a fixed budget of 30 rounds: killed after round 3, the run is 27 rounds from its end
    sets = ["--set", "federated.rounds=30", "--set", 'federated.aggregator="fedavgm"', "--set", 'train.stop="budget"',
            "--set", 'run.paradigms=["federated"]', "--quiet"]
    env = {**os.environ, "BORDERLESS_CACHE": str(tmp_path / "cache")}
    subprocess.run(cli + ["run", str(path), "-o", str(tmp_path / "whole")] + sets, check=True, env=env,
                   capture_output=True, timeout=600)
    cut = tmp_path / "cut"
    proc = subprocess.Popen(cli + ["run", str(path), "-o", str(cut)] + sets, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:  # wait until the federation is under way
        if (cut / NAME).exists():
            try:
                cur = torch.load(cut / NAME, weights_only=True).get("current")
            except Exception:  # noqa: BLE001 - being replaced right now
                cur = None
            if cur and cur["paradigm"] == "federated" and cur["record"]["carry"]["round"] >= 3:
                break
        time.sleep(0.01)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (cut / "results.json").exists()
    out = subprocess.run(cli + ["run", "--resume", str(cut)] + sets[-1:], env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr
    _same_run(tmp_path / "whole", cut)


def test_damaged_or_foreign_checkpoints_are_refused_with_the_reason(tmp_path, sib200_dir, tiny_backbone, monkeypatch):
    _, cfg = _config(tmp_path, sib200_dir)
    folder = tmp_path / "r"
    with pytest.raises(CheckpointError, match="no checkpoint to resume from"):
        run(cfg, folder, progress=False, backbone=tiny_backbone, resume=True)
    real_save = Checkpointer.save

    def die(self, paradigm, record):
        real_save(self, paradigm, record)
        raise Killed

    monkeypatch.setattr(Checkpointer, "save", die)
    with pytest.raises(Killed):
        run(cfg, folder, progress=False, backbone=tiny_backbone)
    monkeypatch.setattr(Checkpointer, "save", real_save)
    _, other = _config(tmp_path, sib200_dir, "train.lr=0.5")
    with pytest.raises(CheckpointError, match=r"another config \(differs in train.lr\)"):
        run(other, folder, progress=False, backbone=tiny_backbone, resume=True)
    good = (folder / NAME).read_bytes()
    (folder / NAME).write_bytes(good[: len(good) // 2])
    with pytest.raises(CheckpointError, match="damaged"):
        run(cfg, folder, progress=False, backbone=tiny_backbone, resume=True)
    metrics_before = (folder / "metrics.jsonl").read_bytes()
    assert metrics_before  # nothing already written was touched by the refusals
    assert (folder / "config.toml").exists()


def test_a_setting_added_since_the_checkpoint_counts_as_its_default():
    import copy

    from borderless.checkpoint import config_differences
    from borderless.config import Config

    now = Config().to_dict()
    older = copy.deepcopy(now)
    del older["federated"]["min_clients"]  # written by a borderless without this setting
    assert config_differences(older, now) == []
    changed = copy.deepcopy(now)
    changed["federated"]["min_clients"] = 2
    assert config_differences(older, changed) == ["federated.min_clients"]
