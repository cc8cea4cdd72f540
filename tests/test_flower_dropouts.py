"""Dropouts over Flower's message path (the real ClientApp, messages serialised as on the wire, no
processes): with federated.min_clients a round goes on without a node that does not answer, the
absent node is logged per round, and a node that comes back (a new node id, the same language)
takes part again from where its batch stream stopped. The same with real SuperNode processes is in
tests/test_flower_deploy.py."""

from __future__ import annotations

import json

import pytest
import torch
from flwr.app import Context, Error, Message, MessageType, RecordDict

from borderless.flower import client_app, server_app
from borderless.flower.direct_grid import DirectGrid
from flower_helpers import LANGS, flower_config, run_config


@pytest.fixture
def data3(sib200_dir):
    return sib200_dir  # eng_Latn, hau_Latn, amh_Ethi


class FlakyGrid(DirectGrid):
    """Nodes in ``dead`` never answer (as a killed SuperNode); ``restart`` brings a language back
    under a new node id, as a restarted SuperNode registers anew."""

    def __init__(self, cfg, data):
        self.node_config = {100 + i: {"language": l, "data-path": str(data)} for i, l in enumerate(LANGS)}
        super().__init__(client_app.app, self.node_config, run_config(cfg))
        self.dead: set[int] = set()
        self.failing: set[int] = set()  # these answer with an error reply (the ClientApp crashed)
        self.sent: list[tuple[str, str, int]] = []  # (language, message type, batches_before) of every train message

    def kill(self, lang: str) -> None:
        self.dead.add(next(n for n, c in self.node_config.items() if c["language"] == lang and n not in self.dead))

    def restart(self, lang: str) -> int:
        nid = max(self.contexts) + 1
        self.node_config[nid] = {"language": lang, "data-path": self.node_config[100]["data-path"]}
        run_cfg = next(iter(self.contexts.values())).run_config
        self.contexts[nid] = Context(run_id=self.run_id, node_id=nid, node_config=dict(self.node_config[nid]),
                                     state=RecordDict(), run_config=dict(run_cfg))
        return nid

    def _deliver(self, msg):
        if msg.metadata.dst_node_id in self.failing:
            reply = Message(error=Error(code=0, reason="ClientApp crashed"), reply_to=msg)
            reply.metadata.__dict__["_src_node_id"] = msg.metadata.dst_node_id
            return reply
        return super()._deliver(msg)

    def get_node_ids(self):
        return [n for n in self.contexts if n not in self.dead]

    def send_and_receive(self, messages, *, timeout=None):
        alive = []
        for m in messages:
            if m.metadata.message_type == MessageType.TRAIN:
                lang = self.node_config[m.metadata.dst_node_id]["language"]
                before = int(m.content.config_records["fitins.config"]["batches_before"])
                self.sent.append((lang, m.metadata.group_id, before))
            if m.metadata.dst_node_id not in self.dead:
                alive.append(m)
        return super().send_and_receive(alive, timeout=timeout)


def test_a_round_goes_on_without_a_dead_node_and_the_node_rejoins(data3, tmp_path):
    cfg = flower_config(data3, "federated.rounds=4", "federated.min_clients=2", "federated.eval_every=1")
    grid = FlakyGrid(cfg, data3)
    said = []

    def say(msg: str) -> None:
        said.append(msg)
        if msg.startswith("round 1/"):
            grid.kill("hau_Latn")  # killed after round 1 (its dev evaluation and round 2 go without it)
        if msg.startswith("round 2/"):
            grid.restart("hau_Latn")  # back before round 3

    summary = server_app.serve(grid, cfg, tmp_path / "out", say=say)
    took = {r["round"]: sorted(r["took_part"]) for r in summary["participation"]}
    assert took == {1: sorted(LANGS), 2: ["amh_Ethi", "eng_Latn"], 3: sorted(LANGS), 4: sorted(LANGS)}
    absent = {r["round"]: r["absent"] for r in summary["participation"]}
    assert list(absent[2]) == ["hau_Latn"] and "no reply" in absent[2]["hau_Latn"]
    assert absent[1] == absent[3] == absent[4] == {}
    # the batch stream resumes where it stopped: hau trained in round 1 only, so round 3 starts at 2 batches
    hau = [(rnd, before) for lang, rnd, before in grid.sent if lang == "hau_Latn"]
    assert hau == [("1", 0), ("2", 2), ("3", 2), ("4", 4)]
    assert set(summary["test_accuracy"]) == set(LANGS) and summary["absent_at_test"] == []
    assert any("hau_Latn is back" in m for m in said)
    report = (tmp_path / "out" / "report.md").read_text()
    assert "## Who took part" in report and "| 2 | eng_Latn, amh_Ethi | hau_Latn (no reply" in report


