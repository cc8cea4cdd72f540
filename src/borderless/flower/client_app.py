"""The ClientApp every SuperNode runs: borderless's own ``Client.fit`` and ``evaluate`` behind
Flower's message API. Replies carry the trainable state, the example count and scalar metrics.

Flower 1.41 runs this in a fresh process for every message. Where the node was started by
``borderless deploy node`` (node config ``warm-worker``), this process stays thin: it never imports
torch, and hands the message's content to the node's warm worker (borderless.flower.warm), which keeps
the backbone, the tokenized data and the model loaded for the node's life. Without a worker (Flower's
simulation engine, tests) the same handlers (borderless.flower.handlers) run here.

Privacy mods come from the run's ``[privacy]`` config: SecAgg+ (Flower's ``secaggplus_mod``)
masks the reply so the server can only unmask the sum; local DP (Flower's ``LocalDpMod``) clips the
update and adds Gaussian noise before it leaves the node (inside the SecAgg+ mask when both are on).
Both run here, around the hand-over, on the reply as it leaves the node.
"""

from __future__ import annotations

from flwr.app import Context, Message, RecordDict
from flwr.client.mod import LocalDpMod, secaggplus_mod
from flwr.clientapp import ClientApp

from borderless.config import Config, PrivacyConfig
from borderless.flower.run_config import config_from_run_config
from borderless.flower.warm import NODE_CONFIG_KEY, call

_LOCAL = None  # the handlers' setups when this process answers itself (no warm worker)


def answer(kind: str, msg: Message, context: Context) -> RecordDict:
    """The reply content for one message: from the node's warm worker, or computed here."""
    address = context.node_config.get(NODE_CONFIG_KEY)
    if address:
        return call(str(address), kind, msg.content, dict(context.run_config), dict(context.node_config))
    global _LOCAL
    from borderless.flower.handlers import Setups, handle

    if _LOCAL is None:
        _LOCAL = Setups()
    return handle(_LOCAL, kind, msg.content, dict(context.run_config), dict(context.node_config))


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
    return Message(answer("query", msg, context), reply_to=msg)


@app.train()
def train(msg: Message, context: Context) -> Message:
    return Message(answer("train", msg, context), reply_to=msg)


@app.evaluate()
def evaluate_split(msg: Message, context: Context) -> Message:
    return Message(answer("evaluate", msg, context), reply_to=msg)
