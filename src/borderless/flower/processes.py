"""Flower's processes, started and always stopped by PID (each in its own process group, so the
SuperExec and app processes they spawn go with them), even when the caller fails."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path


def flower_executable(name: str) -> str:
    """Flower's entry points beside this interpreter (the project's venv), else on PATH."""
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else name


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float, proc: subprocess.Popen | None = None, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
            raise RuntimeError(f"process exited with code {proc.returncode} before listening on {host}:{port}\n{tail}")
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex((host, port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout:.0f} s")


# Flower phones home by default (usage telemetry, update checks). borderless keeps every process
# offline unless the user has set these variables themselves.
OFFLINE = {"FLWR_TELEMETRY_ENABLED": "0", "FLWR_DISABLE_UPDATE_CHECK": "1"}


def flower_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for every Flower process: offline (see OFFLINE), and this interpreter's bin
    folder first on PATH, because Flower starts its helpers (``flower-superexec``,
    ``flwr-serverapp``, ``flwr-clientapp``) by name and they must be the project's."""
    env = {**OFFLINE, **os.environ, **(extra or {})}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def descendants(pid: int) -> list[int]:
    """Every living descendant of ``pid`` (Linux /proc), deepest last. Flower detaches its SuperExec
    into a session of its own, so a process group does not reach it."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _signal_all(pids: list[int], sig: int) -> None:
    for p in pids:
        try:
            os.kill(p, sig)
        except (ProcessLookupError, PermissionError):
            pass


@dataclass
class Processes:
    """Started processes by name; ``stop_all`` (also on ``with`` exit) ends every one of them."""

    folder: Path
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        self.folder.mkdir(parents=True, exist_ok=True)
        log = (self.folder / f"{name}.log").open("ab")
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=flower_env(env), start_new_session=True)
        log.close()
        self.procs[name] = proc
        with (self.folder / "pids.txt").open("a") as fh:
            fh.write(f"{proc.pid} {name}\n")
        return proc

    def log(self, name: str) -> Path:
        return self.folder / f"{name}.log"

    def stop(self, name: str, grace: float = 10.0) -> None:
        """SIGTERM to the process, its group and every descendant; SIGKILL whatever is left after ``grace``."""
        proc = self.procs.pop(name, None)
        if proc is None:
            return
        tree = descendants(proc.pid) if proc.poll() is None else []
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        _signal_all(tree, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
        tree = sorted(set(tree) | set(descendants(proc.pid)))
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _signal_all(tree + [proc.pid], signal.SIGKILL)
        proc.wait()

    def alive(self) -> list[int]:
        """PIDs still running among those this object started (for checks)."""
        out = []
        for line in (self.folder / "pids.txt").read_text().split("\n") if (self.folder / "pids.txt").exists() else []:
            if line.strip():
                pid = int(line.split()[0])
                try:
                    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
                except OSError:
                    continue
                if state != "Z":
                    out.append(pid)
        return out

    def stop_all(self) -> None:
        for name in reversed(list(self.procs)):
            self.stop(name)

    def __enter__(self) -> "Processes":
        return self

    def __exit__(self, *exc) -> None:
        self.stop_all()
