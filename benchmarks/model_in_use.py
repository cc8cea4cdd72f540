"""A trained model in use (issue 44, item 7): predict throughput against the evaluation loop's, serve
latency at batch 1 and 32, and peak memory with 1 and 16 per-language models loaded.

    .venv/bin/python benchmarks/model_in_use.py [--run docs/results/demo_prompt] [--languages hau_Latn yor_Latn]

On the committed demo run (real e5-small, SIB-200 test sentences), in one run, 2 torch threads in
every process:

- **throughput**: ``borderless.load(run).predict`` on the languages' whole test splits, against
  ``borderless.train.evaluate`` (the loop a run scores test with) on the same sentences with the same
  state and batch size; sentences/s, and whether both give the same labels;
- **serve**: ``borderless serve run`` as its own process, asked over HTTP (urllib) with batch 1 and
  batch 32 requests of test sentences; p50 / p95 latency of whole requests (client side);
- **memory**: a fresh process loads the run's monolingual models from an exported folder and predicts
  with 1, then (another fresh process) 16 languages' models (the 7 real ones and copies of them under
  other names: a state is a state); peak resident memory of each.

Results: results/model_in_use.{json,md}. Run by hand, alone on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
THREADS = 2


def test_sentences(run: Path, languages: list[str]) -> dict[str, list[tuple[str, str]]]:
    from borderless.config import load_config
    from borderless.data.presets import load_dataset

    data = load_dataset(load_config(run / "config.toml").data)
    return {l: [(ex.text, data[l].labels.names[ex.label]) for ex in data[l].test] for l in languages}


def throughput(run: Path, sents: dict[str, list[tuple[str, str]]], batch_size: int) -> dict:
    import torch

    import borderless
    from borderless.data.types import Example
    from borderless.train import evaluate, tokenize

    clf = borderless.load(run, paradigm="federated")
    texts = [t for l in sents for t, _ in sents[l]]
    clf.predict(texts[:8])  # warm up: the state is read, the first batch pays the allocator
    t0 = time.perf_counter()
    predicted = clf.predict(texts, batch_size=batch_size)
    predict_s = time.perf_counter() - t0
    gold = [g for l in sents for _, g in sents[l]]
    examples = [Example(f"x/{i}", t.strip(), clf.labels.index(g), "") for i, (t, g) in enumerate(zip(texts, gold))]
    data = tokenize(examples, clf.backbone.tokenizer, clf.max_length, clf.backbone.input_prefix)
    t0 = time.perf_counter()
    scored = evaluate(clf.classifier, data, batch_size)
    eval_s = time.perf_counter() - t0
    agree = sum(p == g for p, g in zip(predicted, gold)) / len(gold)
    clf.close()
    return {"sentences": len(texts), "batch_size": batch_size, "torch_threads": torch.get_num_threads(),
            "predict_s": round(predict_s, 2), "predict_per_s": round(len(texts) / predict_s, 1),
            "evaluate_s": round(eval_s, 2), "evaluate_per_s": round(len(texts) / eval_s, 1),
            "ratio_predict_to_evaluate": round(eval_s / predict_s, 3),
            "predict_accuracy": round(agree, 4), "evaluate_accuracy": round(scored["accuracy"], 4)}


def _post(url: str, obj) -> dict:
    req = urllib.request.Request(url, data=json.dumps(obj).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.loads(r.read())


def serve_latency(run: Path, sents: dict[str, list[tuple[str, str]]], n1: int, n32: int) -> dict:
    from borderless.flower.processes import free_port

    texts = [t for l in sents for t, _ in sents[l]]
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": str(THREADS)}
    log = tempfile.NamedTemporaryFile("w", suffix=".log", delete=False)
    proc = subprocess.Popen([sys.executable, "-m", "borderless.cli", "serve", str(run), "--port", str(port),
                             "--paradigm", "federated"], stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        t0 = time.perf_counter()
        while True:
            try:
                with urllib.request.urlopen(base + "/health", timeout=5):
                    break
            except OSError:
                if proc.poll() is not None or time.perf_counter() - t0 > 300:
                    raise SystemExit(f"serve did not start; see {log.name}")
                time.sleep(0.2)
        ready_s = time.perf_counter() - t0
        _post(base + "/predict", {"texts": texts[:4]})  # warm up
        out = {"ready_s": round(ready_s, 2)}
        for size, n in ((1, n1), (32, n32)):
            lat = []
            for i in range(n):
                batch = [texts[(i * size + j) % len(texts)] for j in range(size)]
                t = time.perf_counter()
                _post(base + "/predict", {"texts": batch})
                lat.append(time.perf_counter() - t)
            lat.sort()
            out[f"batch{size}"] = {"requests": n, "p50_ms": round(1000 * statistics.median(lat), 1),
                                   "p95_ms": round(1000 * lat[min(n - 1, int(round(0.95 * (n - 1))))], 1),
                                   "sentences_per_s": round(size * n / sum(lat), 1)}
        return out
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


MEMORY_CHILD = """
import json, resource, sys, torch
from pathlib import Path
torch.set_num_threads({threads})
import borderless


