"""What a node does with each message: describe itself, train, evaluate; fit and evaluate the
federated probe's head on its cached features; adapt the federation's state on its own data
(federated + personal, the state kept on the node). Message content in, reply content out, so the same code answers in the ClientApp process itself (Flower's simulation engine,
tests) or in the node's warm worker (borderless.flower.warm) that the ClientApp hands the message to.
The setups (backbone, tokenized data, model) are built once per process and run config."""

from __future__ import annotations

import hashlib
import time
from typing import Any

from flwr.app import ConfigRecord, MetricRecord, RecordDict

from borderless.flower import records
from borderless.flower.node import NodeSetup, config_from_run_config, node_setup

KINDS = ("query", "train", "evaluate", "train.probe", "evaluate.probe", "evaluate.personal_probe", "train.personal")


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
    """Which language this node holds and how many training examples, and its baseline's test scores
    (the majority class; a token task's most frequent tag per word): no text, no token ids."""
    info = ConfigRecord({"language": s.language, "num_examples": s.client.num_examples,
                         "labels": list(s.labels), "trainable_tensors": len(s.template),
                         "test_majority": float(s.baseline["accuracy"])})
    return RecordDict({"node": info, "majority": MetricRecord({k: float(v) for k, v in s.baseline.items()})})


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


def probe_fit(s: NodeSetup, content: RecordDict) -> RecordDict:
    """A few L-BFGS iterations of each candidate head (one per weight decay) from the global head, on
    this node's own cached features (borderless.probe.fit_logreg, as in `borderless run`)."""
    from borderless.probe import fit_logreg

    heads, conf = records.read_probe_instruction(content, len(s.labels))
    wds, fitted, n = conf["weight_decays"], [], 0
    for i, head in enumerate(heads):  # candidates: feature kind × weight decay
        x, y, m = s.features(str(conf["features"][i // len(wds)])).client_xy(s.language)
        fitted.append(fit_logreg(x, y, len(s.labels), float(wds[i % len(wds)]), init=head,
                                 max_iter=int(conf["iters"]), mask=m))
        n = len(y)
    return records.probe_reply(fitted, n)


def probe_evaluate(s: NodeSetup, content: RecordDict) -> RecordDict:
    """Each candidate head on this node: its dev score in the run's metric (what chooses the weight
    decay) and, on frozen features, every test metric (``<i>.test.<metric>``)."""
    heads, conf = records.read_probe_instruction(content, len(s.labels))
    out = {}
    for i, head in enumerate(heads):
        data = s.features(str(conf["features"][i // len(conf["weight_decays"])]))
        if (s.language, "dev") in data.x:
            out[f"{i}.dev"] = data.score(head, s.language, "dev")
        if (s.language, "test") in data.x:
            out |= {f"{i}.test.{m}": v for m, v in test_metrics(data, head, s.language).items()}
    return records.metrics_reply(out)


def test_metrics(data, head, lang: str) -> dict[str, float]:
    """Every test metric of a probe head, accuracy counted exactly (borderless.probe._evaluate)."""
    from borderless.probe import accuracy

    return data.metrics(head, lang, "test") | {"accuracy": accuracy(head, *data.xym(lang, "test"))}


def personal_probe(s: NodeSetup, content: RecordDict) -> RecordDict:
    """The floor of federated + personal: this node continues the federated probe's head on its own
    features and keeps what its dev split prefers (borderless.probe.personalised_probe)."""
    from borderless.probe import Probe, personalised_probe

    heads, conf = records.read_probe_instruction(content, len(s.labels))
    data = s.features("frozen")
    fed = Probe("federated", {s.language: heads[0]}, {"all": float(conf["weight_decays"][0])}, {})
    p = personalised_probe(data, fed, tuple(int(i) for i in conf["iters"]))
    return records.metrics_reply({"dev": p.dev_score[s.language],
                                  **{f"test.{m}": v for m, v in p.test_metrics[s.language].items()}})


def personal(s: NodeSetup, content: RecordDict) -> RecordDict:
    """Federated + personal on this node: the federation's state adapted on the node's own data, its
    steps chosen on the node's dev split (borderless.paradigms.personalise, as in `borderless run`).
    The personal state is saved in the node's states folder and never sent; the reply holds scores."""
    from borderless.paradigms import personalise

    start, config = records.read_train_instruction(content, s.template)
    s.client.stream = s.fresh_stream(int(config["batches_before"]))
    t0 = time.perf_counter()
    out = personalise(s.model, s.client, start, s.dev, s.test, s.cfg, s.head_names)
    saved = 0
    if s.states_dir is not None:
        save_personal_state(s, out)
        saved = 1
    metrics = {"personal_steps": out.best_step, "personal_trained": out.trained, "train_examples": out.train_examples,
               "dev_score": out.dev_score, "saved_on_node": saved, "personal_s": time.perf_counter() - t0,
               **{f"test.{k}": v for k, v in out.test.items()},
               **{f"dev_at.{k}": v for k, v in out.dev_curve.items()}}
    return records.metrics_reply(metrics)


def save_personal_state(s: NodeSetup, out) -> None:
    """<states-dir>/<language>/personal_state.safetensors and a note of what it is (written whole)."""
    import json

    from borderless import atomic_files

    folder = s.states_dir / s.language
    folder.mkdir(parents=True, exist_ok=True)
    atomic_files.save_safetensors(out.state, folder / "personal_state.safetensors")
    atomic_files.write_text(folder / "personal_state.json", json.dumps({
        "language": s.language, "method": s.cfg.method.name, "backbone": s.cfg.backbone.name,
        "personal_steps": out.best_step, "dev_score": out.dev_score, "test": out.test,
        "note": "federated + personal: this node's own adaptation of the federation's state; it never left the node"},
        indent=2))


def handle(setups: Setups, kind: str, content: RecordDict, run_config: dict[str, Any],
           node_config: dict[str, Any]) -> RecordDict:
    if kind not in KINDS:
        raise ValueError(f"unknown message kind {kind!r}; a borderless node answers {', '.join(KINDS)}")
    s = setups.get(run_config, node_config)
    if kind == "query":
        return describe(s)
    if kind == "train":
        return train(s, content)
    if kind == "train.probe":
        return probe_fit(s, content)
    if kind == "evaluate.probe":
        return probe_evaluate(s, content)
    if kind == "evaluate.personal_probe":
        return personal_probe(s, content)
    if kind == "train.personal":
        return personal(s, content)
    return evaluate_split(s, content)
