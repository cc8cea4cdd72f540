"""``borderless deploy``: the commands each machine runs, all driven by one borderless config.

- server machine: ``deploy certs`` (once), ``deploy server`` (the SuperLink), ``deploy register``
  (admit each node's public key), ``deploy run`` (submit the federation; results land here).
- each language's machine: ``deploy keys`` (once; send the ``.pub`` to the server's operator),
  ``deploy node --language CODE --data DIR`` (a SuperNode holding only that language's data).
- one machine, for trying it: ``deploy local`` starts all of the above, runs, and stops everything.

Secure by default: TLS (nodes verify the SuperLink with ``ca.crt``) and SuperNode authentication
(only registered keys may join). ``--insecure`` turns both off and says so. Flower never installs
anything at run time here (runtime dependency installation is disabled): every machine installs
borderless itself.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import tomli_w

from borderless.config import Config
from borderless.flower.node import RUN_CONFIG_KEY, check_deployable
from borderless.flower.processes import Processes, flower_env, flower_executable, free_port, wait_for_port
from borderless.flower.security import TlsFiles, make_certificates, make_node_key

CONNECTION = "borderless"  # the SuperLink connection's name in the generated Flower config


class DeployError(RuntimeError):
    """A deployment step that failed, naming what to check or fix."""


def warn_insecure(what: str) -> None:
    print(f"WARNING: {what} runs WITHOUT TLS and WITHOUT SuperNode authentication (--insecure): traffic, "
          "including the exchanged parameters, is readable on the network and any node may join. "
          "Use it only on a trusted local network for testing.", file=sys.stderr, flush=True)


def host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise DeployError(f"deploy.superlink {address!r}: write host:port, e.g. 127.0.0.1:9093")
    return host.strip("[]"), int(port)


def poll_env(cfg: Config) -> dict[str, str]:
    """Flower's own setting for how often a SuperExec looks for a task to start (default 1 s),
    at the deployment's poll interval (Flower's floor is 0.01 s) unless the user set it."""
    key = "FLWR_SUPEREXEC_TASK_POLL_INTERVAL"
    return {key: os.environ.get(key, str(max(0.01, cfg.deploy.poll_interval_s)))}


def superlink_argv(cfg: Config, certs: Path | None, insecure: bool, bind_host: str | None = None) -> list[str]:
    host, port = host_port(cfg.deploy.superlink)
    argv = [flower_executable("flower-superlink"), "--host", bind_host or host, "--port", str(port),
            "--disable-runtime-dependency-installation"]
    if insecure:
        return argv + ["--insecure"]
    tls = TlsFiles.in_folder(certs) if certs else None
    if tls is None:
        raise DeployError("the SuperLink needs its TLS files: pass --certs DIR (made by `borderless deploy certs DIR`) "
                          "or --insecure")
    tls.check()
    return argv + ["--ssl-ca-certfile", str(tls.ca_cert), "--ssl-certfile", str(tls.server_cert),
                   "--ssl-keyfile", str(tls.server_key), "--enable-supernode-auth"]


def node_config_text(language: str, data: Path, cache_dir: Path | None = None, states: Path | None = None,
                     threads: int = 0) -> str:
    items = {"language": language, "data-path": str(Path(data).resolve())}
    if threads:
        items["threads"] = int(threads)
    if cache_dir:
        items["cache-dir"] = str(Path(cache_dir).resolve())
    if states:
        items["states-dir"] = str(Path(states).resolve())
    return " ".join(f"{k}={json.dumps(v)}" for k, v in items.items())


def supernode_argv(cfg: Config, language: str, data: Path, key: Path | None, ca: Path | None, insecure: bool,
                   port: int | None = None, cache_dir: Path | None = None, max_wait_s: float | None = None,
                   states: Path | None = None, threads: int = 0) -> list[str]:
    if language not in cfg.data.languages:
        raise DeployError(f"--language {language}: not in the config's data.languages ({', '.join(cfg.data.languages)})")
    if not (Path(data) / language).is_dir():
        raise DeployError(f"--data {data}: no folder {language}/ inside; point it at the folder that holds "
                          f"{language}/train.tsv, dev.tsv, test.tsv (SIB-200 layout)")
    # Flower's flower-supernode, in a process that also keeps the node's warm worker and polls sooner
    # (borderless.flower.supernode); every argument after the first few is Flower's own
    launcher = [sys.executable, "-m", "borderless.flower.supernode", "--poll-interval", str(cfg.deploy.poll_interval_s)]
    argv = launcher + (["--warm"] if cfg.deploy.warm_nodes else []) + ["--superlink", cfg.deploy.superlink,
            "--node-config", node_config_text(language, data, cache_dir, states, threads), "--port", str(port or free_port())]
    if max_wait_s is not None:
        argv += ["--max-wait-time", str(max_wait_s)]
    if insecure:
        return argv + ["--insecure"]
    if ca is None or not Path(ca).is_file():
        raise DeployError(f"--ca {ca}: the SuperLink's CA certificate (ca.crt from the server's `deploy certs`) "
                          "is needed to verify it; or pass --insecure")
    if key is None or not Path(key).is_file():
        raise DeployError(f"--key {key}: this node's private key (from `borderless deploy keys DIR NAME`) is needed "
                          "to authenticate; register its .pub with the server first; or pass --insecure")
    return argv + ["--root-certificates", str(ca), "--auth-supernode-private-key", str(key)]


def _fresh_output(output: Path) -> Path:
    output = Path(output).resolve()
    if output.exists() and any(output.iterdir()):
        raise DeployError(f"{output}: results folder exists and is not empty; nothing was touched. Choose another -o.")
    return output


def write_flower_home(home: Path, address: str, ca: Path | None, insecure: bool) -> Path:
    """A Flower config folder whose one SuperLink connection is this deployment's."""
    conn: dict = {"address": address}
    if insecure:
        conn["insecure"] = True
    else:
        if ca is None or not Path(ca).is_file():
            raise DeployError(f"--ca {ca}: ca.crt is needed to verify the SuperLink; or pass --insecure")
        conn["root-certificates"] = str(Path(ca).resolve())
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(tomli_w.dumps({"superlink": {"default": CONNECTION, CONNECTION: conn}}))
    return home


