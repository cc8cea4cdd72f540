"""A SuperNode's warm worker. Flower 1.41 starts a fresh ClientApp process for every message; left to
itself each one would import torch and transformers, load the backbone and tokenize the node's data
again (about 25 s a message here). The worker is a thread inside the SuperNode's own process that
holds all of that for the node's life, and serves each message's handler (borderless.flower.handlers)
over a Unix socket: the ClientApp process stays thin (Flower and NumPy, no torch), reads the message
with Flower, runs Flower's mods (SecAgg+, local DP) around the hand-over, and replies with Flower.
Flower remains the transport and the security layer; the worker never listens on the network.

The socket lives in a fresh folder only this user can open (0700) and every connection must answer
an HMAC challenge on a random key kept in a 0600 file beside it (Python's multiprocessing.connection).
The worker is a thread of the SuperNode process, so it ends when the node ends, however it ends.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import tempfile
import threading
import time
import traceback
from multiprocessing.connection import Client, Listener
from pathlib import Path
from typing import Any

from flwr.app import RecordDict
from flwr.common.serde import recorddict_from_proto, recorddict_to_proto
from flwr.proto.recorddict_pb2 import RecordDict as ProtoRecordDict

NODE_CONFIG_KEY = "warm-worker"  # the node config entry naming the worker's socket


class WarmWorkerError(RuntimeError):
    """The node's warm worker could not be reached or failed on a message (names the socket or the error)."""


def to_bytes(content: RecordDict) -> bytes:
    return recorddict_to_proto(content).SerializeToString()


def from_bytes(data: bytes) -> RecordDict:
    proto = ProtoRecordDict()
    proto.ParseFromString(data)
    return recorddict_from_proto(proto)


def _plain(config: dict[str, Any]) -> dict[str, Any]:
    """A node config without the worker's own entry (the setup is the same whichever socket served it)."""
    return {k: v for k, v in dict(config).items() if k != NODE_CONFIG_KEY}


class WarmWorker:
    """Serve ``handlers.handle`` on a private Unix socket from a daemon thread of this process."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="borderless-node-"))
        self.folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)
        self.address = str(self.folder / "socket")
        key = secrets.token_bytes(32)
        key_file = self.folder / "key"
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
        self._listener = Listener(self.address, family="AF_UNIX", authkey=key)
        self._setups = None
        self.served = 0
        self._thread = threading.Thread(target=self._serve, name="borderless-warm-worker", daemon=True)

    def start(self) -> "WarmWorker":
        self._thread.start()
        return self

    def _answer(self, request: tuple) -> tuple[str, Any]:
        from borderless.flower.handlers import Setups, handle  # torch is imported here, once, in the node

        kind, content, run_config, node_config = request
        if self._setups is None:
            self._setups = Setups()
        t0 = time.perf_counter()
        try:
            reply = handle(self._setups, kind, from_bytes(content), run_config, _plain(node_config))
            answer = "ok", to_bytes(reply)
        except Exception as exc:  # the ClientApp turns it into Flower's error reply
            answer = "error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=6)}"
        print(f"borderless warm worker: {kind} {answer[0]} in {time.perf_counter() - t0:.2f} s",
              file=sys.stderr, flush=True)  # the node's log
        return answer

    def _serve(self) -> None:
        while True:
            try:
                conn = self._listener.accept()
            except (OSError, EOFError):
                return  # closed
            except Exception:  # a caller without the key fails the challenge: refuse it, keep serving
                continue
            with conn:
                try:
                    request = conn.recv()
                except (EOFError, OSError):
                    continue
                answer = self._answer(request)
                self.served += 1
                try:
                    conn.send(answer)
                except (BrokenPipeError, OSError):
                    pass

    def close(self) -> None:
        try:
            self._listener.close()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


def call(address: str, kind: str, content: RecordDict, run_config: dict[str, Any],
         node_config: dict[str, Any]) -> RecordDict:
    """The ClientApp's side: hand one message's content to the node's worker and return the reply's."""
    key_file = Path(address).with_name("key")
    try:
        key = key_file.read_bytes()
        conn = Client(address, family="AF_UNIX", authkey=key)
    except (OSError, EOFError) as exc:
        raise WarmWorkerError(f"the node's warm worker at {address} cannot be reached ({exc}); restart the node "
                              "with `borderless deploy node`, or set deploy.warm_nodes = false") from exc
    with conn:
        conn.send((kind, to_bytes(content), dict(run_config), _plain(node_config)))
        try:
            status, payload = conn.recv()
        except (EOFError, OSError) as exc:
            raise WarmWorkerError(f"the node's warm worker at {address} stopped while answering a {kind} "
                                  "message (its SuperNode ended?)") from exc
    if status != "ok":
        raise WarmWorkerError(f"{kind} failed in the node's warm worker: {payload}")
    return from_bytes(payload)
