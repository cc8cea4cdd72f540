"""Flower's deployment runtime for real: a SuperLink and three SuperNodes as separate processes on
127.0.0.1, TLS and SuperNode authentication on, a tiny model. Traffic goes to loopback only, and
every process is stopped by PID (the fixture's finally), also when a test fails."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from borderless.flower.deploy import DeployError, LocalDeployment, supernode_argv
from borderless.flower.processes import free_port
from conftest import write_language
from flower_helpers import LANGS, assert_only_state_counts_metrics, flower_config, in_process

pytestmark = pytest.mark.deploy


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    root = tmp_path_factory.mktemp("deploy")
    data = root / "sib200"
    for lang in LANGS:
        write_language(data, lang)
    cfg = flower_config(data, "federated.eval_every=0", superlink=f"127.0.0.1:{free_port()}")
    dep = LocalDeployment(cfg, data, root / "work")
    try:
        dep.start()
        yield dep, cfg, root
    finally:
        dep.stop()
    assert dep.procs.alive() == [], "a Flower process outlived the deployment"


def test_deployed_federation_gives_the_in_process_state(deployment):
    dep, cfg, root = deployment
    assert len(dep.node_ids) == 3  # three keys registered with the SuperLink
    summary = dep.run(root / "plain", timeout=600, echo=False)
    init, ref = in_process(cfg)
    final = load_file(root / "plain" / "final_state.safetensors")
    for k in final:
        assert torch.allclose(final[k], ref[-1].state[k], atol=1e-6), (k, float((final[k] - ref[-1].state[k]).abs().max()))
        assert not torch.allclose(final[k], init[k])
    rows = [json.loads(l) for l in (root / "plain" / "wire.jsonl").read_text().splitlines()]
    assert_only_state_counts_metrics(rows, init)  # the real traffic the ServerApp exchanged via the SuperLink
    for rnd in (1, 2):
        senders = {r["language"] for r in rows if r["round"] == rnd and r["type"] == "train" and r["direction"] == "up"}
        assert senders == set(LANGS)
    assert summary["communication"]["bytes_per_client_per_round_up"] > summary["communication"]["state_bytes"]
    assert len(summary["round_wall_s"]) == 2


def test_secagg_over_the_deployment_matches_in_process_fedavg(deployment):
    dep, cfg, root = deployment
    from borderless.config import with_overrides
    from borderless.flower.deploy import submit

    secure = with_overrides(cfg, ["privacy.secagg=true", "federated.rounds=1"])  # 4 message exchanges a round
    summary = submit(secure, root / "secagg", dep.ca, False, timeout=600, echo=False)
    _, ref = in_process(with_overrides(cfg, ["federated.rounds=1"]))  # the same one-round schedule
    final = load_file(root / "secagg" / "final_state.safetensors")
    for k in final:
        assert torch.allclose(final[k], ref[0].state[k], atol=1e-4), k
    assert summary["privacy"]["secagg"]["enabled"]
    rows = [json.loads(l) for l in (root / "secagg" / "wire.jsonl").read_text().splitlines()]
    replies = [r for r in rows if r["type"] == "train" and r["direction"] == "up"]
    assert all(not r["records"].get("fitres.parameters", {}).get("items") for r in replies)


def _wait_exit(proc, seconds: float) -> int | None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.5)
    return proc.poll()


def test_unregistered_node_is_refused(deployment):
    dep, cfg, root = deployment
    proc = dep.start_node("hau_Latn", key_name="intruder", register_key=False, max_wait_s=15)
    code = _wait_exit(proc, 120)
    log = dep.procs.log("node-intruder").read_text(errors="replace")
    dep.procs.stop("node-intruder")
    assert code not in (None, 0), f"an unregistered node was not refused:\n{log[-1500:]}"
    assert "Failed" in log or "failed" in log


def test_node_without_tls_cannot_join(deployment):
    dep, cfg, root = deployment
    argv = supernode_argv(cfg, "hau_Latn", dep.data, None, None, insecure=True, max_wait_s=15)
    proc = dep.procs.start("plaintext", argv, env={"FLWR_HOME": str(root / "work" / "home" / "plaintext")})
    code = _wait_exit(proc, 120)
    dep.procs.stop("plaintext")
    assert code not in (None, 0)


def test_failed_start_stops_what_it_started(tmp_path):
    data = tmp_path / "sib200"
    write_language(data, "eng_Latn")  # hau_Latn and amh_Ethi are missing: their nodes cannot start
    cfg = flower_config(data, superlink=f"127.0.0.1:{free_port()}")
    dep = LocalDeployment(cfg, data, tmp_path / "work")
    with pytest.raises(DeployError, match="hau_Latn"):
        with dep:
            pass
    assert (tmp_path / "work" / "logs" / "superlink.log").exists()  # the SuperLink had started...
    assert dep.procs.alive() == []  # ...and was stopped by PID


def test_simulation_engine_gives_the_in_process_state(tmp_path):
    """The same app on Flower's simulation engine (Ray, virtual SuperNodes)."""
    from borderless.flower.deploy import simulate

    data = tmp_path / "sib200"
    for lang in LANGS:
        write_language(data, lang)
    cfg = flower_config(data, "federated.eval_every=0")
    summary = simulate(cfg, tmp_path / "out", tmp_path / "work", timeout=600, echo=False)
    init, ref = in_process(cfg)
    final = load_file(tmp_path / "out" / "final_state.safetensors")
    for k in final:
        assert torch.allclose(final[k], ref[-1].state[k], atol=1e-6), k
        assert not torch.allclose(final[k], init[k])
    assert set(summary["test_accuracy"]) == set(LANGS)
    leftovers = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _cmdline(p) and
                 any(w in _cmdline(p) for w in ("raylet", "gcs_server", "flwr-simulation"))]
    assert not leftovers, [_cmdline(p) for p in leftovers]


