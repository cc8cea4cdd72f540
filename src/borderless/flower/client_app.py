"""The ClientApp every SuperNode runs: borderless's own ``Client.fit`` and ``evaluate`` behind
Flower's message API. Replies carry the trainable state, the example count and scalar metrics.

Flower 1.41 runs this in a fresh process for every message. Where the node was started by
``borderless deploy node`` (node config ``warm-worker``), this process stays thin: it never imports
torch, and hands the message's content to the node's warm worker (borderless.flower.warm), which keeps
the backbone, the tokenized data and the model loaded for the node's life. Without a worker (Flower's
simulation engine, tests) the same handlers (borderless.flower.handlers) run here.

SecAgg+ (Flower's ``secaggplus_mod``, from the run's ``[privacy]`` config) runs here, around the
hand-over: it masks the reply so the server can only unmask the sum. Differential privacy does not:
it is borderless.privacy's layer inside ``Client.fit`` on the node (DP-SGD, or the update's clipping
and noise), the same objects as the in-process simulation, so the reply is already private when
the mask goes on.
"""

from __future__ import annotations

from flwr.app import Context, Message, RecordDict
from flwr.client.mod import secaggplus_mod
from flwr.clientapp import ClientApp

from borderless.config import Config
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


def privacy_mod(msg: Message, context: Context, call_next):
    """Apply the mods the run's config switches on (Flower fixes a ClientApp's mods at import;
    the config arrives with each run)."""
    cfg: Config = config_from_run_config(dict(context.run_config))
    if cfg.privacy.secagg:
        return secaggplus_mod(msg, context, call_next)
    return call_next(msg, context)


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


def _action(kind: str):
    def handler(msg: Message, context: Context) -> Message:
        return Message(answer(kind, msg, context), reply_to=msg)

    handler.__name__ = kind.replace(".", "_")
    return handler


# the federated probe (candidate heads fitted, then scored, on the node's own features), the
# personalised probe, and federated + personal (the state adapted and kept here; only scores go back)
for _kind in ("train.probe", "evaluate.probe", "evaluate.personal_probe", "train.personal"):
    _category, _name = _kind.split(".")
    getattr(app, _category)(_name)(_action(_kind))
