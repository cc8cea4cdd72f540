"""What one DP-SGD step costs per method on the real multilingual-e5-small, and what the sparse
input-embedding rows save full fine-tuning.

For each method (prompt, lora, full): the privacy study's cell (configs/demo_prompt.toml with the
study's per-method learning rate), ``--steps`` DP-SGD steps on Hausa training sentences at the
study's expected batch (8 of 200: Poisson q = 0.04), seconds per step. Full fine-tuning runs twice on
the same sampled batches: with each sentence's embedding gradient as its own tokens' rows (what
``clipped_gradient_sum`` does) and with the dense gradient of the whole 96 M-value table (the code
before 2026-12-07, by switching the sparse rows off), and the two clipped sums are compared.
Writes benchmarks/results/dp_sgd.{json,md}.

    .venv/bin/python benchmarks/dp_sgd.py [--steps 6] [--methods prompt lora full]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import time
from pathlib import Path

import torch

from borderless.backbones.resolve import load_configured
from borderless.config import load_config, with_overrides
from borderless.privacy import dp_sgd
from borderless.privacy.dp_sgd import PoissonStream, clipped_gradient_sum, dp_sgd_step, noise_generator
from borderless.runner import build_workload, load_data
from borderless.train import make_optimizer, restrict
from borderless.tuning.factory import build_for

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
LANG = "hau_Latn"
LR = {"prompt": None, "lora": "0.003", "full": "3e-5"}  # docs/results/privacy/README.md, per method


def batches(data, n: int) -> list[list[int]]:
    stream = PoissonStream(data, 8, seed=0)
    return [stream.next() for _ in range(n)]


def time_steps(model, cfg, data, idx_list) -> float:
    opt = make_optimizer(model, cfg.train, model.head_parameter_names())
    gen = noise_generator(0)
    dp_sgd_step(model, data, idx_list[0], opt, 1.0, 1.0, 8.0, gen, restrict)  # warm-up
    t = time.perf_counter()
    for idx in idx_list[1:]:
        dp_sgd_step(model, data, idx, opt, 1.0, 1.0, 8.0, gen, restrict)
    return (time.perf_counter() - t) / max(len(idx_list) - 1, 1)


def measure(method: str, steps: int) -> list[dict]:
    sets = [f'method.name="{method}"'] + ([f"train.lr={LR[method]}"] if LR[method] else [])
    cfg = with_overrides(load_config(ROOT / "configs/demo_prompt.toml"), sets)
    backbone = load_configured(cfg.backbone)
    work, labels = build_workload(cfg, backbone, cfg.backbone.max_length, load_data(cfg))
    data = work.train[LANG]
    idx_list = batches(data, steps + 1)
    sentences = sum(len(i) for i in idx_list[1:])
    rows = []
    variants = [("sparse embedding rows", None), ("dense embedding gradient", contextlib.nullcontext)] \
        if method == "full" else [("", None)]
    sums = []
    for label, replacement in variants:
        model = build_for(backbone, labels, cfg.method, 0)
        model.eval()  # no dropout: the two variants' sums are comparable
        saved = dp_sgd.sparse_word_embedding_gradients
        if replacement is not None:
            dp_sgd.sparse_word_embedding_gradients = lambda m: replacement()
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)  # before release() refreezes
        try:
            sums.append(clipped_gradient_sum(model, data, idx_list[1], 1.0, restrict)[0])
            s = time_steps(model, cfg, data, idx_list)
        finally:
            dp_sgd.sparse_word_embedding_gradients = saved
            model.release()
        rows.append({"method": method, "variant": label, "seconds_per_step": round(s, 3),
                     "sentences_per_s": round(sentences / (s * steps), 2), "trainable": trainable})
    if len(sums) == 2:
        rows[0]["max_abs_diff_vs_dense"] = max(float((a - b).abs().max()) for a, b in zip(*sums))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--methods", nargs="+", default=["prompt", "lora", "full"])
    args = ap.parse_args()
    rows = [r for m in args.methods for r in measure(m, args.steps)]
    env = {"torch": torch.__version__, "threads": torch.get_num_threads(), "machine": platform.machine(),
           "date": time.strftime("%Y-%m-%d")}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "dp_sgd.json").write_text(json.dumps({"rows": rows, "env": env, "steps": args.steps}, indent=2))
    lines = ["| method | variant | trainable | s per DP-SGD step | sentences/s |", "|---|---|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['method']} | {r['variant']} | {r['trainable']:,} | {r['seconds_per_step']} | {r['sentences_per_s']} |")
    diff = [r["max_abs_diff_vs_dense"] for r in rows if "max_abs_diff_vs_dense" in r]
    lines.append(f"\n{env['date']}, {env['machine']}, {env['threads']} torch threads, torch {env['torch']}; "
                 f"{args.steps} DP-SGD steps on {LANG} training sentences, Poisson q = 8/200, clip 1, σ 1"
                 + (f"; full fine-tuning's clipped sum, sparse rows against dense: max |difference| {diff[0]:.2e}" if diff else "") + ".")
    (RESULTS / "dp_sgd.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
