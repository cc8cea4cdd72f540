"""Shared by the Flower tests: a 3-language tiny config and the in-process reference federation."""

from __future__ import annotations

from pathlib import Path

import tomli_w

from borderless.backbones.resolve import load_backbone
from borderless.config import Config, load_config
from borderless.federated.simulation import run_rounds
from borderless.paradigms import make_clients
from borderless.runner import build_workload
from borderless.tuning.factory import build_classifier
from borderless.tuning.state import trainable_state

LANGS = ("eng_Latn", "hau_Latn", "amh_Ethi")


def flower_config(data: Path, *overrides: str, superlink: str = "127.0.0.1:9093") -> Config:
    langs = ", ".join(f'"{l}"' for l in LANGS)
    return load_config(None, [f'data.path="{data}"', f"data.languages=[{langs}]", "backbone.name=tiny-random",
                              "method.num_virtual_tokens=3", "train.batch_size=4", "train.local_steps=2",
                              "train.lr=0.05", "federated.rounds=2", f'deploy.superlink="{superlink}"',
                              "deploy.wait_for_nodes_s=120", 'method.head_init="random"', 'train.stop="budget"',
                              'run.paradigms=["federated"]', "probe.weight_decays=[0.001, 0.1]", "probe.federated_rounds=3",
                              *overrides])


def in_process(cfg: Config):
    """The reference: `borderless run`'s own federation in this process. Returns (init, round results)."""
    backbone = load_backbone(cfg.backbone.name, Path("."))
    max_length = min(cfg.backbone.max_length, backbone.model.config.max_position_embeddings - cfg.method.num_virtual_tokens)
    work, labels = build_workload(cfg, backbone, max_length)
    model = build_classifier(backbone.model, backbone.hidden_size, len(labels), cfg.method, cfg.run.seed)
    init = trainable_state(model)
    results = list(run_rounds(model, make_clients(work, cfg), init, cfg.train, cfg.federated,
                              model.head_parameter_names(), cfg.run.seed, distances=work.distances))
    model.release()
    return init, results


def run_config(cfg: Config) -> dict:
    from borderless.flower.node import RUN_CONFIG_KEY

    return {RUN_CONFIG_KEY: tomli_w.dumps(cfg.to_dict())}


def direct_serve(cfg: Config, data: Path, out: Path, keep_messages: bool = True) -> dict:
    """The Flower ServerApp logic and Flower's ClientApp (with mods), messages serialised as on the wire."""
    from borderless.flower import client_app, server_app
    from borderless.flower.direct_grid import DirectGrid

    grid = DirectGrid(client_app.app, {100 + i: {"language": l, "data-path": str(data)}
                                       for i, l in enumerate(cfg.data.languages)}, run_config(cfg))
    return server_app.serve(grid, cfg, out, keep_messages=keep_messages, say=lambda m: None)


ALLOWED_CONFIG = {"fitins.config": {"round", "seed", "batches_before"}, "fitres.metrics": None,
                  "fitres.status": {"code", "message"}, "evaluateins.config": {"split"},
                  "node": {"language", "num_examples", "labels", "trainable_tensors", "test_majority"},
                  "probe.config": {"features", "weight_decays", "iters"}}


def assert_only_state_counts_metrics(rows: list[dict], init) -> None:
    """Every logged message (wire.jsonl rows) carries only the trainable tensors (exact shapes,
    float32), example counts, numeric metrics and the few named settings: no text, no token ids."""
    shapes = sorted(list(t.shape) for t in init.values())
    head_shapes = {k: list(init[k].shape) for k in ("head.weight", "head.bias")}
    for r in rows:
        for name, rec in r["records"].items():
            if rec["kind"] == "arrays" and name == "probe.heads":  # the federated probe: candidate heads only
                for key, a in rec["items"].items():
                    index, _, tensor = key.partition(".")
                    assert index.isdigit() and a["shape"] == head_shapes[tensor] and a["dtype"] == "float32", key
            elif rec["kind"] == "arrays":
                assert name in ("fitins.parameters", "fitres.parameters", "evaluateins.parameters"), name
                assert sorted(a["shape"] for a in rec["items"].values()) == shapes  # exactly the trainable tensors
                assert {a["dtype"] for a in rec["items"].values()} == {"float32"}
            elif rec["kind"] == "metrics":
                assert set(rec["items"].values()) <= {"float", "int"}, rec
            else:
                assert name in ALLOWED_CONFIG, name
                if ALLOWED_CONFIG[name] is not None:
                    assert set(rec["items"]) <= ALLOWED_CONFIG[name], (name, rec["items"])
                else:  # training metrics: numbers only
                    assert set(rec["items"].values()) <= {"float", "int"}, rec
