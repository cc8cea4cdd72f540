"""A Grid that hands each message to Flower's ClientApp in this process: the real ClientApp with
its mods, handlers and record layout, and every message serialised to protobuf and back as on the
wire, but no SuperLink, no network and no subprocesses. For fast tests of the message path; the
deployment runtime is tested with real processes (tests/test_flower_deploy.py).

Each node keeps its own setup (backbone, tokenized data, probe features, model) between messages, as
a node's warm worker does on its own machine (`borderless deploy`'s default). Without that, the
ClientApp's one-setup-per-process cache would rebuild a node's setup whenever the message before
went to another node: on the real e5-small, most of a test's time."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import uuid4

from flwr.app import Context, Message, RecordDict
from flwr.common.serde import recorddict_from_proto, recorddict_to_proto
from flwr.supercore.task_identity import TaskIdentity

SERVER_NODE_ID = 1


def wire_copy(content: RecordDict) -> RecordDict:
    return recorddict_from_proto(recorddict_to_proto(content))


class DirectGrid:
    def __init__(self, client_app, node_configs: dict[int, dict], run_config: dict, run_id: int = 1):
        self.client_app = client_app
        self.run_id = run_id
        TaskIdentity.task_id = 0
        TaskIdentity.run_id = run_id  # what Flower's runtime sets in a ServerApp / ClientApp process
        TaskIdentity.node_id = SERVER_NODE_ID
        self.contexts = {nid: Context(run_id=run_id, node_id=nid, node_config=dict(cfg), state=RecordDict(),
                                      run_config=dict(run_config)) for nid, cfg in node_configs.items()}
        self._setups: dict[int, object] = {}  # node id -> its borderless.flower.handlers.Setups

    def get_node_ids(self) -> Iterable[int]:
        return list(self.contexts)

    def _deliver(self, msg: Message) -> Message:
        nid = msg.metadata.dst_node_id
        inbound = Message(wire_copy(msg.content), dst_node_id=nid, message_type=msg.metadata.message_type,
                          group_id=msg.metadata.group_id)
        meta = inbound.metadata.__dict__
        meta["_message_id"] = msg.metadata.message_id
        meta["_src_node_id"] = SERVER_NODE_ID
        meta["_run_id"] = self.run_id
        TaskIdentity.node_id = nid
        from borderless.flower import client_app as answering

        answering._LOCAL = self._setups.get(nid)  # this node's own setup, as on its machine
        try:
            reply = self.client_app(inbound, self.contexts[nid])
            if reply.has_error():
                return reply
            out = Message(wire_copy(reply.content), reply_to=inbound)
        finally:
            TaskIdentity.node_id = SERVER_NODE_ID
            if answering._LOCAL is not None:
                self._setups[nid] = answering._LOCAL
            answering._LOCAL = None
        out.metadata.__dict__["_message_id"] = str(uuid4())
        return out

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> Iterable[Message]:
        out = []
        for msg in messages:
            msg.metadata.__dict__["_message_id"] = str(uuid4())
            out.append(self._deliver(msg))
        return out
