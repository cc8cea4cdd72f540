"""float32 vs bfloat16 frozen backbones (``backbone.dtype``): training and evaluation speed, memory, and
what it does to accuracy, on real SIB-200 sentences, one run per backbone.

For each backbone (e5-small, gemma3-270m) and dtype: a soft prompt (8 virtual tokens) + head built
through borderless' factory; ``--steps`` training steps of batch 8 on Hausa training sentences
(forward + backward through the frozen backbone), then forward-only evaluation of ``--eval`` Hausa
test sentences in length-sorted batches; the memory of the loaded backbone's weights.
Accuracy is the frozen-feature probe's (monolingual, centralized, federated) on the seven languages
× 200 training sentences, fitted on features from each dtype: the number format's effect on what the
backbone computes, separated from training noise. Writes benchmarks/results/precision.{json,md}.

    .venv/bin/python benchmarks/precision.py [--backbones e5-small gemma3-270m] [--steps 12] [--eval 256]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from borderless.backbones.resolve import load_configured
from borderless.config import load_config, with_overrides
from borderless.features import pooled_features
from borderless.runner import build_workload, fit_probes, load_data, probe_data
from borderless.train import BatchStream, make_optimizer, train_steps
from borderless.tuning.factory import build_for

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
LANG = "hau_Latn"  # timed on one language's sentences (Hausa: 1.9 Gemma tokens per word)
CELL = {  # the decoder study's own cells (scripts/decoder_study.sh)
    "e5-small": ['backbone.name="e5-small"', 'method.classifier="head"', 'method.template=""'],
    "gemma3-270m": ['method.classifier="head"', 'method.pooling="last"'],
}


def measure(name: str, dtype: str, steps: int, n_eval: int) -> dict:
    cfg = with_overrides(load_config(ROOT / "configs/decoder_sib200.toml"), CELL[name] + [f'backbone.dtype="{dtype}"'])
    backbone = load_configured(cfg.backbone)
    weights_mb = sum(p.numel() * p.element_size() for p in backbone.model.parameters()) / 2**20
    work, labels = build_workload(cfg, backbone, cfg.backbone.max_length, load_data(cfg))
    model = build_for(backbone, labels, cfg.method, 0)
    stream = BatchStream(work.train[LANG], 8, 0)
    opt = make_optimizer(model, cfg.train, model.head_parameter_names())
    train_steps(model, stream, 2, opt)  # warm-up
    t = time.perf_counter()
    train_steps(model, stream, steps, opt)
    train_s = time.perf_counter() - t
    evald = work.test[LANG]
    idx = list(range(min(n_eval, len(evald))))
    t = time.perf_counter()
    pooled_features(backbone.model, evald, idx, 32, model.pooling)
    eval_s = time.perf_counter() - t
    pdata, facts = probe_data(cfg, backbone, work, len(labels))
    probes = fit_probes(cfg, pdata)
    return {
        "backbone": name, "dtype": dtype, "weights_MiB": round(weights_mb, 1),
        "train_examples_per_s": round(8 * steps / train_s, 2), "eval_sentences_per_s": round(len(idx) / eval_s, 2),
        "probe_mean_test": {p: round(100 * probes[p].mean_test, 1) for p in ("monolingual", "centralized", "federated")},
        "probe_features_s": facts["seconds"], "probe_features_computed": facts["computed_sentences"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backbones", nargs="+", default=list(CELL))
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--eval", type=int, default=256)
    args = ap.parse_args()
    rows = [measure(b, d, args.steps, args.eval) for b in args.backbones for d in ("float32", "bfloat16")]
    env = {"torch": torch.__version__, "threads": torch.get_num_threads(), "machine": platform.machine(),
           "date": time.strftime("%Y-%m-%d")}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "precision.json").write_text(json.dumps({"rows": rows, "env": env, "steps": args.steps}, indent=2))
    lines = ["| backbone | dtype | weights MiB | train examples/s | eval sentences/s | probe mono / central / fed |",
             "|---|---|---:|---:|---:|---|"]
    for r in rows:
        p = r["probe_mean_test"]
        lines.append(f"| {r['backbone']} | {r['dtype']} | {r['weights_MiB']} | {r['train_examples_per_s']} | "
                     f"{r['eval_sentences_per_s']} | {p['monolingual']} / {p['centralized']} / {p['federated']} |")
    lines.append(f"\n{env['date']}, {env['machine']}, {env['threads']} torch threads, torch {env['torch']}; "
                 f"{args.steps} training steps of batch 8 (soft prompt, 8 virtual tokens), {args.eval} test sentences.")
    (RESULTS / "precision.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
