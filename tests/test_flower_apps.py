"""Flower's message path (ServerApp logic, Flower's ClientApp with its mods, protobuf-serialised
messages) on a tiny model, without processes: equivalence with the in-process federation, what the
messages carry, and what DP and SecAgg+ change in what the server sees."""

from __future__ import annotations

import json
import math
from pathlib import Path

import dp_accounting
import dp_accounting.rdp
import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from borderless.config import ConfigError
from flower_helpers import LANGS, assert_only_state_counts_metrics, direct_serve, flower_config, in_process


@pytest.fixture
def data3(sib200_dir: Path) -> Path:
    return sib200_dir  # eng_Latn, hau_Latn, amh_Ethi


def _replies(out: Path, round_: int) -> dict[str, dict[str, np.ndarray]]:
    """The train replies of one round, as the server received them: {language: {name: array}}."""
    found = {}
    for f in sorted((out / "messages").glob(f"*_r{round_}_train_*.npz")):
        lang = f.stem.split("_train_")[1]
        found.setdefault(lang, {}).update(dict(np.load(f)))
    return found


def test_flower_message_path_gives_the_in_process_global_state(data3, tmp_path):
    cfg = flower_config(data3)
    init, ref = in_process(cfg)
    summary = direct_serve(cfg, data3, tmp_path / "out")
    final = load_file(tmp_path / "out" / "final_state.safetensors")
    assert set(final) == set(ref[-1].state)
    for k in final:
        assert torch.allclose(final[k], ref[-1].state[k], atol=1e-6), k
        assert not torch.allclose(final[k], init[k]), f"{k} never trained: the comparison would prove nothing"
    # evaluation happened on the nodes, per language, and the results folder is complete
    assert set(summary["test_accuracy"]) == set(LANGS)
    for name in ("config.toml", "metrics.jsonl", "results.json", "report.md", "wire.jsonl", "plots/accuracy.png"):
        assert (tmp_path / "out" / name).exists(), name


def test_messages_carry_only_trainable_state_counts_and_metrics(data3, tmp_path):
    cfg = flower_config(data3)
    init, ref = in_process(cfg)
    summary = direct_serve(cfg, data3, tmp_path / "out")
    rows = [json.loads(l) for l in (tmp_path / "out" / "wire.jsonl").read_text().splitlines()]
    assert {r["type"] for r in rows} == {"query", "train", "evaluate", "train.probe", "evaluate.probe"}
    assert_only_state_counts_metrics(rows, init)
    # no training text and no token ids anywhere in the bytes the server received
    raw = b"".join(f.read_bytes() for f in (tmp_path / "out" / "messages").glob("*.npz"))
    for line in (data3 / "hau_Latn" / "train.tsv").read_text().splitlines()[1:6]:
        assert line.split("\t")[2].encode() not in raw
    for f in (tmp_path / "out" / "messages").glob("*.npz"):
        for a in np.load(f).values():
            assert a.dtype == np.float32, f"{f.name}: {a.dtype} array (token ids would be integers)"
    # the bytes reported are the measured message sizes: a train reply is the state plus a little framing
    state_bytes = summary["communication"]["state_bytes"]
    up = summary["communication"]["bytes_per_client_per_round_up"]
    measured = [r["bytes"] for r in rows if r["type"] == "train" and r["direction"] == "up"]
    assert up == sum(measured) / len(measured)
    assert state_bytes < up < state_bytes + 2000
    assert summary["communication"]["per_round"]["1"]["hau_Latn"]["up"] >= up  # train + dev evaluation reply


