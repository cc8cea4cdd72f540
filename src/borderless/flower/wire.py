"""Every message the server sends or receives, measured (and, for inspection, kept).

``RecordingGrid`` wraps Flower's ``Grid``: each message's content is measured as Flower serialises
it (``records.payload_bytes``), with its round, direction, type and the language of the node, and
its inventory (record names, array shapes, metric and config keys) is logged. With ``keep_dir`` set,
the arrays of every reply are also saved there as the server received them, so a test can compare
what the server could read with what the client computed.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from flwr.app import Message
from flwr.common import bytes_to_ndarray

from borderless.flower import records


@dataclass
class WireLog:
    path: Path | None = None  # wire.jsonl: one line per message, written by write()
    keep_dir: Path | None = None
    node_language: dict[int, str] = field(default_factory=dict)
    round: int = 0
    rows: list[dict] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, msg: Message, direction: str, node_id: int) -> None:
        if msg.has_error() or not msg.has_content():  # a node that failed or was lost: no content to measure
            row = {"round": self.round, "direction": direction, "type": msg.metadata.message_type,
                   "language": self.node_language.get(node_id, str(node_id)), "bytes": 0, "records": {},
                   "error": msg.error.reason if msg.has_error() else "no content"}
            with self._lock:
                self.rows.append(row)
            return
        content = msg.content
        row = {"round": self.round, "direction": direction, "type": msg.metadata.message_type,
               "language": self.node_language.get(node_id, str(node_id)), "bytes": records.payload_bytes(content),
               "records": records.inventory(content)}
        with self._lock:
            self.rows.append(row)
            if self.keep_dir is not None and direction == "up":
                self._keep(content, row)

    def _keep(self, content, row: dict) -> None:
        arrays: dict[str, np.ndarray] = {}
        for rname, rec in content.array_records.items():
            for key, arr in rec.items():
                if arr.data:
                    arrays[f"{rname}/{key}"] = bytes_to_ndarray(arr.data) if not arr.dtype else arr.numpy()
        for rname, rec in content.config_records.items():
            for key, value in rec.items():
                if isinstance(value, list) and value and isinstance(value[0], bytes):
                    try:
                        for i, b in enumerate(value):
                            arrays[f"{rname}/{key}/{i}"] = bytes_to_ndarray(b)
                    except ValueError:
                        pass
        self.keep_dir.mkdir(parents=True, exist_ok=True)
        n = sum(1 for _ in self.keep_dir.iterdir())
        np.savez(self.keep_dir / f"{n:04d}_r{row['round']}_{row['type']}_{row['language']}.npz", **arrays)

    def name_nodes(self, node_language: dict[int, str]) -> None:
        """Name the nodes (rows logged before the languages were known carry the node id)."""
        self.node_language.update(node_language)
        for row in self.rows:
            row["language"] = self.node_language.get(int(row["language"]), row["language"]) \
                if str(row["language"]).isdigit() else row["language"]

    def write(self) -> None:
        if self.path is not None:
            self.path.write_text("".join(json.dumps(r) + "\n" for r in self.rows), encoding="utf-8")

    def train_bytes(self, language: str, direction: str) -> list[int]:
        """Bytes of the train messages of one client, one entry per round it took part in."""
        per: dict[int, int] = {}
        for r in self.rows:
            if (r["type"] == "train" and r["language"] == language and r["direction"] == direction
                    and not r.get("error")):
                per[r["round"]] = per.get(r["round"], 0) + r["bytes"]
        return [per[k] for k in sorted(per)]

    def totals(self) -> dict[str, dict[str, dict[str, int]]]:
        """bytes[round][language] = {"up": .., "down": ..}, over every message type."""
        out: dict[str, dict[str, dict[str, int]]] = {}
        for r in self.rows:
            slot = out.setdefault(str(r["round"]), {}).setdefault(r["language"], {"up": 0, "down": 0})
            slot[r["direction"]] += r["bytes"]
        return out


def send_and_receive(grid, messages: list[Message], timeout: float | None, poll_interval: float) -> list[Message]:
    """Flower's ``Grid.send_and_receive`` (push, then pull until every reply is in or the timeout
    passes) asking every ``poll_interval`` seconds; Flower 1.41's own waits a fixed 3 s between pulls.
    A grid without push/pull (the in-process DirectGrid of the tests) answers as it does."""
    if not (hasattr(grid, "push_messages") and hasattr(grid, "pull_messages")):
        return list(grid.send_and_receive(messages, timeout=timeout))
    waiting = set(grid.push_messages(messages))
    end = time.monotonic() + (timeout if timeout is not None else 0.0)
    out: list[Message] = []
    while True:
        got = list(grid.pull_messages(waiting))
        out.extend(got)
        waiting.difference_update(m.metadata.reply_to_message_id for m in got)
        if not waiting or (timeout is not None and time.monotonic() >= end):
            return out
        time.sleep(poll_interval)


class RecordingGrid:
    """A Grid that logs every message through it; everything else is Flower's own Grid."""

    def __init__(self, grid, log: WireLog, poll_interval: float = 3.0):
        self._grid = grid
        self.log = log
        self.poll_interval = poll_interval

    def __getattr__(self, name):
        return getattr(self._grid, name)

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> Iterable[Message]:
        messages = list(messages)
        for m in messages:
            self.log.record(m, "down", m.metadata.dst_node_id)
        replies = send_and_receive(self._grid, messages, timeout, self.poll_interval)
        for r in replies:
            self.log.record(r, "up", r.metadata.src_node_id)
        return replies