def _flwr(home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([flower_executable("flwr"), *args], env=flower_env({"FLWR_HOME": str(home)}),
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def register(cfg: Config, public_keys: list[Path], ca: Path | None, home: Path) -> dict[str, int]:
    """Admit each node's public key at the SuperLink (its Control API). Returns {key file: node id}."""
    write_flower_home(home, cfg.deploy.superlink, ca, insecure=False)
    out = {}
    for pub in public_keys:
        if not Path(pub).is_file():
            raise DeployError(f"{pub}: no such public key file (the node's `deploy keys` writes NAME.pub)")
        done = _flwr(home, "supernode", "register", str(pub), CONNECTION, "--format", "json")
        try:
            reply = json.loads(done.stdout[done.stdout.index("{"):])
        except ValueError:
            reply = {}
        if done.returncode != 0 or not reply.get("success"):
            raise DeployError(f"{pub}: registration failed (is `borderless deploy server` running with TLS at "
                              f"{cfg.deploy.superlink}?): {(done.stdout + done.stderr).strip()[-600:]}")
        out[str(pub)] = int(reply["node-id"])
    return out


def write_app(folder: Path, cfg: Config, output: Path, keep_messages: bool = False, resume: bool = False) -> Path:
    """The Flower app bundle's source: a pyproject naming borderless's ServerApp and ClientApp (both
    import from the installed package) and carrying the resolved config as run config."""
    folder.mkdir(parents=True, exist_ok=True)
    project = {
        "build-system": {"requires": ["hatchling"], "build-backend": "hatchling.build"},
        "project": {"name": "borderless-federation", "version": "1.0.0", "license": "MIT",
                    "description": "borderless: federated prompt tuning across languages", "dependencies": []},
        "tool": {"flwr": {"app": {
            "publisher": "borderless",
            "components": {"serverapp": "borderless.flower.server_app:app",
                           "clientapp": "borderless.flower.client_app:app"},
            "config": {RUN_CONFIG_KEY: tomli_w.dumps(cfg.to_dict()), "output": str(Path(output).resolve()),
                       "keep-messages": keep_messages, "resume": resume},
        }}},
    }
    (folder / "pyproject.toml").write_text(tomli_w.dumps(project))
    (folder / "README.md").write_text("Generated by `borderless deploy run`; the code is the installed borderless.\n")
    return folder


def submit(cfg: Config, output: Path, ca: Path | None, insecure: bool, keep_messages: bool = False,
           timeout: float | None = None, echo: bool = True, resume: bool = False) -> dict:
    """Submit the federation to the SuperLink, stream its log until it ends, return results.json.
    ``output`` is a folder on the SuperLink's machine (the ServerApp writes it there). ``resume``:
    continue the stopped federation whose checkpoint is in ``output``."""
    check_deployable(cfg)
    output = Path(output).resolve() if resume else _fresh_output(output)
    if insecure:
        warn_insecure("`deploy run`")
    with tempfile.TemporaryDirectory(prefix="borderless-run-") as tmp:
        home = write_flower_home(Path(tmp) / "flwr", cfg.deploy.superlink, ca, insecure)
        app = write_app(Path(tmp) / "app", cfg, output, keep_messages, resume)
        argv = [flower_executable("flwr"), "run", str(app), CONNECTION, "--stream"]
        proc = subprocess.Popen(argv, env=flower_env({"FLWR_HOME": str(home)}), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL, start_new_session=True)
        lines: list[str] = []
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append(line)
                if echo:
                    print(line, end="", flush=True)
            proc.wait(timeout=timeout)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, 9)
                proc.wait()
    results = output / "results.json"
    stopped = output / "stopped.txt"  # server_app.STOPPED
    if not results.exists() and stopped.exists():
        raise DeployError(f"the federation stopped: {stopped.read_text(encoding='utf-8').strip()} "
                          f"(metrics so far: {output / 'metrics.jsonl'})")
    if not results.exists():
        raise DeployError(f"the run ended without {results} (flwr run exit code {proc.returncode}). "
                          f"Last lines:\n{''.join(lines[-25:])}")
    return json.loads(results.read_text())


@dataclass
class LocalDeployment:
    """A SuperLink and one SuperNode per language on this machine, secured as on real machines:
    certificates, one key pair per node, keys registered. Every process is stopped by PID on exit."""

    cfg: Config
    data: Path
    work: Path
    insecure: bool = False
    cache_dir: Path | None = None
    procs: Processes = field(init=False)
    node_ids: dict[str, int] = field(default_factory=dict)

    def __post_init__(self):
        check_deployable(self.cfg)
        self.work = Path(self.work).resolve()
        self.procs = Processes(self.work / "logs")

    @property
    def node_threads(self) -> int:
        """Torch threads per node: ``deploy.node_threads``, or with 0 this machine's cores shared among
        the nodes it runs (seven nodes at torch's default of 2 threads each on 2 cores took 100 s a
        demo round, against about 20 s in-process)."""
        return self.cfg.deploy.node_threads or max(1, (os.cpu_count() or 1) // len(self.cfg.data.languages))

    @property
    def ca(self) -> Path | None:
        return None if self.insecure else self.work / "certs" / "ca.crt"

    def start_superlink(self) -> None:
        host, port = host_port(self.cfg.deploy.superlink)
        certs = None
        if not self.insecure:
            certs = self.work / "certs"
            if not (certs / "ca.crt").exists():
                make_certificates(certs, [host, "localhost"] if host != "localhost" else ["localhost", "127.0.0.1"])
        argv = superlink_argv(self.cfg, certs, self.insecure)
        proc = self.procs.start("superlink", argv, env={"FLWR_HOME": str(self.work / "home" / "superlink"),
                                                       **poll_env(self.cfg)})
        wait_for_port(host, port, 60, proc, self.procs.log("superlink"))

    def node_key(self, name: str) -> Path:
        key = self.work / "keys" / name
        if not key.exists():
            make_node_key(self.work / "keys", name)
        return key

    def start_node(self, language: str, key_name: str | None = None, register_key: bool = True,
                   max_wait_s: float | None = None) -> subprocess.Popen:
        key = None
        if not self.insecure:
            key = self.node_key(key_name or language)
            if register_key:
                self.node_ids.update(register(self.cfg, [key.with_name(key.name + ".pub")], self.ca,
                                              self.work / "home" / "admin"))
        argv = supernode_argv(self.cfg, language, self.data, key, self.ca, self.insecure, cache_dir=self.cache_dir,
                              max_wait_s=max_wait_s, states=self.work / "nodes", threads=self.node_threads)
        return self.procs.start(f"node-{key_name or language}", argv,
                                env={"FLWR_HOME": str(self.work / "home" / f"node-{key_name or language}"),
                                     **poll_env(self.cfg)})

    def restart_node(self, language: str) -> subprocess.Popen:
        """Start a language's node again after it stopped or was killed (same key, so the same node id),
        waiting out the SuperLink's hold on its previous session."""
        self.procs.stop(f"node-{language}")
        return start_rejoining(lambda: self.start_node(language, register_key=False), say=lambda m: None)

    def start(self) -> "LocalDeployment":
        self.start_superlink()
        for lang in self.cfg.data.languages:
            self.start_node(lang)
        return self

    def run(self, output: Path, keep_messages: bool = False, timeout: float | None = None, echo: bool = True,
            resume: bool = False) -> dict:
        return submit(self.cfg, output, self.ca, self.insecure, keep_messages, timeout, echo, resume)

    def stop(self) -> None:
        self.procs.stop_all()

    def __enter__(self) -> "LocalDeployment":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()


def simulate(cfg: Config, output: Path, work: Path, timeout: float | None = None, echo: bool = True) -> dict:
    """The same app on Flower's simulation engine (Ray): a SuperLink in simulation mode on loopback,
    one virtual SuperNode per language (node k holds the k-th language, read from data.path).
    Single machine only: it listens on 127.0.0.1 without TLS, and is stopped by PID at the end."""
    check_deployable(cfg)
    output = _fresh_output(output)
    work = Path(work).resolve()
    port = free_port()
    with Processes(work / "logs") as procs:
        proc = procs.start("superlink-simulation",
                           [flower_executable("flower-superlink"), "--simulation", "--insecure", "--host", "127.0.0.1",
                            "--port", str(port), "--disable-runtime-dependency-installation"],
                           env={"FLWR_HOME": str(work / "home" / "superlink")})
        wait_for_port("127.0.0.1", port, 60, proc, procs.log("superlink-simulation"))
        home = write_flower_home(work / "home" / "cli", f"127.0.0.1:{port}", None, insecure=True)
        app = write_app(work / "app", cfg, output)
        argv = [flower_executable("flwr"), "run", str(app), CONNECTION, "--stream",
                "--federation-config", f"num-supernodes={len(cfg.data.languages)}"]
        done = subprocess.run(argv, env=flower_env({"FLWR_HOME": str(home)}), capture_output=not echo, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
    results = output / "results.json"
    if not results.exists():
        raise DeployError(f"the simulation ended without {results} (flwr run exit code {done.returncode}); "
                          f"see {work / 'logs'}\n{(done.stdout or '')[-2000:]}{(done.stderr or '')[-2000:]}")
    return json.loads(results.read_text())


def command_line(argv: list[str]) -> str:
    return " ".join(shlex.quote(a) for a in argv)


# Flower's exit code when the SuperLink refuses to activate a SuperNode: after a node is killed, the
# SuperLink holds its session until two missed heartbeats (2 x 30 s), so a node restarted at once
# with the same key is refused for up to a minute. A restarted node retries within this window.
ACTIVATION_REFUSED = 305
REJOIN_WINDOW_S = 90.0


def start_rejoining(start: Callable[[], subprocess.Popen], say: Callable[[str], None] = print,
                    window_s: float = REJOIN_WINDOW_S, settle_s: float = 15.0) -> subprocess.Popen:
    """Start a SuperNode that may be rejoining; while the SuperLink still holds its previous session,
    start it again every 5 s (within ``window_s``). Returns once it has stayed up ``settle_s``."""
    deadline = time.monotonic() + window_s
    while True:
        proc = start()
        up = time.monotonic()
        while proc.poll() is None and time.monotonic() - up < settle_s:
            time.sleep(0.25)
        if proc.poll() != ACTIVATION_REFUSED or time.monotonic() > deadline:
            return proc
        say("the SuperLink still holds this node's previous session (released two missed heartbeats after "
            "it stopped); starting it again in 5 s")
        time.sleep(5.0)


def wait_forever(proc: subprocess.Popen, procs: Processes,
                 restart: Callable[[], subprocess.Popen] | None = None) -> int:
    """Foreground a started process until it ends or Ctrl-C; stop it (by PID) either way. With
    ``restart``: a SuperNode refused activation (its previous session still held) is started again."""
    try:
        while True:
            while proc.poll() is None:
                time.sleep(0.5)
            if restart is None or proc.returncode != ACTIVATION_REFUSED:
                return int(proc.returncode)
            proc = start_rejoining(restart)
    except KeyboardInterrupt:
        return 130
    finally:
        procs.stop_all()
