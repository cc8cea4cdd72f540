"""What a node does with each message: describe itself, train, evaluate. Message content in, reply
content out, so the same code answers in the ClientApp process itself (Flower's simulation engine,
tests) or in the node's warm worker (borderless.flower.warm) that the ClientApp hands the message to.
The setups (backbone, tokenized data, model) are built once per process and run config."""

from __future__ import annotations

import hashlib
import time
from typing import Any

from flwr.app import ConfigRecord, RecordDict

from borderless.flower import records
from borderless.flower.node import NodeSetup, config_from_run_config, node_setup

KINDS = ("query", "train", "evaluate")


class Setups:
    """The node's setup for the run in progress. A new run config replaces the old setup rather than
    adding to it, so a long-lived node holds one model whatever the number of runs it served."""

    def __init__(self) -> None:
        self.key: str | None = None
        self.setup: NodeSetup | None = None

    def get(self, run_config: dict[str, Any], node_config: dict[str, Any]) -> NodeSetup:
        key = hashlib.sha256(repr((sorted(run_config.items()), sorted(node_config.items()))).encode()).hexdigest()
        if key != self.key:
            self.setup = None  # free the previous run's model before building the next one
            self.setup = node_setup(config_from_run_config(dict(run_config)), dict(node_config))
            self.key = key
        assert self.setup is not None
        return self.setup


def describe(s: NodeSetup) -> RecordDict:
    """Which language this node holds and how many training examples: no text, no token ids."""
    info = ConfigRecord({"language": s.language, "num_examples": s.client.num_examples,
                         "labels": list(s.labels), "trainable_tensors": len(s.template)})
    return RecordDict({"node": info})


def train(s: NodeSetup, content: RecordDict) -> RecordDict:
    start, config = records.read_train_instruction(content, s.template)
    t0 = time.perf_counter()
    s.client.stream = s.fresh_stream(int(config["batches_before"]))
    prox_mu = s.cfg.federated.prox_mu if s.cfg.federated.aggregator == "fedprox" else 0.0
    update = s.client.fit(s.model, start, s.cfg.train, s.head_names, int(config["seed"]), prox_mu,
                          int(config["round"]), s.cfg.federated.rounds)
    metrics = {**update.metrics, "fit_s": time.perf_counter() - t0}
    return records.train_reply(update.state, update.num_examples, metrics)


def evaluate_split(s: NodeSetup, content: RecordDict) -> RecordDict:
    from borderless.train import evaluate
    from borderless.tuning.state import load_trainable_state

    state, split = records.read_evaluate_instruction(content, s.template)
    load_trainable_state(s.model, state)
    data = {"dev": s.dev, "test": s.test}[split]
    return records.evaluate_reply(evaluate(s.model, data, s.cfg.train.eval_batch_size))


def handle(setups: Setups, kind: str, content: RecordDict, run_config: dict[str, Any],
           node_config: dict[str, Any]) -> RecordDict:
    if kind not in KINDS:
        raise ValueError(f"unknown message kind {kind!r}; a borderless node answers {', '.join(KINDS)}")
    s = setups.get(run_config, node_config)
    if kind == "query":
        return describe(s)
    if kind == "train":
        return train(s, content)
    return evaluate_split(s, content)