def rss_mib():
    line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmRSS:"))
    return round(int(line.split()[1]) / 1024, 1)


clf = borderless.load(sys.argv[1])
langs = json.loads(sys.argv[2])
after_load = rss_mib()
for l in langs:
    clf.predict(["Hello world.", "A second sentence to classify."], language=l)
print(json.dumps({{"models": len(langs), "rss_after_load_mib": after_load, "rss_after_predict_mib": rss_mib(),
                  "peak_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}}))
"""


def memory(run: Path, counts: tuple[int, ...]) -> list[dict]:
    """An exported monolingual model with ``max(counts)`` languages: the run's own and copies of them."""
    from borderless.export import export
    from borderless.trained_model import MANIFEST

    tmp = Path(tempfile.mkdtemp(prefix="borderless-bench-"))
    try:
        folder = tmp / "mono"
        export(run, folder, paradigm="monolingual")
        manifest = json.loads((folder / MANIFEST).read_text())
        real = list(manifest["languages"])
        i = 0
        while len(manifest["languages"]) < max(counts):
            src = real[i % len(real)]
            name = f"{src}_copy{i // len(real)}"
            shutil.copytree(folder / manifest["languages"][src]["folder"], folder / "languages" / name)
            manifest["languages"][name] = {**manifest["languages"][src], "folder": f"languages/{name}"}
            i += 1
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=2))
        langs = list(manifest["languages"])
        out = []
        for k in counts:
            r = subprocess.run([sys.executable, "-c", MEMORY_CHILD.format(threads=THREADS), str(folder),
                                json.dumps(langs[:k])], capture_output=True, text=True, check=True)
            out.append(json.loads(r.stdout.strip().splitlines()[-1]))
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", type=Path, default=ROOT / "docs" / "results" / "demo_prompt")
    ap.add_argument("--languages", nargs="+", default=["hau_Latn", "yor_Latn"])
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--requests", type=int, nargs=2, default=[40, 10], metavar=("N_BATCH1", "N_BATCH32"))
    args = ap.parse_args()
    import torch

    torch.set_num_threads(THREADS)
    sents = test_sentences(args.run, args.languages)
    result = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
                         f"{THREADS} torch threads in every process",
              "date": time.strftime("%Y-%m-%d"), "run": str(args.run.resolve().relative_to(ROOT)),
              "languages": args.languages}
    result["throughput"] = throughput(args.run, sents, args.batch_size)
    print(json.dumps(result["throughput"]), flush=True)
    result["serve"] = serve_latency(args.run, sents, *args.requests)
    print(json.dumps(result["serve"]), flush=True)
    result["memory"] = memory(args.run, (1, 16))
    print(json.dumps(result["memory"]), flush=True)
    out = HERE / "results"
    (out / "model_in_use.json").write_text(json.dumps(result, indent=2) + "\n")
    t, s, m = result["throughput"], result["serve"], result["memory"]
    md = [f"# A trained model in use ({result['date']}; {result['machine']})", "",
          f"Run: `{result['run']}`, federated model; {t['sentences']} test sentences of {', '.join(args.languages)}.", "",
          "| what | number |", "|---|---|",
          f"| `predict` (batch {t['batch_size']}) | {t['predict_per_s']} sentences/s ({t['predict_s']} s) |",
          f"| evaluation loop (`train.evaluate`, same batch) | {t['evaluate_per_s']} sentences/s ({t['evaluate_s']} s) |",
          f"| predict accuracy / evaluate accuracy | {100 * t['predict_accuracy']:.1f} / {100 * t['evaluate_accuracy']:.1f} % |",
          f"| serve: ready after start | {s['ready_s']} s |",
          f"| serve batch 1: p50 / p95 | {s['batch1']['p50_ms']} / {s['batch1']['p95_ms']} ms ({s['batch1']['requests']} requests) |",
          f"| serve batch 32: p50 / p95 | {s['batch32']['p50_ms']} / {s['batch32']['p95_ms']} ms ({s['batch32']['requests']} requests, "
          f"{s['batch32']['sentences_per_s']} sentences/s) |"]
    md += [f"| memory, {r['models']} per-language model{'s' if r['models'] > 1 else ''} used: resident after "
           f"predicting / peak | {r['rss_after_predict_mib']} / {r['peak_mib']} MiB (resident after loading the "
           f"backbone {r['rss_after_load_mib']}) |" for r in m]
    md += ["", "The peak is the backbone's loading, not the models: a per-language state is a soft prompt and a "
           "head (5,767 values, 23 kB on disk), and every one of them shares the one backbone in memory."]
    (out / "model_in_use.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