def _cmdline(proc_dir: Path) -> str:
    try:
        if (proc_dir / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return ""
        return (proc_dir / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def test_a_killed_node_is_absent_for_a_round_then_takes_part_again(deployment):
    """federated.min_clients = 2 of 3: hau_Latn's SuperNode is killed after round 1, the run goes on
    without it, it is restarted (its registered key, so the same node id) and answers again."""
    import threading

    from borderless.config import with_overrides
    from borderless.flower.deploy import submit

    dep, cfg, root = deployment
    flaky = with_overrides(cfg, ["federated.rounds=5", "federated.min_clients=2", "deploy.round_timeout_s=60"])
    out = root / "dropout"
    seen: dict[str, float] = {}

    def rows() -> list[dict]:
        path = out / "metrics.jsonl"
        return [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.exists() else []

    def wait_for(cond, seconds: float = 300) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if any(cond(r) for r in rows()):
                return True
            time.sleep(0.2)
        return False

    def chaos() -> None:
        if wait_for(lambda r: r.get("round") == 1 and r.get("client") == "hau_Latn" and "absent" not in r):
            dep.procs.stop("node-hau_Latn", grace=0)  # SIGTERM, then SIGKILL at once
            seen["killed"] = time.monotonic()
        if wait_for(lambda r: r.get("absent") and r.get("client") == "hau_Latn"):
            dep.restart_node("hau_Latn")  # waits out the SuperLink's hold on the killed session (<= 60 s)
            seen["restarted"] = time.monotonic()

    watcher = threading.Thread(target=chaos, daemon=True)
    watcher.start()
    try:
        summary = submit(flaky, out, dep.ca, False, timeout=600, echo=False)
    finally:
        watcher.join(timeout=5)
        if dep.procs.procs.get("node-hau_Latn") is None or dep.procs.procs["node-hau_Latn"].poll() is not None:
            dep.restart_node("hau_Latn")  # the module's other tests need it
    assert "killed" in seen and "restarted" in seen, seen
    took = {r["round"]: set(r["took_part"]) for r in summary["participation"]}
    assert took[1] == set(LANGS) and took[2] == set(LANGS) - {"hau_Latn"}
    assert "hau_Latn" in summary["participation"][1]["absent"]
    assert "hau_Latn" in took[4] | took[5], summary["participation"]  # back, resuming its batch stream
    assert set(summary["test_accuracy"]) == set(LANGS)
    assert "## Who took part" in (out / "report.md").read_text()