def test_plain_server_reads_each_update_secagg_server_only_the_sum(data3, tmp_path):
    _, ref = in_process(flower_config(data3))
    updates = {u.client_id: u.state for u in ref[0].updates}  # round 1, as each client computed it
    names = sorted(updates[LANGS[0]])

    # without SecAgg+: what the server received from each client IS that client's update
    direct_serve(flower_config(data3), data3, tmp_path / "plain")
    got = _replies(tmp_path / "plain", 1)
    for lang in LANGS:
        arrays = [got[lang][f"fitres.parameters/{i}"] for i in range(len(names))]
        for name, a in zip(names, arrays):
            np.testing.assert_allclose(a, updates[lang][name].numpy(), atol=1e-6)

    # with SecAgg+: no reply holds a readable state; the masked vectors look nothing like any update
    summary = direct_serve(flower_config(data3, "privacy.secagg=true"), data3, tmp_path / "secagg")
    got = _replies(tmp_path / "secagg", 1)
    assert set(got) == set(LANGS)
    for lang, arrays in got.items():
        assert not any(k.startswith("fitres.parameters/") for k in arrays), "a plain state reached the server"
        masked = [a for k, a in arrays.items() if "masked_params" in k]
        assert masked, f"{lang}: no masked vector captured"
        for m in masked:
            flat = m.astype(np.float64).ravel()
            for other in updates.values():
                for t in other.values():
                    v = t.numpy().astype(np.float64).ravel()
                    if v.size == flat.size:
                        assert not np.allclose(flat, v, atol=1e-2)
    # ...and yet the unmasked sum gives the same global state as plain FedAvg (up to quantisation)
    a = load_file(tmp_path / "plain" / "final_state.safetensors")
    b = load_file(tmp_path / "secagg" / "final_state.safetensors")
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-4), (k, float((a[k] - b[k]).abs().max()))
    assert summary["privacy"]["secagg"]["enabled"]


def test_local_dp_noises_what_the_server_sees_and_reports_epsilon(data3, tmp_path):
    _, ref = in_process(flower_config(data3))
    updates = {u.client_id: u.state for u in ref[0].updates}
    names = sorted(updates[LANGS[0]])
    # clip far above the update norms: the difference from the true update is then the noise alone
    cfg = flower_config(data3, 'privacy.mechanism="local"', "privacy.clip_norm=5.0", "privacy.noise_multiplier=4.0")
    summary = direct_serve(cfg, data3, tmp_path / "dp")
    got = _replies(tmp_path / "dp", 1)
    noise = np.concatenate([(got[l][f"fitres.parameters/{i}"] - updates[l][n].numpy()).ravel()
                            for l in LANGS for i, n in enumerate(names)])
    assert np.std(noise) == pytest.approx(4.0 * 5.0, rel=0.15)
    assert abs(np.mean(noise)) < 0.15 * 20.0
    dp = summary["privacy"]["dp"]
    want = dp_accounting.rdp.RdpAccountant()
    want.compose(dp_accounting.GaussianDpEvent(4.0 / 2), 2)  # sensitivity 2C, two rounds taken part in
    for lang in LANGS:
        g = dp["parties"][lang]
        assert g["steps"] == 2 and g["noise_multiplier"] == 4.0
        assert g["epsilon"] == pytest.approx(want.get_epsilon(1e-5), rel=1e-9)
    assert f"ε = {dp['epsilon']:.2f}" in (tmp_path / "dp" / "report.md").read_text()


def test_dp_sgd_runs_on_the_node_and_its_noise_is_the_nodes_own(data3, tmp_path):
    """Example-level DP over Flower: with negligible noise the replies are the in-process DP-SGD
    updates (same Poisson batches, same clipping, which bites); with real noise, two deployments of
    one config differ, because a node draws its noise from the OS, not from the config's seed."""
    # SGD: Adam would scale the 1e-11 noise in zero-gradient coordinates up to whole steps
    quiet = flower_config(data3, 'privacy.mechanism="example"', "privacy.clip_norm=0.01", "privacy.noise_multiplier=1e-9",
                          'train.optimizer="sgd"', "train.lr=1.0")
    _, ref = in_process(quiet)
    _, plain = in_process(flower_config(data3, 'train.optimizer="sgd"', "train.lr=1.0"))
    direct_serve(quiet, data3, tmp_path / "quiet")
    got = _replies(tmp_path / "quiet", 1)
    names = sorted(ref[0].updates[0].state)
    for u, p in zip(ref[0].updates, plain[0].updates):
        for i, n in enumerate(names):
            assert np.allclose(got[u.client_id][f"fitres.parameters/{i}"], u.state[n].numpy(), atol=1e-6)
        assert any(not torch.allclose(u.state[n], p.state[n], atol=1e-3) for n in names)  # DP-SGD is not plain SGD
    loud = flower_config(data3, 'privacy.mechanism="example"', "privacy.target_epsilon=2.0")
    direct_serve(loud, data3, tmp_path / "a")
    direct_serve(loud, data3, tmp_path / "b")
    a, b = _replies(tmp_path / "a", 1), _replies(tmp_path / "b", 1)
    assert all(not np.allclose(a[l][k], b[l][k]) for l in LANGS for k in a[l] if k.startswith("fitres.parameters"))
    assert all("train_loss" not in k for l in LANGS for k in a[l])  # the loss stays on the node


