"""Flower's message path (ServerApp logic, Flower's ClientApp with its mods, protobuf-serialised
messages) on a tiny model, without processes: equivalence with the in-process federation, what the
messages carry, and what DP and SecAgg+ change in what the server sees."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from borderless.config import ConfigError
from borderless.flower.client_app import dp_noise_std
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
    assert {r["type"] for r in rows} == {"query", "train", "evaluate"}
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
    cfg = flower_config(data3, "privacy.dp=true", "privacy.dp_clip_norm=5.0", "privacy.dp_epsilon=0.5",
                        "privacy.dp_delta=1e-5")
    summary = direct_serve(cfg, data3, tmp_path / "dp")
    got = _replies(tmp_path / "dp", 1)
    noise = np.concatenate([(got[l][f"fitres.parameters/{i}"] - updates[l][n].numpy()).ravel()
                            for l in LANGS for i, n in enumerate(names)])
    expected = 2 * 5.0 * math.sqrt(2 * math.log(1.25 / 1e-5)) / 0.5
    assert dp_noise_std(cfg.privacy) == pytest.approx(expected)
    assert np.std(noise) == pytest.approx(expected, rel=0.15)
    assert abs(np.mean(noise)) < 0.15 * expected
    dp = summary["privacy"]["dp"]
    assert dp["epsilon_per_round"] == 0.5 and dp["rounds_participated"] == 2
    assert dp["epsilon_total"] == pytest.approx(1.0) and dp["delta_total"] == pytest.approx(2e-5)
    assert "ε = 1" in (tmp_path / "dp" / "report.md").read_text()


def test_privacy_settings_that_cannot_work_are_refused(data3, tmp_path):
    with pytest.raises(ConfigError, match="privacy.secagg"):
        flower_config(data3, "privacy.secagg=true", 'federated.aggregator="distance"')
    with pytest.raises(ConfigError, match="privacy.dp_epsilon"):
        flower_config(data3, "privacy.dp_epsilon=3.0")
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
