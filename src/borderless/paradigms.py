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

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

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
    zero_shot: list[str] = field(default_factory=list)  # evaluated (dev/test) but never trained on
    distances: dict[tuple[str, str], float] | None = None  # URIEL distance between any two languages

    @property
    def evaluated(self) -> list[str]:
        return self.languages + self.zero_shot

    def nearest_training_language(self, lang: str) -> str:
        if not self.distances:
            raise ValueError(f"{lang}: zero-shot languages need language distances")
        known = [(self.distances[(lang, t)], t) for t in self.languages if not math.isnan(self.distances[(lang, t)])]
        if not known:
            raise ValueError(f"{lang}: no known distance to any training language; choose another federated.distance_kind")
        return min(known)[1]


@dataclass
class ParadigmResult:
    paradigm: str
    test: dict[str, dict[str, float]]
    wall_s: float
    train_examples: int
    zero_shot_via: dict[str, str] = field(default_factory=dict)  # zero-shot language → which model/state


def stream_seed(seed: int, lang_index: int) -> int:
    return seed * 1_000_003 + lang_index


def _eval_dev(model, work: Workload, langs: list[str], cfg: Config, paradigm: str, rnd: int, sink: MetricSink):
    for lang in langs:
        m = evaluate(model, work.dev[lang], cfg.train.eval_batch_size)
        sink({"paradigm": paradigm, "round": rnd, "lang": lang, "split": "dev", **m})


def dev_eval_due(cfg: Config, rnd: int) -> bool:
    """Is the dev split evaluated after round ``rnd`` (every ``federated.eval_every`` rounds and the last)?"""
    every = cfg.federated.eval_every
    return every > 0 and (rnd % every == 0 or rnd == cfg.federated.rounds)


def _test_all(model, work: Workload, langs: list[str], cfg: Config) -> dict[str, dict[str, float]]:
    return {lang: evaluate(model, work.test[lang], cfg.train.eval_batch_size) for lang in langs}


def run_monolingual(model, init: State, work: Workload, cfg: Config, head_names: set[str], sink: MetricSink,
                    tick: Callable[[str], None]) -> ParadigmResult:
    start, seen, test = time.perf_counter(), 0, {}
    via = {z: work.nearest_training_language(z) for z in work.zero_shot}
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
            if dev_eval_due(cfg, rnd):
                _eval_dev(model, work, [lang] + [z for z in work.zero_shot if via[z] == lang], cfg, "monolingual",
                          rnd, sink)
        for target in [lang] + [z for z in work.zero_shot if via[z] == lang]:
            test[target] = evaluate(model, work.test[target], cfg.train.eval_batch_size)
    return ParadigmResult("monolingual", test, time.perf_counter() - start, seen,
                          {z: f"monolingual model of the nearest training language, {via[z]}" for z in work.zero_shot})


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
        if dev_eval_due(cfg, rnd):
            _eval_dev(model, work, work.evaluated, cfg, "centralized", rnd, sink)
    test = _test_all(model, work, work.evaluated, cfg)
    return ParadigmResult("centralized", test, time.perf_counter() - start, seen,
                          {z: "the centralized model" for z in work.zero_shot})


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


def _eval_states(model, work: Workload, langs: list[str], result, cfg: Config, split: str):
    """Evaluate each language with the state the federation gives it: the global state, or under
    the distance-aware rule its own personalised state (zero-shot: mixed by its distances)."""
    out = {}
    if result.personal is None:
        load_trainable_state(model, result.state)
    for lang in langs:
        if result.personal is not None:
            load_trainable_state(model, personal_state_for(lang, result, work, cfg))
        out[lang] = evaluate(model, (work.dev if split == "dev" else work.test)[lang], cfg.train.eval_batch_size)
    return out


def personal_state_for(lang: str, result, work: Workload, cfg: Config) -> State:
    from borderless.federated.aggregators.distance_kernel import personalised_state

    if lang in result.personal:
        return result.personal[lang]
    return personalised_state(lang, [(u.client_id, u.state, u.num_examples) for u in result.updates],
                              work.distances, cfg.federated.temperature)


def run_federated(model, init: State, work: Workload, cfg: Config, head_names: set[str], sink: MetricSink,
                  tick: Callable[[str], None]) -> ParadigmResult:
    start, seen = time.perf_counter(), 0
    clients = make_clients(work, cfg)
    state_bytes = state_num_bytes(init)
    rounds = run_rounds(model, clients, init, cfg.train, cfg.federated, head_names, cfg.run.seed,
                        on_client=lambda rnd, cid: tick(cid), distances=work.distances)
    result = None
    for result in rounds:
        for u in result.updates:
            seen += int(u.metrics["train_examples"])
            sink({"paradigm": "federated", "round": result.round, "client": u.client_id,
                  "num_examples": u.num_examples, "bytes_up": state_num_bytes(u.state),
                  "bytes_down": state_bytes, **u.metrics})
        if dev_eval_due(cfg, result.round):
            for lang, m in _eval_states(model, work, work.evaluated, result, cfg, "dev").items():
                sink({"paradigm": "federated", "round": result.round, "lang": lang, "split": "dev", **m})
    test = _eval_states(model, work, work.evaluated, result, cfg, "test")
    if result.personal is not None:
        load_trainable_state(model, result.state)
    how = ("its own mix of the clients' final updates, weighted by language distance" if result.personal is not None
           else "the global model")
    return ParadigmResult("federated", test, time.perf_counter() - start, seen, {z: how for z in work.zero_shot})


RUNNERS = {"monolingual": run_monolingual, "centralized": run_centralized, "federated": run_federated}
