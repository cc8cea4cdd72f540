"""``python -m borderless.flower.supernode [--warm] [--poll-interval S] FLOWER-SUPERNODE-ARGS...``:
Flower's own ``flower-supernode``, in a process that also holds the node's warm worker
(borderless.flower.warm; ``--warm``) and asks the SuperLink for messages every S seconds.

Flower 1.41's SuperNode waits a fixed 3 s after every empty pull and 0.5 s between checks for a
finished reply, with no setting for either; ``--poll-interval`` shortens those waits (the SuperExec's
own wait is Flower's setting FLWR_SUPEREXEC_TASK_POLL_INTERVAL, set by borderless.flower.deploy.poll_env).
Everything else, TLS and node authentication included, is Flower's code and arguments unchanged.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from borderless.flower.warm import NODE_CONFIG_KEY, WarmWorker


class ShorterWaits:
    """``time`` as Flower's SuperNode loop sees it: every sleep at most ``interval`` seconds."""

    def __init__(self, interval: float) -> None:
        self.interval = interval

    def sleep(self, seconds: float) -> None:
        time.sleep(min(seconds, self.interval))

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def split_args(argv: list[str]) -> tuple[bool, float | None, list[str]]:
    warm, poll, rest = False, None, []
    it = iter(argv)
    for a in it:
        if a == "--warm":
            warm = True
        elif a == "--poll-interval":
            poll = float(next(it))
        else:
            rest.append(a)
    return warm, poll, rest


def with_worker(argv: list[str], address: str) -> list[str]:
    """Flower's arguments with the worker's socket added to ``--node-config``."""
    entry = f'{NODE_CONFIG_KEY}="{address}"'
    if "--node-config" in argv:
        i = argv.index("--node-config") + 1
        return argv[:i] + [f"{argv[i]} {entry}"] + argv[i + 1:]
    return argv + ["--node-config", entry]


def main(argv: list[str] | None = None) -> int:
    from flwr.supernode import start_client_internal
    from flwr.supernode.cli import flower_supernode

    warm, poll, rest = split_args(list(sys.argv[1:] if argv is None else argv))
    if poll is not None:
        start_client_internal.time = ShorterWaits(poll)  # type: ignore[assignment]
    worker = WarmWorker().start() if warm else None
    if worker is not None:
        rest = with_worker(rest, worker.address)
    sys.argv = ["flower-supernode", *rest]
    try:
        flower_supernode()
        return 0
    finally:
        if worker is not None:
            worker.close()


if __name__ == "__main__":
    sys.exit(main())
