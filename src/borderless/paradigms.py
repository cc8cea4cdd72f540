"""Monolingual, centralized and federated runners over the SAME examples and evaluation sets.

Compute budget (matched): with R rounds of k local steps of batch size B,
- federated: every client trains k steps per round for R rounds (k·R·B examples per client);
- monolingual: each language trains k·R steps alone, on exactly the batches its federated client
  sees (the same seeded stream);
- centralized: one model trains k·R·C steps (C = number of clients) on the pooled training data.
So each paradigm processes the same number of training examples. All start from the same initial
trainable state (same seed) and are evaluated on every language's test split.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from borderless.config import Config
from borderless.federated.simulation import Client, run_rounds
from borderless.train import BatchStream, TokenizedSet, evaluate, make_optimizer, train_steps
from borderless.tuning.state import State, load_trainable_state, state_num_bytes

MetricSink = Callable[[dict], None]


@dataclass
class Workload:
    """Tokenized per-language splits; the training sets never leave their client."""

    languages: list[str]
    train: dict[str, TokenizedSet]
    dev: dict[str, TokenizedSet]
    test: dict[str, TokenizedSet]
    clients: dict[str, list[tuple[str, int]]] | None = None  # federated clients; None = one per language
    partition_table: str = ""  # per-client sizes and label counts, for people


@dataclass
class ParadigmResult:
    paradigm: str
    test: dict[str, dict[str, float]]
    wall_s: float
    train_examples: int


def stream_seed(seed: int, lang_index: int) -> int:
    return seed * 1_000_003 + lang_index


def _eval_dev(model, work: Workload, langs: list[str], cfg: Config, paradigm: str, rnd: int, sink: MetricSink):
    for lang in langs:
        m = evaluate(model, work.dev[lang], cfg.train.eval_batch_size)
        sink({"paradigm": paradigm, "round": rnd, "lang": lang, "split": "dev", **m})


def _due(cfg: Config, rnd: int) -> bool:
    every = cfg.federated.eval_every
    return every > 0 and (rnd % every == 0 or rnd == cfg.federated.rounds)


def _test_all(model, work: Workload, langs: list[str], cfg: Config) -> dict[str, dict[str, float]]:
    return {lang: evaluate(model, work.test[lang], cfg.train.eval_batch_size) for lang in langs}


def run_monolingual(model, init: State, work: Workload, cfg: Config, head_names: set[str], sink: MetricSink,
                    tick: Callable[[str], None]) -> ParadigmResult:
    start, seen, test = time.perf_counter(), 0, {}
    for li, lang in enumerate(work.languages):
        load_trainable_state(model, init)
        stream = BatchStream(work.train[lang], cfg.train.batch_size, stream_seed(cfg.run.seed, li))
        optimizer = make_optimizer(model, cfg.train, head_names)
        for rnd in range(1, cfg.federated.rounds + 1):
            tick(lang)
            torch.manual_seed(cfg.run.seed * 100_003 + rnd * 1_009 + li)
            m = train_steps(model, stream, cfg.train.local_steps, optimizer)
            seen += int(m["train_examples"])
            sink({"paradigm": "monolingual", "round": rnd, "client": lang, **m})
            if _due(cfg, rnd):
                _eval_dev(model, work, [lang], cfg, "monolingual", rnd, sink)
        test[lang] = evaluate(model, work.test[lang], cfg.train.eval_batch_size)
    return ParadigmResult("monolingual", test, time.perf_counter() - start, seen)


def run_centralized(model, init: State, work: Workload, cfg: Config, head_names: set[str], sink: MetricSink,
                    tick: Callable[[str], None]) -> ParadigmResult:
    start = time.perf_counter()
    load_trainable_state(model, init)
    pooled = TokenizedSet.concat([work.train[lang] for lang in work.languages])
    stream = BatchStream(pooled, cfg.train.batch_size, stream_seed(cfg.run.seed, len(work.languages)))
    optimizer = make_optimizer(model, cfg.train, head_names)
    steps = cfg.train.local_steps * len(work.clients or work.languages)
    seen = 0
    for rnd in range(1, cfg.federated.rounds + 1):
        tick("pooled")
        torch.manual_seed(cfg.run.seed * 100_003 + rnd * 1_009)
        m = train_steps(model, stream, steps, optimizer)
        seen += int(m["train_examples"])
        sink({"paradigm": "centralized", "round": rnd, "client": "pooled", **m})
        if _due(cfg, rnd):
            _eval_dev(model, work, work.languages, cfg, "centralized", rnd, sink)
    test = _test_all(model, work, work.languages, cfg)
    return ParadigmResult("centralized", test, time.perf_counter() - start, seen)


def make_clients(work: Workload, cfg: Config) -> list[Client]:
    """One client per entry of ``work.clients`` (by default one per language, in language order,
    so a language client's batch stream is exactly its monolingual counterpart's)."""
    assignment = work.clients or {lang: [(lang, i) for i in range(len(work.train[lang]))] for lang in work.languages}
    clients = []
    for ci, (cid, items) in enumerate(assignment.items()):
        parts = [work.train[lang].select([i for l, i in items if l == lang]) for lang in work.languages
                 if any(l == lang for l, _ in items)]
        clients.append(Client(cid, BatchStream(TokenizedSet.concat(parts), cfg.train.batch_size,
                                               stream_seed(cfg.run.seed, ci))))
    return clients


def run_federated(model, init: State, work: Workload, cfg: Config, head_names: set[str], sink: MetricSink,
                  tick: Callable[[str], None]) -> ParadigmResult:
    start, seen = time.perf_counter(), 0
    clients = make_clients(work, cfg)
    state_bytes = state_num_bytes(init)
    rounds = run_rounds(model, clients, init, cfg.train, cfg.federated, head_names, cfg.run.seed,
                        on_client=lambda rnd, cid: tick(cid))
    for result in rounds:
        for u in result.updates:
            seen += int(u.metrics["train_examples"])
            sink({"paradigm": "federated", "round": result.round, "client": u.client_id,
                  "num_examples": u.num_examples, "bytes_up": state_num_bytes(u.state),
                  "bytes_down": state_bytes, **u.metrics})
        if _due(cfg, result.round):
            load_trainable_state(model, result.state)
            _eval_dev(model, work, work.languages, cfg, "federated", result.round, sink)
    test = _test_all(model, work, work.languages, cfg)
    return ParadigmResult("federated", test, time.perf_counter() - start, seen)


RUNNERS = {"monolingual": run_monolingual, "centralized": run_centralized, "federated": run_federated}
