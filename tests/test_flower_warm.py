"""The SuperNode's warm worker (borderless.flower.warm) and its launcher (borderless.flower.supernode):
the ServerApp's whole federation through Flower's ClientApp handing every message to warm workers
gives the in-process state; each worker builds its model once for all its messages; the ClientApp
process never imports torch; strangers and broken workers get clear errors, never a wrong reply."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from multiprocessing.connection import Client

import pytest
import torch
from flwr.app import RecordDict
from safetensors.torch import load_file

from borderless.flower import client_app, server_app
from borderless.flower.direct_grid import DirectGrid
from borderless.flower.supernode import ShorterWaits, split_args, with_worker
from borderless.flower.warm import NODE_CONFIG_KEY, WarmWorker, WarmWorkerError, call
from flower_helpers import flower_config, in_process, run_config


@pytest.fixture
def workers(tmp_path):
    made = []

    def make():
        w = WarmWorker(tmp_path / f"w{len(made)}").start()
        made.append(w)
        return w

    yield make
    for w in made:
        w.close()


def test_federation_through_warm_workers_gives_the_in_process_state(sib200_dir, tmp_path, workers, monkeypatch):
    cfg = flower_config(sib200_dir)
    init, ref = in_process(cfg)
    nodes = {100 + i: (lang, workers()) for i, lang in enumerate(cfg.data.languages)}
    built = []
    import borderless.flower.handlers as handlers

    real_setup = handlers.node_setup
    monkeypatch.setattr(handlers, "node_setup", lambda c, n: built.append(n["language"]) or real_setup(c, n))
    monkeypatch.setattr(client_app, "_LOCAL", None)
    grid = DirectGrid(client_app.app, {nid: {"language": lang, "data-path": str(sib200_dir), NODE_CONFIG_KEY: w.address}
                                       for nid, (lang, w) in nodes.items()}, run_config(cfg))
    summary = server_app.serve(grid, cfg, tmp_path / "out", say=lambda m: None)
    final = load_file(tmp_path / "out" / "final_state.safetensors")
    for k in final:
        assert torch.allclose(final[k], ref[-1].state[k], atol=1e-6), k
        assert not torch.allclose(final[k], init[k])
    assert client_app._LOCAL is None  # the ClientApp computed nothing itself: every message went to a worker
    assert sorted(built) == sorted(cfg.data.languages)  # one model per node, built once for all its messages
    for lang, w in nodes.values():
        assert w.served >= 1 + cfg.federated.rounds + 1  # describe, every round's training, the test evaluation
    assert set(summary["test_accuracy"]) == set(cfg.data.languages)


def test_worker_folder_is_private_and_goes_with_it(tmp_path):
    w = WarmWorker(tmp_path / "w").start()
    assert stat.S_IMODE(os.stat(w.folder).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(w.folder / "key").st_mode) == 0o600
    w.close()
    assert not w.folder.exists()


def test_a_caller_without_the_key_is_refused_and_the_worker_keeps_serving(sib200_dir, workers):
    from multiprocessing import AuthenticationError

    w = workers()
    with pytest.raises(AuthenticationError):
        Client(w.address, family="AF_UNIX", authkey=b"not the key")
    cfg = flower_config(sib200_dir)
    reply = call(w.address, "query", RecordDict(), run_config(cfg), {"language": "hau_Latn", "data-path": str(sib200_dir)})
    assert reply.config_records["node"]["language"] == "hau_Latn"


def test_a_failing_message_names_the_problem_and_the_worker_keeps_serving(sib200_dir, workers):
    w = workers()
    cfg = flower_config(sib200_dir)
    with pytest.raises(WarmWorkerError, match="yor_Latn"):  # not one of the run's languages
        call(w.address, "query", RecordDict(), run_config(cfg), {"language": "yor_Latn", "data-path": str(sib200_dir)})
    with pytest.raises(WarmWorkerError, match="unknown message kind"):
        call(w.address, "shutdown", RecordDict(), run_config(cfg), {"language": "eng_Latn", "data-path": str(sib200_dir)})
    reply = call(w.address, "query", RecordDict(), run_config(cfg), {"language": "eng_Latn", "data-path": str(sib200_dir)})
    assert reply.config_records["node"]["num_examples"] > 0


def test_a_missing_worker_names_its_socket(tmp_path, sib200_dir):
    cfg = flower_config(sib200_dir)
    missing = str(tmp_path / "gone" / "socket")
    with pytest.raises(WarmWorkerError, match="gone/socket"):
        call(missing, "query", RecordDict(), run_config(cfg), {"language": "eng_Latn"})


def test_the_clientapp_process_does_not_import_torch():
    code = ("import sys, borderless.flower.client_app, borderless.flower.supernode; "
            "print(sorted(m for m in ('torch', 'transformers', 'peft') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


PER_MESSAGE = """
import json, sys
from flwr.app import Message, RecordDict
from borderless.flower import client_app
from borderless.flower.direct_grid import DirectGrid
from borderless.flower.run_config import RUN_CONFIG_KEY
from borderless.flower.warm import NODE_CONFIG_KEY
seen = []
client_app.call = lambda address, kind, content, rc, nc: seen.append(kind) or RecordDict()  # the worker's side
grid = DirectGrid(client_app.app, {100: {"language": "eng_Latn", NODE_CONFIG_KEY: "/worker"}},
                  {RUN_CONFIG_KEY: sys.stdin.read()})
