"""SIGTERM (what ``timeout``, systemd and ``docker stop`` send) ends a command as Ctrl-C does: every
``finally`` runs, every process it started is stopped, what was written stays, exit code 143."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tomli_w

from conftest import tiny_config_text, write_language


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_sigterm_stops_a_run_keeping_its_checkpoint(tmp_path, sib200_dir):
    cfg = tmp_path / "c.toml"
    cfg.write_text(tiny_config_text(sib200_dir, ("eng_Latn", "hau_Latn"), '[run]\nparadigms = ["federated"]'))
    marker, out = tmp_path / "paused", tmp_path / "out"
    env = {**os.environ, "BORDERLESS_CACHE": str(tmp_path / "cache"), "BORDERLESS_TEST_PAUSE": f"after_training={marker}"}
    proc = subprocess.Popen([sys.executable, "-m", "borderless.cli", "run", str(cfg), "-o", str(out), "--quiet"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: marker.exists() or proc.poll() is not None, 300, "the run to finish training")
        assert proc.poll() is None, proc.stderr.read()
        proc.send_signal(signal.SIGTERM)
        err = proc.communicate(timeout=60)[1]
    finally:
        proc.kill()
    assert proc.returncode == 143, err
    assert "borderless: terminated (SIGTERM)" in err and "Traceback" not in err
    assert (out / "checkpoint.pt").exists() and not (out / "results.json").exists()  # --resume continues it


@pytest.mark.deploy
def test_sigterm_stops_every_flower_process_of_a_local_deployment(tmp_path):
    from borderless.flower.processes import free_port
    from flower_helpers import LANGS, flower_config

    data = tmp_path / "sib200"
    for lang in LANGS:
        write_language(data, lang)
    cfg = flower_config(data, "federated.rounds=50", superlink=f"127.0.0.1:{free_port()}")
    path = tmp_path / "deploy.toml"
    path.write_text(tomli_w.dumps(cfg.to_dict()))
    out, log = tmp_path / "out", tmp_path / "stdout.log"
    pids_file = tmp_path / "out-deployment" / "logs" / "pids.txt"
    with log.open("w") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "borderless.cli", "deploy", "local", str(path), "-o", str(out)],
                                stdout=fh, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:  # the SuperLink and every SuperNode up, then the run under way
        _wait_for(lambda: proc.poll() is not None or "SuperNodes up" in log.read_text(), 300, "the deployment to start")
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(5)
        started = [int(line.split()[0]) for line in pids_file.read_text().splitlines() if line.strip()]
        proc.send_signal(signal.SIGTERM)
        err = proc.communicate(timeout=120)[1]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 143, err
    alive = [p for p in started if _running(p)]
    assert alive == [], f"still running after SIGTERM: {alive}"


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
