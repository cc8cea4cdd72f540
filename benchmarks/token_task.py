"""Token tasks vs sentence classification on the same sentences: training and evaluation speed.

The same MasakhaNER sentences (Hausa training split, e5-small, soft prompt of 8 virtual tokens + head,
batch 8, 2 torch threads) read two ways, in one run:
- **token**: a tag per word (the head on every position, the loss on each word's first sub-word);
- **sentence**: the same token ids with one label per sentence (mean pooling, one logit vector).
Both tokenize the words joined by spaces, so the ids and the padding are the same; what differs is
the head's output and the loss. Also timed: the evaluation loop (forward only, every metric: seqeval
entity F1 for tokens, macro-F1 for sentences) and the frozen-feature extraction for the probe (per
word vs per sentence). Writes benchmarks/results/token_task.{json,md}.

    .venv/bin/python benchmarks/token_task.py [--steps 20] [--eval 300]
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
from borderless.features import FeatureStore
from borderless.runner import build_workload, load_data
from borderless.train import BatchStream, TokenizedSet, evaluate, make_optimizer, train_steps
from borderless.tuning.factory import build_for

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
LANG = "hau"


def as_sentences(data: TokenizedSet) -> TokenizedSet:
    """The same ids, one (dummy) label per sentence: a sentence task of identical cost to read."""
    return TokenizedSet(list(data.input_ids), [0] * len(data), list(data.uids), data.pad_id)


def measure(kind: str, work, backbone, labels, cfg, steps: int, n_eval: int) -> dict:
    token = kind == "token"
    train = work.train[LANG] if token else as_sentences(work.train[LANG])
    test = work.test[LANG].select(list(range(min(n_eval, len(work.test[LANG])))))
    test = test if token else as_sentences(test)
    model = build_for(backbone, labels if token else ["a", "b"], cfg.method, 0, token)
    opt = make_optimizer(model, cfg.train, model.head_parameter_names())
    stream = BatchStream(train, 8, 0)
    train_steps(model, stream, 2, opt)  # warm-up
    t = time.perf_counter()
    train_steps(model, stream, steps, opt)
    train_s = time.perf_counter() - t
    t = time.perf_counter()
    evaluate(model, test, 64)
    eval_s = time.perf_counter() - t
    store = FeatureStore(None, backbone.model, 64, "token" if token else "mean")
    t = time.perf_counter()
    store.get(test)
    feat_s = time.perf_counter() - t
    model.release()
    return {"kind": kind, "train_sentences_per_s": steps * 8 / train_s, "eval_sentences_per_s": len(test) / eval_s,
            "feature_sentences_per_s": len(test) / feat_s, "train_s": train_s, "eval_s": eval_s, "features_s": feat_s,
            "eval_sentences": len(test), "train_steps": steps}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--eval", type=int, default=300)
    args = ap.parse_args()
    torch.set_num_threads(2)
    cfg = with_overrides(load_config(ROOT / "configs/masakhaner.toml"),
                         [f'data.languages=["{LANG}"]', "data.max_train_per_language=200",
                          f"data.max_test_per_language={args.eval}", 'method.name="prompt"'])
    backbone = load_configured(cfg.backbone)
    work, labels = build_workload(cfg, backbone, cfg.backbone.max_length, load_data(cfg))
    words = sum(len(t) for t in work.test[LANG].tags[: args.eval]) / min(args.eval, len(work.test[LANG]))
    rows = [measure(k, work, backbone, labels, cfg, args.steps, args.eval) for k in ("sentence", "token")]
    out = {"rows": rows, "language": LANG, "words_per_sentence": words,
           "tokens_per_sentence": sum(map(len, work.test[LANG].input_ids)) / len(work.test[LANG]),
           "machine": platform.machine(), "threads": torch.get_num_threads(), "torch": torch.__version__,
           "date": time.strftime("%Y-%m-%d")}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "token_task.json").write_text(json.dumps(out, indent=2))
    md = ["| task | training sentences/s | evaluation sentences/s | frozen features sentences/s |", "|---|---|---|---|"]
    md += [f"| {r['kind']} | {r['train_sentences_per_s']:.2f} | {r['eval_sentences_per_s']:.1f} | "
           f"{r['feature_sentences_per_s']:.1f} |" for r in rows]
    md += ["", f"MasakhaNER {LANG}, e5-small, soft prompt (8 virtual tokens) + head, batch 8, {args.steps} training "
           f"steps, {rows[0]['eval_sentences']} test sentences ({out['words_per_sentence']:.1f} words, "
           f"{out['tokens_per_sentence']:.1f} tokens each), {out['machine']}, {out['threads']} torch threads, "
           f"torch {out['torch']}, {out['date']}."]
    (RESULTS / "token_task.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
