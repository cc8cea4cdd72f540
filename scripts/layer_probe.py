"""Which layer's mean-pooled hidden states make the best frozen-feature probe? Fits the three
paradigms' probes (monolingual, centralized, federated: borderless.probe, weight decay chosen on dev)
on one layer, a mean of the last k layers, or two layers side by side, for a config's data. Training
is not run; the backbone runs once per sentence (all layers at once), nothing is cached.

    .venv/bin/python scripts/layer_probe.py configs/seven_full.toml [--set key=value ...]
"""

from __future__ import annotations

import argparse
import statistics

import torch

from borderless.backbones.resolve import load_configured
from borderless.config import load_config
from borderless.features import _batched
from borderless.probe import ProbeData, all_probes
from borderless.runner import build_workload, load_data
from borderless.train import TokenizedSet
from borderless.tuning.classifier import pool


def layer_features(model: torch.nn.Module, data: TokenizedSet, batch_size: int = 64) -> torch.Tensor:
    """[sentences, layers + 1, hidden]: every hidden state (embeddings first) mean-pooled over the real
    tokens; the last layer is what borderless' probe and heads see (``features.pooled_features``)."""
    model.eval()

    def every_layer(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        hidden = model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
        return torch.cat([pool(h.float(), mask) for h in hidden], -1)

    flat = _batched(every_layer, data, list(range(len(data.labels))), batch_size)
    return flat.reshape(len(data.labels), -1, model.config.hidden_size)


def variants(layers: int) -> dict:
    last = layers
    return {
        "last": lambda v: v[:, last], f"layer {last - 1}": lambda v: v[:, last - 1],
        f"layer {last - 2}": lambda v: v[:, last - 2], f"layer {last // 2}": lambda v: v[:, last // 2],
        "mean of last 4": lambda v: v[:, last - 3 :].mean(1), "mean of all layers": lambda v: v[:, 1:].mean(1),
        f"last ‖ layer {last - 4}": lambda v: torch.cat([v[:, last], v[:, last - 4]], -1),
        "last 4 side by side": lambda v: v[:, last - 3 :].reshape(v.shape[0], -1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config")
    ap.add_argument("--set", action="append", default=[], dest="overrides")
    args = ap.parse_args()
    cfg = load_config(args.config, args.overrides)
    backbone = load_configured(cfg.backbone)
    work, labels = build_workload(cfg, backbone, cfg.backbone.max_length, load_data(cfg))
    feats, ys = {}, {}
    for split, sets in (("train", work.train), ("dev", work.dev), ("test", work.test)):
        for lang in work.languages:
            feats[(lang, split)] = layer_features(backbone.model, sets[lang])
            ys[(lang, split)] = torch.tensor(sets[lang].labels, dtype=torch.long)
    p, langs = cfg.probe, list(work.languages)
    print(f"| features | {' | '.join(f'{q} dev / test' for q in ('monolingual', 'centralized', 'federated'))} |")
    print("|---|---|---|---|")
    for name, pick in variants(next(iter(feats.values())).shape[1] - 1).items():
        data = ProbeData(langs, langs, len(labels), {k: pick(v) for k, v in feats.items()}, ys, work.client_rows)
        probes = dict(all_probes(data, p.weight_decays, p.federated_rounds, p.federated_local_iters, p.max_iter,
                                 cfg.federated.clients_per_round, cfg.run.seed))
        cells = [f"{100 * statistics.fmean(probes[q].dev_score[l] for l in langs):.1f} / "
                 f"{100 * statistics.fmean(probes[q].test_accuracy[l] for l in langs):.1f}"
                 for q in ("monolingual", "centralized", "federated")]
        print(f"| {name} | {' | '.join(cells)} |", flush=True)


if __name__ == "__main__":
    main()