replies = grid.send_and_receive([Message(RecordDict(), dst_node_id=100, message_type=t)
                                 for t in ("query", "train", "evaluate")])
print(json.dumps({"seen": seen, "errors": [r.has_error() for r in replies],
                  "heavy": sorted(m for m in ("torch", "transformers", "peft") if m in sys.modules)}))
"""


def test_the_whole_per_message_path_stays_torch_free(sib200_dir):
    """Issue 43: Flower starts a fresh ClientApp process per message; everything it runs for a message
    (mods, the run config's parsing and validation, the hand-over to the warm worker) must not import
    torch (it cost ~1.9 s of CPU per message per node through config.validate)."""
    import json

    (toml,) = run_config(flower_config(sib200_dir)).values()
    out = subprocess.run([sys.executable, "-c", PER_MESSAGE], input=toml, capture_output=True, text=True, check=True)
    got = json.loads(out.stdout)
    assert got["seen"] == ["query", "train", "evaluate"] and got["errors"] == [False, False, False]
    assert got["heavy"] == []


def test_launcher_arguments():
    warm, poll, rest = split_args(["--warm", "--poll-interval", "0.2", "--superlink", "h:1", "--node-config", 'language="x"'])
    assert (warm, poll) == (True, 0.2) and rest == ["--superlink", "h:1", "--node-config", 'language="x"']
    assert with_worker(rest, "/s/socket")[-1] == f'language="x" {NODE_CONFIG_KEY}="/s/socket"'
    assert with_worker(["--insecure"], "/s")[-2:] == ["--node-config", f'{NODE_CONFIG_KEY}="/s"']
    waits = ShorterWaits(0.01)
    import time

    t0 = time.monotonic()
    waits.sleep(3)
    assert time.monotonic() - t0 < 1 and waits.time() > 0  # other attributes are time's own


def test_supernode_argv_starts_the_launcher_with_the_deploy_settings(sib200_dir):
    from borderless.flower.deploy import supernode_argv

    cfg = flower_config(sib200_dir, "deploy.poll_interval_s=0.5")
    argv = supernode_argv(cfg, "hau_Latn", sib200_dir, None, None, insecure=True)
    assert argv[:3] == [sys.executable, "-m", "borderless.flower.supernode"]
    assert "--warm" in argv and argv[argv.index("--poll-interval") + 1] == "0.5"
    cold = supernode_argv(flower_config(sib200_dir, "deploy.warm_nodes=false"), "hau_Latn", sib200_dir, None, None,
                          insecure=True)
    assert "--warm" not in cold


def test_poll_interval_is_validated(sib200_dir):
    from borderless.config import ConfigError

    with pytest.raises(ConfigError, match="deploy.poll_interval_s"):
        flower_config(sib200_dir, "deploy.poll_interval_s=0")
