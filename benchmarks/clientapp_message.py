"""What one Flower message costs a warm node's ClientApp process (issue 43, item 5).

    .venv/bin/python benchmarks/clientapp_message.py [--repeats 7]

Flower 1.41 starts a fresh ``flwr-clientapp`` process for every message. On a warm node that process
only parses the run's config, applies the privacy mods and hands the message to the node's warm worker
(borderless.flower.warm). This times that whole path in a fresh interpreter, as Flower runs it: the
ClientApp's imports, then a query, a train and an evaluate message through Flower's own ClientApp
(messages serialised as on the wire, borderless.flower.direct_grid), the worker's side replaced by an
empty reply. Two variants, alternated, in one run:

- **now**: the ClientApp as it is;
- **with torch**: the same, after ``import borderless.federated.attacks`` (torch), which is what
  ``config.validate`` imported on every message before the attack names moved into config.py.

Wall and CPU seconds (user + sys of the child) per fresh process; median of the repeats. Results:
results/clientapp_message.{json,md}. Run by hand, alone on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

PATH = """
import json, sys
{preamble}
from flwr.app import Message, RecordDict
from borderless.flower import client_app
from borderless.flower.direct_grid import DirectGrid
from borderless.flower.run_config import RUN_CONFIG_KEY
from borderless.flower.warm import NODE_CONFIG_KEY
client_app.call = lambda address, kind, content, rc, nc: RecordDict()  # the warm worker's side
grid = DirectGrid(client_app.app, {{100: {{"language": "hau_Latn", NODE_CONFIG_KEY: "/worker"}}}},
                  {{RUN_CONFIG_KEY: sys.stdin.read()}})
replies = grid.send_and_receive([Message(RecordDict(), dst_node_id=100, message_type=t)
                                 for t in ("query", "train", "evaluate")])
assert not any(r.has_error() for r in replies)
print(json.dumps(sorted(m for m in ("torch", "transformers", "peft") if m in sys.modules)))
"""


def one(code: str, toml: str) -> tuple[float, float, list[str]]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], input=toml, capture_output=True, text=True, check=True,
                         cwd=ROOT)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "deploy.toml")
    args = ap.parse_args()
    import tomli_w

    from borderless.config import load_config
    from borderless.flower.run_config import RUN_CONFIG_KEY  # noqa: F401 (the key the child reads)

    toml = tomli_w.dumps(load_config(args.config).to_dict())
    variants = {"now": PATH.format(preamble=""),
                "with torch": PATH.format(preamble="import borderless.federated.attacks")}
    runs: dict[str, list[tuple[float, float]]] = {k: [] for k in variants}
    heavy = {}
    one(variants["now"], toml)  # warm the page cache once
    for _ in range(args.repeats):
        for name, code in variants.items():
            wall, cpu, heavy[name] = one(code, toml)
            runs[name].append((wall, cpu))
    result = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
              "date": time.strftime("%Y-%m-%d"), "config": str(args.config.resolve().relative_to(ROOT)),
              "repeats": args.repeats, "messages_per_process": 3, "variants": {}}
    for name, rs in runs.items():
        result["variants"][name] = {"wall_s_median": round(statistics.median(w for w, _ in rs), 3),
                                    "cpu_s_median": round(statistics.median(c for _, c in rs), 3),
                                    "heavy_modules": heavy[name]}
    now, old = result["variants"]["now"], result["variants"]["with torch"]
    result["cpu_saved_per_process_s"] = round(old["cpu_s_median"] - now["cpu_s_median"], 3)
    out = HERE / "results"
    (out / "clientapp_message.json").write_text(json.dumps(result, indent=2) + "\n")
    md = [f"# One ClientApp process: its imports and three messages ({result['date']}; {result['machine']})", "",
          f"Median of {args.repeats} fresh processes each, alternated, `{result['config']}`'s run config.", "",
          "| variant | wall s | CPU s | heavy modules imported |", "|---|---|---|---|"]
    md += [f"| {n} | {v['wall_s_median']} | {v['cpu_s_median']} | {', '.join(v['heavy_modules']) or 'none'} |"
           for n, v in result["variants"].items()]
    md += ["", f"CPU saved per message process: {result['cpu_saved_per_process_s']} s."]
    (out / "clientapp_message.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
