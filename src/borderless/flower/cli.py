"""``borderless deploy certs|keys|server|register|node|run|local|simulate``: see borderless.flower.deploy."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from borderless.config import load_config


def _config(args):
    return load_config(args.config, getattr(args, "set", []) or [])


def _output(args, kind: str) -> Path:
    if args.output:
        return Path(args.output)
    return Path("results") / f"{Path(args.config).stem}-{kind}-{time.strftime('%Y%m%d-%H%M%S')}"


def _certs(args) -> int:
    from borderless.flower.security import make_certificates

    files = make_certificates(Path(args.folder), args.host or ["127.0.0.1", "localhost"], args.days, args.overwrite)
    print(f"CA certificate   {files.ca_cert}   (give this to every node: --ca)\n"
          f"server cert/key  {files.server_cert}, {files.server_key}   (stay on the server: --certs {args.folder})\n"
          f"valid for: {', '.join(args.host or ['127.0.0.1', 'localhost'])}")
    return 0


def _keys(args) -> int:
    from borderless.flower.security import make_node_key

    for name in args.names:
        private, public = make_node_key(Path(args.folder), name, args.overwrite)
        print(f"{name}: private key {private} (stays on the node: --key), public key {public} "
              "(send to the server's operator: `borderless deploy register`)")
    return 0


def _server(args) -> int:
    from borderless.flower.deploy import command_line, host_port, poll_env, superlink_argv, wait_forever, warn_insecure
    from borderless.flower.processes import Processes

    cfg = _config(args)
    if args.insecure:
        warn_insecure("the SuperLink")
    argv = superlink_argv(cfg, Path(args.certs) if args.certs else None, args.insecure, args.bind)
    if args.print_command:
        print(command_line(argv))
        return 0
    home = Path(args.home)
    procs = Processes(home / "logs")
    proc = procs.start("superlink", argv, env={"FLWR_HOME": str(home / "superlink"), **poll_env(cfg)})
    host, port = host_port(cfg.deploy.superlink)
    print(f"SuperLink (PID {proc.pid}) listening on {args.bind or host}:{port}, "
          f"{'INSECURE' if args.insecure else 'TLS + SuperNode authentication'}; log: {procs.log('superlink')}. "
          "Ctrl-C stops it.", flush=True)
    return wait_forever(proc, procs)


def _register(args) -> int:
    from borderless.flower.deploy import register

    cfg = _config(args)
    ids = register(cfg, [Path(k) for k in args.public_keys], Path(args.ca) if args.ca else None, Path(args.home) / "admin")
    for key, nid in ids.items():
        print(f"registered {key}: node id {nid}")
    return 0


def _node(args) -> int:
    from borderless.flower.deploy import command_line, poll_env, supernode_argv, wait_forever, warn_insecure
    from borderless.flower.processes import Processes

    cfg = _config(args)
    if args.insecure:
        warn_insecure(f"the {args.language} node")
    argv = supernode_argv(cfg, args.language, Path(args.data), Path(args.key) if args.key else None,
                          Path(args.ca) if args.ca else None, args.insecure, args.port,
                          Path(args.cache_dir) if args.cache_dir else None, states=Path(args.states))
    if args.print_command:
        print(command_line(argv))
        return 0
    home = Path(args.home)
    procs = Processes(home / "logs")
    def start():
        return procs.start(f"node-{args.language}", argv, env={"FLWR_HOME": str(home / f"node-{args.language}"),
                                                               **poll_env(cfg)})

    proc = start()
    print(f"SuperNode for {args.language} (PID {proc.pid}) dialling {cfg.deploy.superlink}; its data stays in "
          f"{args.data}; log: {procs.log(f'node-{args.language}')}. Ctrl-C stops it.", flush=True)
    return wait_forever(proc, procs, restart=start)  # a restarted node rejoins once the SuperLink lets it


def _run(args) -> int:
    from borderless.flower.deploy import submit

    cfg = _config(args)
    out = Path(args.resume) if args.resume else _output(args, "flower")
    summary = submit(cfg, out, Path(args.ca) if args.ca else None, args.insecure, args.keep_messages,
                     resume=bool(args.resume))
    print(f"mean test accuracy {100 * summary['mean_accuracy']:.1f} %; results in {out.resolve()} (on the server)")
    return 0


def _local(args) -> int:
    from borderless.config import resolve_data_path
    from borderless.flower.deploy import LocalDeployment, warn_insecure

    cfg = _config(args)
    out = _output(args, "flower")
    work = Path(args.work) if args.work else out.with_name(out.name + "-deployment")
    if args.insecure:
        warn_insecure("this local deployment")
    t0 = time.perf_counter()
    with LocalDeployment(cfg, resolve_data_path(cfg.data), work, args.insecure) as dep:
        print(f"SuperLink and {len(cfg.data.languages)} SuperNodes up in {time.perf_counter() - t0:.1f} s "
              f"(logs: {work / 'logs'})", flush=True)
        summary = dep.run(out, keep_messages=args.keep_messages)
    print((out / "report.md").read_text())
    print(json.dumps({"round_wall_s": summary["round_wall_s"],
                      "bytes_per_client_per_round_up": summary["communication"]["bytes_per_client_per_round_up"]}))
    print(f"all processes stopped; results in {out}")
    return 0


def _simulate(args) -> int:
    from borderless.flower.deploy import simulate

    cfg = _config(args)
    out = _output(args, "flower-sim")
    summary = simulate(cfg, out, Path(args.work) if args.work else out.with_name(out.name + "-simulation"))
    print((out / "report.md").read_text())
    print(f"mean test accuracy {100 * summary['mean_accuracy']:.1f} %; results in {out}")
    return 0


def add_deploy_parser(sub) -> None:
    p = sub.add_parser("deploy", help="run the federation on Flower across machines (SuperLink + SuperNodes)")
    dsub = p.add_subparsers(dest="deploy_command", required=True)
    home_default = str(Path.home() / ".borderless" / "deploy")

    def with_config(q, home=True):
        q.add_argument("config", help="the borderless TOML config (the same file on every machine)")
        q.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value")
        if home:
            q.add_argument("--home", default=home_default, help=f"Flower's state and logs (default {home_default})")

    q = dsub.add_parser("certs", help="make a CA and a SuperLink TLS certificate (for testing or a private federation)")
    q.add_argument("folder")
    q.add_argument("--host", action="append", help="name or IP the nodes dial (repeatable; default 127.0.0.1, localhost)")
    q.add_argument("--days", type=int, default=365)
    q.add_argument("--overwrite", action="store_true")
    q.set_defaults(func=_certs)
    q = dsub.add_parser("keys", help="make a SuperNode's authentication key pair (NAME and NAME.pub)")
    q.add_argument("folder")
    q.add_argument("names", nargs="+")
    q.add_argument("--overwrite", action="store_true")
    q.set_defaults(func=_keys)
    q = dsub.add_parser("server", help="start the SuperLink (TLS + node authentication unless --insecure)")
    with_config(q)
    q.add_argument("--certs", help="folder with ca.crt, server.pem, server.key (from `deploy certs`)")
    q.add_argument("--bind", help="address to listen on (default: the host of deploy.superlink; 0.0.0.0 for all)")
    q.add_argument("--insecure", action="store_true", help="no TLS, no node authentication (prints a warning)")
    q.add_argument("--print-command", action="store_true", help="print the flower-superlink command and exit")
    q.set_defaults(func=_server)
    q = dsub.add_parser("register", help="admit SuperNodes by their public keys (run where ca.crt is)")
    with_config(q)
    q.add_argument("public_keys", nargs="+", help="NAME.pub files from the nodes' `deploy keys`")
    q.add_argument("--ca", required=True, help="the CA certificate (ca.crt)")
    q.set_defaults(func=_register)
    q = dsub.add_parser("node", help="start a SuperNode holding one language's data")
    with_config(q)
    q.add_argument("--language", required=True, help="SIB-200 code, one of the config's data.languages")
    q.add_argument("--data", required=True, help="folder holding <language>/train.tsv, dev.tsv, test.tsv")
    q.add_argument("--key", help="this node's private key (from `deploy keys`)")
    q.add_argument("--ca", help="the SuperLink's CA certificate (ca.crt)")
    q.add_argument("--cache-dir", help="where the converted backbone lives (default: backbone.cache_dir)")
    q.add_argument("--states", default="borderless-node",
                   help="folder where the node keeps what never leaves it: <language>/personal_state.safetensors "
                        "under federated + personal (default: ./borderless-node)")
    q.add_argument("--port", type=int, help="this node's local runtime port (default: a free one)")
    q.add_argument("--insecure", action="store_true", help="no TLS, no authentication (prints a warning)")
    q.add_argument("--print-command", action="store_true", help="print the flower-supernode command and exit")
    q.set_defaults(func=_node)
    outputs = {"run": ("results folder ON THE SERVER MACHINE (default: results/<config>-flower-<time>)", None),
               "local": ("results folder (default: results/<config>-flower-<time>)",
                         "certificates, keys, Flower state and logs (default: <output>-deployment)"),
               "simulate": ("results folder (default: results/<config>-flower-sim-<time>)",
                            "Flower state and logs (default: <output>-simulation)")}
    helps = {"run": ("submit the federation to the SuperLink and wait for its results", _run),
             "local": ("on this machine: certificates, keys, SuperLink, one SuperNode per language, the run, "
                       "then stop everything", _local),
             "simulate": ("the same app on Flower's simulation engine (Ray), one virtual SuperNode per language, "
                          "on this machine", _simulate)}
    for name, (help_text, func) in helps.items():
        q = dsub.add_parser(name, help=help_text)
        with_config(q, home=False)
        q.add_argument("--output", "-o", help=outputs[name][0])
        if outputs[name][1]:
            q.add_argument("--work", help=outputs[name][1])
        if name == "run":
            q.add_argument("--ca", help="the SuperLink's CA certificate (ca.crt)")
            q.add_argument("--resume", metavar="DIR", help="continue the stopped federation whose results folder "
                           "(on the server machine) is DIR, from its last finished round")
            q.add_argument("--insecure", action="store_true", help="connect without TLS (prints a warning)")
        if name == "local":
            q.add_argument("--insecure", action="store_true", help="no TLS, no authentication (prints a warning)")
        if name != "simulate":
            q.add_argument("--keep-messages", action="store_true",
                           help="save every reply's arrays as the server received them")
        q.set_defaults(func=func)


def run_deploy(args: argparse.Namespace) -> int:
    from borderless.flower.deploy import DeployError
    from borderless.flower.server_app import DeploymentError

    try:
        return args.func(args)
    except (DeployError, DeploymentError, TimeoutError, RuntimeError) as err:
        print(f"borderless deploy: error: {err}", file=sys.stderr)
        return 2