def test_too_few_answers_stop_the_run_naming_the_silent_languages(data3, tmp_path):
    cfg = flower_config(data3, "federated.rounds=3", "federated.min_clients=2", "federated.eval_every=0")
    grid = FlakyGrid(cfg, data3)

    def say(msg: str) -> None:
        if msg.startswith("round 1/"):
            grid.kill("hau_Latn")
            grid.kill("amh_Ethi")

    with pytest.raises(server_app.DeploymentError, match=r"round 2: 1 of 3 nodes answered, 2 needed \("
                                                          r"hau_Latn: no reply.*amh_Ethi: no reply"):
        server_app.serve(grid, cfg, tmp_path / "out", say=say)


def test_without_min_clients_a_silent_node_stops_the_run_and_says_how_to_go_on(data3, tmp_path):
    cfg = flower_config(data3, "federated.rounds=2", "federated.eval_every=0")
    grid = FlakyGrid(cfg, data3)
    grid.kill("amh_Ethi")
    grid.dead.discard(102)  # answers the start-up query ...
    grid.get_node_ids = lambda: list(grid.contexts)

    def say(msg: str) -> None:
        if msg.startswith("all 3 languages connected"):
            grid.dead.add(102)  # ... then goes silent before round 1

    with pytest.raises(server_app.DeploymentError, match=r"round 1: 2 of 3 nodes answered, 3 needed.*"
                                                          r"federated\.min_clients"):
        server_app.serve(grid, cfg, tmp_path / "out", say=say)


def test_a_node_that_answers_with_an_error_is_absent_and_named(data3, tmp_path):
    cfg = flower_config(data3, "federated.rounds=2", "federated.min_clients=2", "federated.eval_every=0")
    grid = FlakyGrid(cfg, data3)

    def say(msg: str) -> None:
        if msg.startswith("all 3 languages connected"):
            grid.failing.add(101)  # hau_Latn

    summary = server_app.serve(grid, cfg, tmp_path / "out", say=say)
    assert [r["absent"] for r in summary["participation"]] == [{"hau_Latn": "the node failed: ClientApp crashed"}] * 2
    assert summary["absent_at_test"] == ["hau_Latn"] and set(summary["test_accuracy"]) == {"eng_Latn", "amh_Ethi"}
    wire = [json.loads(x) for x in (tmp_path / "out" / "wire.jsonl").read_text().splitlines()]
    assert any(r.get("error") == "ClientApp crashed" and r["bytes"] == 0 for r in wire)


@pytest.mark.slow
def test_a_stopped_federation_resumes_to_the_same_state(data3, tmp_path):
    """The server checkpoints after every round; `deploy run --resume` continues after the last one,
    with fresh node processes, to the same final state and results as an uninterrupted run."""
    from safetensors.torch import load_file

    from borderless.checkpoint import NAME, CheckpointError

    cfg = flower_config(data3, "federated.rounds=3", 'federated.aggregator="fedavgm"', "federated.eval_every=1")
    whole = server_app.serve(FlakyGrid(cfg, data3), cfg, tmp_path / "whole", say=lambda m: None)

    class Stop(Exception):
        pass

    def stop_in_round_2(msg: str) -> None:
        if msg.startswith("round 2/"):
            raise Stop  # the server process dies during round 2 (after round 1's checkpoint)

    cut = tmp_path / "cut"
    with pytest.raises(Stop):
        server_app.serve(FlakyGrid(cfg, data3), cfg, cut, say=stop_in_round_2)
    assert (cut / NAME).exists() and not (cut / "results.json").exists()
    said = []
    again = server_app.serve(FlakyGrid(cfg, data3), cfg, cut, say=said.append, resume=True)
    assert "resuming after round 1 of 3" in said
    a, b = load_file(tmp_path / "whole" / "final_state.safetensors"), load_file(cut / "final_state.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)  # bit for bit
    assert again["test_accuracy"] == whole["test_accuracy"]
    assert [r["round"] for r in again["participation"]] == [1, 2, 3]
    rows = [(tmp_path / d / "metrics.jsonl").read_text().splitlines() for d in ("whole", "cut")]
    strip = [[{k: v for k, v in json.loads(x).items() if "time" not in k and not k.endswith("_s")} for x in r] for r in rows]
    assert strip[0] == strip[1]
    assert not (cut / NAME).exists()
    with pytest.raises(Stop):  # stopped again; resuming with another config is refused, naming the key
        server_app.serve(FlakyGrid(cfg, data3), cfg, tmp_path / "cut2", say=stop_in_round_2)
    other = flower_config(data3, "federated.rounds=3", 'federated.aggregator="fedavgm"', "federated.eval_every=1",
                          "train.lr=0.5")
    with pytest.raises(CheckpointError, match=r"another config \(differs in train\.lr\)"):
        server_app.serve(FlakyGrid(other, data3), other, tmp_path / "cut2", resume=True)
