"""Threat model (b) of `borderless audit`: the server's view of each federated update. The run keeps
what the server saw (`run.keep_updates`: each round's start and every client's returned state), the
kept files are exactly what FedAvg averaged, and the audit scores each sentence by how much its
client's updates lowered its loss. Every combination the key cannot serve is refused by name."""

import json

import numpy as np
import pytest
import torch

from borderless import kept_states
from borderless.audit.command import audit
from borderless.audit.metrics import auc
from borderless.config import ConfigError, load_config
from borderless.flower.node import check_deployable
from borderless.flower.run_config import NodeConfigError
from conftest import tiny_config_text


@pytest.mark.slow  # a tiny federated audit: about 4 s here
def test_the_server_view_keeps_what_fedavg_averaged_and_attacks_it(sib200_dir, tmp_path, tiny_backbone):
    p = tmp_path / "c.toml"
    p.write_text(tiny_config_text(sib200_dir, extra='[run]\nparadigms = ["federated"]\n').replace("rounds = 2", "rounds = 3"))
    cfg = load_config(p, ["data.max_train_per_language=8", "train.stop=\"budget\""])
    out = audit(cfg, tmp_path / "a", backbone=tiny_backbone, progress=False, bootstrap_rounds=20, server_view=True)
    run = tmp_path / "a" / "run"
    assert load_config(run / "config.toml").run.keep_updates  # the audited run kept the updates
    rounds = kept_states.kept_updates(run)
    langs = list(cfg.data.languages)
    assert sorted(rounds) == [1, 2, 3] and all(set(f) == {"start", *langs} for f in rounds.values())
    results = json.loads((run / "results.json").read_text())
    n = {l: results["examples"][l]["train"] for l in langs}
    for r in (1, 2):  # the next round starts from the example-weighted mean of this round's kept updates
        ups = {l: kept_states.load(run, rounds[r][l])[0] for l in langs}
        nxt, _ = kept_states.load(run, rounds[r + 1]["start"])
        for k, v in nxt.items():
            mean = sum(n[l] * ups[l][k].double() for l in langs) / sum(n.values())
            torch.testing.assert_close(v.double(), mean, rtol=1e-5, atol=1e-6)
        assert any(not torch.equal(ups[langs[0]][k], ups[langs[1]][k]) for k in nxt)  # clients differ
    v = out["server_view"]
    assert 0 <= v["auc"] <= 1 and v["auc_ci95"][0] <= v["auc"] <= v["auc_ci95"][1]
    kept = np.load(tmp_path / "a" / "scores.npz")
    assert auc(kept["federated.server_view.members"], kept["federated.server_view.non_members"]) == v["auc"]
    assert v["rounds_seen"] == {l: 3 for l in langs} and len(v["per_round_auc"]) == 3
    assert set(v["per_language_auc"]) == set(langs)
    assert "## Threat model (b): the server's view of each update" in (tmp_path / "a" / "audit.md").read_text()
    with pytest.raises(ConfigError, match=r"ran with another config \(run.keep_updates differ"):
        audit(cfg, tmp_path / "a", backbone=tiny_backbone, progress=False)  # the same folder without the view


def test_keep_updates_is_refused_where_it_cannot_act(sib200_dir, tmp_path):
    p = tmp_path / "c.toml"
    p.write_text(tiny_config_text(sib200_dir))
    base = ["run.keep_updates=true"]
    with pytest.raises(ConfigError, match=r"run.keep_updates: keeps the federated paradigm's updates"):
        load_config(p, base + ['run.paradigms=["monolingual"]'])
    with pytest.raises(ConfigError, match=r"run.keep_updates: the updates are kept beside the run's states"):
        load_config(p, base + ["run.keep_states=false"])
    with pytest.raises(ConfigError, match=r"run.keep_updates: with federated.local_head"):
        load_config(p, base + ["federated.local_head=true"])
    with pytest.raises(ConfigError, match=r'run.keep_updates: with federated.aggregator = "distance"'):
        load_config(p, base + ['federated.aggregator="distance"'])
    with pytest.raises(NodeConfigError, match=r"run.keep_updates: a deployment's server does not keep"):
        check_deployable(load_config(p, base))


def test_the_server_view_needs_language_clients_and_the_federated_paradigm(sib200_dir, tmp_path, tiny_backbone):
    p = tmp_path / "c.toml"
    p.write_text(tiny_config_text(sib200_dir, extra='[run]\nparadigms = ["monolingual"]\n'))
    with pytest.raises(ConfigError, match=r"--server-view attacks the federated paradigm's updates"):
        audit(load_config(p), tmp_path / "a", backbone=tiny_backbone, progress=False, server_view=True)
    assert not (tmp_path / "a").exists()  # refused before anything was written