def test_client_level_dp_clips_on_the_node_and_the_server_noises(data3, tmp_path):
    cfg = flower_config(data3, 'privacy.mechanism="client"', "privacy.clip_norm=0.001", "privacy.noise_multiplier=1.0")
    summary = direct_serve(cfg, data3, tmp_path / "c")
    got = _replies(tmp_path / "c", 1)
    first, _ = in_process(flower_config(data3, "federated.rounds=1"))  # the initial state every node starts from
    names = sorted(first)
    for lang in LANGS:
        delta = np.concatenate([(got[lang][f"fitres.parameters/{i}"] - first[n].numpy()).ravel()
                                for i, n in enumerate(names)])
        assert np.linalg.norm(delta) <= 0.001 + 1e-5  # what left the node was clipped
    final = load_file(tmp_path / "c" / "final_state.safetensors")
    moved = np.concatenate([(final[n] - first[n]).numpy().ravel() for n in names])
    # two rounds of clipped means move it by at most 0.002; the noise, std 0.001/3 on each of ~650 values, by ~0.008
    assert np.linalg.norm(moved) > 0.005
    dp = summary["privacy"]["dp"]
    want = dp_accounting.rdp.RdpAccountant()
    want.compose(dp_accounting.GaussianDpEvent(1.0), 2)  # every client, every round: no sampling
    assert dp["epsilon"] == pytest.approx(want.get_epsilon(1e-5), rel=1e-9)
    assert {g["steps"] for g in dp["parties"].values()} == {2}


def test_privacy_settings_that_cannot_work_are_refused(data3, tmp_path):
    with pytest.raises(ConfigError, match="privacy.secagg"):
        flower_config(data3, "privacy.secagg=true", 'federated.aggregator="distance"')
    with pytest.raises(ConfigError, match="privacy.dp was replaced by privacy.mechanism"):
        flower_config(data3, "privacy.dp=true")
    with pytest.raises(ConfigError, match="privacy.secagg"):
        flower_config(data3, "privacy.secagg=true", 'privacy.mechanism="client"', "privacy.noise_multiplier=1.0")
    from borderless.flower.secagg import SecAggError

    cfg = flower_config(data3, "privacy.secagg=true", 'data.languages=["eng_Latn", "hau_Latn"]')
    with pytest.raises(SecAggError, match="at least 3 nodes"):
        direct_serve(cfg, data3, tmp_path / "two")
    assert (tmp_path / "two" / "wire.jsonl").exists()  # what was exchanged before the refusal is kept


def test_node_refuses_wrong_language_and_partition(data3):
    from borderless.flower.node import NodeConfigError, node_setup

    cfg = flower_config(data3)
    with pytest.raises(NodeConfigError, match="yor_Latn"):
        node_setup(cfg, {"language": "yor_Latn", "data-path": str(data3)})
    with pytest.raises(NodeConfigError, match="data-path"):
        node_setup(cfg, {"language": "hau_Latn"})
    with pytest.raises(NodeConfigError, match="partition"):
        node_setup(flower_config(data3, 'data.partition="iid"', 'run.paradigms=["federated"]'), {"language": "hau_Latn", "data-path": str(data3)})
