"""The ClientApp every SuperNode runs: borderless's own ``Client.fit`` and ``evaluate`` behind
Flower's message API. Replies carry the trainable state, the example count and scalar metrics.

Privacy mods come from the run's ``[privacy]`` config: SecAgg+ (Flower's ``secaggplus_mod``)
masks the reply so the server can only unmask the sum; local DP (Flower's ``LocalDpMod``) clips the
update and adds Gaussian noise before it leaves the node (inside the SecAgg+ mask when both are on).
"""

from __future__ import annotations

import hashlib
import time

from flwr.app import ConfigRecord, Context, Message, RecordDict
from flwr.client.mod import LocalDpMod, secaggplus_mod
from flwr.clientapp import ClientApp

from borderless.config import Config, PrivacyConfig
from borderless.flower import records
from borderless.flower.node import NodeSetup, config_from_run_config, node_setup
from borderless.train import evaluate

_SETUPS: dict[str, NodeSetup] = {}  # one per (run config, node config) in this process


def setup_for(context: Context) -> NodeSetup:
    key = hashlib.sha256(repr((sorted(context.run_config.items()), sorted(context.node_config.items()))).encode()).hexdigest()
    if key not in _SETUPS:
        _SETUPS[key] = node_setup(config_from_run_config(dict(context.run_config)), dict(context.node_config))
    return _SETUPS[key]


def dp_noise_std(p: PrivacyConfig) -> float:
    """The std of LocalDpMod's Gaussian noise: sensitivity · sqrt(2 ln(1.25/δ)) / ε, sensitivity = 2·clip
    (a client's clipped update can be anywhere in a ball of radius clip)."""
    import math

    return 2 * p.dp_clip_norm * math.sqrt(2 * math.log(1.25 / p.dp_delta)) / p.dp_epsilon


def local_dp_mod(p: PrivacyConfig) -> LocalDpMod:
    return LocalDpMod(clipping_norm=p.dp_clip_norm, sensitivity=2 * p.dp_clip_norm, epsilon=p.dp_epsilon,
                      delta=p.dp_delta)


def privacy_mod(msg: Message, context: Context, call_next):
    """Apply the mods the run's config switches on (Flower fixes a ClientApp's mods at import;
    the config arrives with each run)."""
    cfg: Config = config_from_run_config(dict(context.run_config))
    inner = call_next
    if cfg.privacy.dp:
        dp = local_dp_mod(cfg.privacy)
        inner = (lambda m, c, nxt=call_next: dp(m, c, nxt))
    if cfg.privacy.secagg:
        return secaggplus_mod(msg, context, inner)
    return inner(msg, context)


app = ClientApp(mods=[privacy_mod])


@app.query()
def describe(msg: Message, context: Context) -> Message:
    """Which language this node holds and how many training examples: no text, no token ids."""
    s = setup_for(context)
    info = ConfigRecord({"language": s.language, "num_examples": s.client.num_examples,
                         "labels": list(s.labels), "trainable_tensors": len(s.template)})
    return Message(RecordDict({"node": info}), reply_to=msg)


@app.train()
def train(msg: Message, context: Context) -> Message:
    s = setup_for(context)
    start, config = records.read_train_instruction(msg.content, s.template)
    t0 = time.perf_counter()
    s.client.stream = s.fresh_stream(int(config["batches_before"]))
    prox_mu = s.cfg.federated.prox_mu if s.cfg.federated.aggregator == "fedprox" else 0.0
    update = s.client.fit(s.model, start, s.cfg.train, s.head_names, int(config["seed"]), prox_mu,
                          int(config["round"]), s.cfg.federated.rounds)
    metrics = {**update.metrics, "fit_s": time.perf_counter() - t0}
    return Message(records.train_reply(update.state, update.num_examples, metrics), reply_to=msg)


@app.evaluate()
def evaluate_split(msg: Message, context: Context) -> Message:
    s = setup_for(context)
    from borderless.tuning.state import load_trainable_state

    state, split = records.read_evaluate_instruction(msg.content, s.template)
    load_trainable_state(s.model, state)
    data = {"dev": s.dev, "test": s.test}[split]
    m = evaluate(s.model, data, s.cfg.train.eval_batch_size)
    return Message(records.evaluate_reply(m), reply_to=msg)
