"""Monolingual, centralized, federated and federated + personal runners over the SAME examples and
evaluation sets.

Compute budget (matched): with R rounds of k local steps of batch size B,
- federated: every client trains k steps per round for R rounds (k·R·B examples per client);
- monolingual: each language trains k·R steps alone, on exactly the batches its federated client
  sees (the same seeded stream);
- centralized: one model trains k·R·C steps (C = number of clients) on the pooled training data;
- federated_personal: the federated model, then each client up to ``federated.personal_steps`` more
  steps on its own data, keeping the step count that does best on its own dev split (0 = the global model).
Every paradigm follows the same learning-rate schedule over its own steps (``train.schedule``,
``train.warmup``). With ``train.stop = "dev"`` a paradigm stops after ``train.patience`` dev
evaluations without a better mean dev accuracy and restores its best state (the state before any
training is a candidate too); steps taken and examples processed are reported either way.

Every paradigm starts from the same seeded prompt (or adapter) and, with ``method.head_init =
"probe"``, from its own frozen-feature probe's head (LP-FT): monolingual from each language's probe,
centralized from the pooled one, federated from the federated probe (``borderless.probe``).
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch

from borderless.checkpoint import NO_CHECKPOINT, Checkpointer
from borderless.config import Config
from borderless.federated.simulation import Client, ClientUpdate, RoundResult, run_rounds
from borderless.kept_states import ROUND_START, update_who
from borderless.privacy.plan import (client_privacy, is_private, make_stream, noise_seed, paradigm_record, server_privacy,
                                    steps_taken)
from borderless.train import BatchStream, TokenizedSet, evaluate, evaluate_many, make_optimizer, schedule_factors, train_steps
from borderless.tuning.state import State, load_trainable_state, state_num_bytes, trainable_state

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
    num_labels: int = 0  # the run's label space (simulated label-flip attacks need it)
    # token tasks: per language, the words max_length cut (borderless.token_alignment.AlignmentCounts)
    truncation: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def client_rows(self) -> dict[str, list[tuple[str, int]]]:
        """The federated clients' training rows; by default one client per language, in language order."""
        return self.clients or {l: [(l, i) for i in range(len(self.train[l]))] for l in self.languages}

    @property
    def evaluated(self) -> list[str]:
        return self.languages + self.zero_shot

    @property
    def metric(self) -> str:
        """What this run selects on and reports first (train.select_metric, resolved)."""
        return next(iter(self.test.values())).metric if self.test else "accuracy"

    def nearest_training_language(self, lang: str) -> str:
        if not self.distances:
            raise ValueError(f"{lang}: zero-shot languages need language distances")
        known = [(self.distances[(lang, t)], t) for t in self.languages if not math.isnan(self.distances[(lang, t)])]
        if not known:
            raise ValueError(f"{lang}: no known distance to any training language; choose another federated.distance_kind")
        return min(known)[1]


@dataclass
class Start:
    """Where each paradigm's trainable state begins: the seeded prompt/adapter and head (``base``),
    with the head replaced by the paradigm's own probe when ``probes`` are given (LP-FT)."""

    base: State
    probes: Mapping | None = None  # paradigm → borderless.probe.Probe

    def state(self, paradigm: str, lang: str | None = None) -> State:
        if not self.probes:
            return self.base
        probe = self.probes["federated" if paradigm.startswith("federated") else paradigm]
        head = probe.heads[lang] if lang in probe.heads else next(iter(probe.heads.values()))
        return {**self.base, **{k: v.clone() for k, v in head.items() if k in self.base}}


def as_start(init: State | Start) -> Start:
    return init if isinstance(init, Start) else Start(init)


@dataclass
class ParadigmResult:
    paradigm: str
    test: dict[str, dict[str, float]]
    wall_s: float
    train_examples: int
    zero_shot_via: dict[str, str] = field(default_factory=dict)  # zero-shot language → which model/state
    steps: int = 0  # optimizer steps taken (summed over clients / languages)
    stopped: dict[str, dict[str, int]] = field(default_factory=dict)  # who → {"trained_rounds", "best_round"}
    extra: dict = field(default_factory=dict)  # paradigm-specific facts for results.json
    final: object = None  # federated: the chosen RoundResult and the clients (for federated_personal)
    dev_score: dict[str, float] = field(default_factory=dict)  # who → dev criterion of the kept state (stop = "dev")


def _kept(scores: dict[str, float]) -> dict[str, float]:
    """Dev scores of the restored states; empty when nothing was selected on dev (stop = "budget")."""
    return {} if any(v < 0 for v in scores.values()) else scores


def stream_seed(seed: int, lang_index: int) -> int:
    return seed * 1_000_003 + lang_index


def dev_eval_due(cfg: Config, rnd: int) -> bool:
    """Is the dev split evaluated after round ``rnd`` (every ``federated.eval_every`` rounds and the last)?"""
    every = cfg.federated.eval_every
    return every > 0 and (rnd % every == 0 or rnd == cfg.federated.rounds)


class DevStopper:
    """Early stopping on a mean dev accuracy with patience, keeping the best snapshot.
    Inactive under ``train.stop = "budget"`` (every round trains, the final state is kept)."""

    def __init__(self, cfg: Config):
        self.active = cfg.train.stop == "dev"
        self.patience = cfg.train.patience
        self.best_acc, self.best_round, self.best, self.bad, self.last_round = -1.0, 0, None, 0, 0

    def update(self, rnd: int, acc: float, snapshot: Callable[[], object]) -> bool:
        """Record round ``rnd``'s dev accuracy; True when training should stop."""
        self.last_round = rnd
        if not self.active:
            return False
        if acc > self.best_acc + 1e-9:
            self.best_acc, self.best_round, self.best, self.bad = acc, rnd, snapshot(), 0
            return False
        self.bad += 1
        return self.bad >= self.patience

    def facts(self) -> dict[str, int]:
        return {"trained_rounds": self.last_round, "best_round": self.best_round if self.active else self.last_round}

    def record(self, encode: Callable[[object], object] = lambda b: b) -> dict:
        return {"best_acc": self.best_acc, "best_round": self.best_round, "bad": self.bad, "last_round": self.last_round,
                "best": None if self.best is None else encode(self.best)}

    def restore(self, saved: dict, decode: Callable[[object], object] = lambda b: b) -> None:
        self.best_acc, self.best_round, self.bad = saved["best_acc"], saved["best_round"], saved["bad"]
        self.last_round = saved["last_round"]
        self.best = None if saved["best"] is None else decode(saved["best"])


def _eval_dev(model, work: Workload, langs: list[str], cfg: Config, paradigm: str, rnd: int,
              sink: MetricSink) -> dict[str, float]:
    out = {}
    for lang, m in evaluate_many(model, {l: work.dev[l] for l in langs}, cfg.train.eval_batch_size).items():
        sink({"paradigm": paradigm, "round": rnd, "lang": lang, "split": "dev", **m})
        out[lang] = m["score"]
    return out


def _test_all(model, work: Workload, langs: list[str], cfg: Config) -> dict[str, dict[str, float]]:
    return evaluate_many(model, {lang: work.test[lang] for lang in langs}, cfg.train.eval_batch_size)


def _train_alone(model, start: State, stream: BatchStream, steps_per_round: int, cfg: Config,
                 head_names: set[str], who: str, paradigm: str, dev_langs: list[str], score_langs: list[str],
                 work: Workload, sink: MetricSink, tick: Callable[[str], None], seed_of: Callable[[int], int],
                 saved: dict | None = None, save: Callable[[dict], None] = lambda record: None,
                 dp=None) -> dict:
    """The monolingual / centralized loop: rounds of ``steps_per_round`` steps on one stream, on the
    run's schedule, dev-evaluated when due, stopped on dev when asked. Leaves the chosen state loaded.
    After every round ``save`` gets what continuing needs; ``saved`` (from a checkpoint) continues there."""
    load_trainable_state(model, start)
    optimizer = make_optimizer(model, cfg.train, head_names)
    total = cfg.federated.rounds * steps_per_round
    stopper, seen, steps, first, stopped = DevStopper(cfg), 0, 0, 1, False
    if saved is not None:  # a resumed run: the state after round saved["round"]
        load_trainable_state(model, saved["state"])
        optimizer.load_state_dict(saved["optimizer"])
        stopper.restore(saved["stopper"])
        seen, steps, first, stopped = saved["seen"], saved["steps"], saved["round"] + 1, saved["stopped"]
        stream.skip(steps)  # one batch per step
    elif stopper.active:
        accs = _eval_dev(model, work, dev_langs, cfg, paradigm, 0, sink)
        stopper.update(0, statistics.fmean(accs[l] for l in score_langs), lambda: trainable_state(model))
    for rnd in range(first, cfg.federated.rounds + 1):
        if stopped:
            break
        tick(who)
        torch.manual_seed(seed_of(rnd))
        factors = schedule_factors(cfg.train, (rnd - 1) * steps_per_round, steps_per_round, total)
        m = train_steps(model, stream, steps_per_round, optimizer, lr_factors=factors, dp=dp, noise_seed=seed_of(rnd))
        seen, steps = seen + int(m["train_examples"]), steps + steps_per_round
        sink({"paradigm": paradigm, "round": rnd, "client": who, **m})
        stopper.last_round = rnd
        if dev_eval_due(cfg, rnd):
            accs = _eval_dev(model, work, dev_langs, cfg, paradigm, rnd, sink)
            stopped = stopper.update(rnd, statistics.fmean(accs[l] for l in score_langs), lambda: trainable_state(model))
        save({"round": rnd, "state": trainable_state(model), "optimizer": optimizer.state_dict(),
              "stopper": stopper.record(), "seen": seen, "steps": steps, "stopped": stopped})
    if stopper.active and stopper.best is not None:
        load_trainable_state(model, stopper.best)
    return {"examples": seen, "steps": steps, "dev_score": stopper.best_acc, **stopper.facts()}


def _keep_nothing(who: str, state: State) -> None:
    """The default ``keep`` hook: a paradigm runner calls ``keep(who, state)`` with every state it
    chose (borderless.kept_states writes them into the results folder)."""


def run_monolingual(model, init: State | Start, work: Workload, cfg: Config, head_names: set[str],
                    sink: MetricSink, tick: Callable[[str], None], ckpt: Checkpointer = NO_CHECKPOINT,
                    keep: Callable[[str, State], None] = _keep_nothing) -> ParadigmResult:
    start = time.perf_counter()
    done = ckpt.resumed("monolingual") or {"seen": 0, "steps": 0, "test": {}, "stopped": {}, "dev": {}, "lang": None}
    seen, steps, test, stopped, dev = done["seen"], done["steps"], done["test"], done["stopped"], done["dev"]
    taken = {lang: tuple(v) for lang, v in done.get("taken", {}).items()}  # DP: each language's (examples, steps)
    begin = as_start(init)
    via = {z: work.nearest_training_language(z) for z in work.zero_shot}
    for li, lang in enumerate(work.languages):
        if lang in stopped:  # finished before a restart
            continue
        stream = make_stream(cfg, work.train[lang], stream_seed(cfg.run.seed, li))
        dp = client_privacy(cfg, "monolingual", len(work.train[lang]), 1, noise_seed(cfg, li))
        own_zs = [z for z in work.zero_shot if via[z] == lang]
        record = {"seen": seen, "steps": steps, "test": test, "stopped": stopped, "dev": dev, "lang": lang,
                  "taken": taken}
        facts = _train_alone(model, begin.state("monolingual", lang), stream, cfg.train.local_steps, cfg, head_names,
                             lang, "monolingual", [lang] + own_zs, [lang], work, sink, tick,
                             lambda rnd, li=li: cfg.run.seed * 100_003 + rnd * 1_009 + li,
                             saved=done.get("current") if done["lang"] == lang else None,
                             save=lambda cur, record=record: ckpt.save("monolingual", {**record, "current": cur}), dp=dp)
        taken[lang] = (len(work.train[lang]), facts["steps"])
        seen, steps, dev[lang] = seen + facts.pop("examples"), steps + facts.pop("steps"), facts.pop("dev_score")
        stopped[lang] = facts
        keep(lang, trainable_state(model))  # the chosen state is loaded: kept before the checkpoint moves on
        for target in [lang] + own_zs:
            test[target] = evaluate(model, work.test[target], cfg.train.eval_batch_size)
        ckpt.save("monolingual", {"seen": seen, "steps": steps, "test": test, "stopped": stopped, "dev": dev,
                                  "lang": None, "taken": taken})
    extra = {"privacy": paradigm_record(cfg, "monolingual", taken, 1)} if is_private(cfg) else {}
    return ParadigmResult("monolingual", test, time.perf_counter() - start, seen,
                          {z: f"monolingual model of the nearest training language, {via[z]}" for z in work.zero_shot},
                          steps, stopped, extra, dev_score=_kept(dev))


def run_centralized(model, init: State | Start, work: Workload, cfg: Config, head_names: set[str],
                    sink: MetricSink, tick: Callable[[str], None], ckpt: Checkpointer = NO_CHECKPOINT,
                    keep: Callable[[str, State], None] = _keep_nothing) -> ParadigmResult:
    start = time.perf_counter()
    pooled = TokenizedSet.concat([work.train[lang] for lang in work.languages])
    stream = make_stream(cfg, pooled, stream_seed(cfg.run.seed, len(work.languages)))
    per_round = cfg.train.local_steps * len(work.clients or work.languages)
    parties = len(work.clients or work.languages)
    dp = client_privacy(cfg, "centralized", len(pooled), parties, noise_seed(cfg, len(work.languages)))
    facts = _train_alone(model, as_start(init).state("centralized"), stream, per_round, cfg, head_names, "pooled",
                         "centralized", work.evaluated, work.languages, work, sink, tick,
                         lambda rnd: cfg.run.seed * 100_003 + rnd * 1_009,
                         saved=ckpt.resumed("centralized"), save=lambda cur: ckpt.save("centralized", cur), dp=dp)
    extra = ({"privacy": paradigm_record(cfg, "centralized", {"pooled": (len(pooled), facts["steps"])}, parties)}
             if is_private(cfg) else {})
    seen, steps, dev = facts.pop("examples"), facts.pop("steps"), facts.pop("dev_score")
    keep("global", trainable_state(model))
    test = _test_all(model, work, work.evaluated, cfg)
    return ParadigmResult("centralized", test, time.perf_counter() - start, seen,
                          {z: "the centralized model" for z in work.zero_shot}, steps, {"pooled": facts}, extra,
                          dev_score=_kept({"pooled": dev}))


def make_clients(work: Workload, cfg: Config) -> list[Client]:
    """One client per entry of ``work.clients`` (by default one per language, in language order,
    so a language client's batch stream is exactly its monolingual counterpart's)."""
    clients = []
    flip = cfg.federated.attack == "label_flip"
    for ci, (cid, items) in enumerate(work.client_rows.items()):
        parts = [work.train[lang].select([i for l, i in items if l == lang]) for lang in work.languages
                 if any(l == lang for l, _ in items)]
        data = TokenizedSet.concat(parts)
        if flip and cid in cfg.federated.attack_clients:  # a simulated hostile client (borderless.federated.attacks)
            from borderless.federated.attacks import flip_labels

            data = dataclasses.replace(data, labels=flip_labels(data.labels, work.num_labels))
        clients.append(Client(cid, make_stream(cfg, data, stream_seed(cfg.run.seed, ci)),
                              client_privacy(cfg, "federated", len(data), len(work.client_rows), noise_seed(cfg, ci))))
    return clients


def _eval_states(model, work: Workload, langs: list[str], result, cfg: Config, split: str):
    """Evaluate each language with the state the federation gives it: the global state, or under
    the distance-aware rule its own personalised state (zero-shot: mixed by its distances)."""
    out = {}
    if result.personal is None:
        load_trainable_state(model, result.state)
        return evaluate_many(model, {l: (work.dev if split == "dev" else work.test)[l] for l in langs},
                             cfg.train.eval_batch_size)
    for lang in langs:
        if result.personal is not None:
            load_trainable_state(model, personal_state_for(lang, result, work, cfg))
        out[lang] = evaluate(model, (work.dev if split == "dev" else work.test)[lang], cfg.train.eval_batch_size)
    return out


def personal_state_for(lang: str, result, work: Workload, cfg: Config) -> State:
    from borderless.federated.aggregators.distance_kernel import personalised_state

    if lang in result.personal:
        return result.personal[lang]
    if cfg.federated.local_head:  # a language outside the federation: the clients' averaged head
        return result.state
    return personalised_state(lang, [(u.client_id, u.state, u.num_examples) for u in result.updates],
                              work.distances, cfg.federated.temperature)


@dataclass
class _Initial:
    """Round 0 of a federation, a stopping candidate: the starting state, not yet trained."""

    round: int
    state: State
    updates: list = field(default_factory=list)
    personal: dict | None = None


def updates_read_again(cfg: Config) -> bool:
    """Whether a finished round's client updates are read after the round: only under the
    distance-aware rule with a shared head, which mixes a language outside the federation from them
    (``personal_state_for``)."""
    return cfg.federated.aggregator == "distance" and not cfg.federated.local_head


def without_updates(r):
    """Round ``r`` without its client updates, for what outlives the round (the stopper's best round,
    the checkpoint) where they are not read again. Under full fine-tuning they are clients × the
    model's size (16 × 470 MB on e5-small): two rounds' worth held at once exhausted 24 GB."""
    return dataclasses.replace(r, updates=[]) if r.updates else r


def drop_saved_updates(saved: dict) -> None:
    """Empty, in the loaded checkpoint itself, the client updates that a checkpoint written before
    rounds left them out still holds (its last round and the stopper's best), so that they are not
    held while the resumed rounds train."""
    for r in (saved["result"], saved["stopper"]["best"]):
        if r is not None:
            r["updates"] = []


def round_record(r) -> dict:
    """A RoundResult (or the untrained start) as plain data, for checkpoints."""
    return {"round": r.round, "state": r.state, "personal": r.personal,
            "updates": [{"client_id": u.client_id, "state": u.state, "num_examples": u.num_examples,
                         "metrics": u.metrics} for u in r.updates]}


def round_from_record(d: dict) -> RoundResult:
    return RoundResult(d["round"], d["state"], [ClientUpdate(u["client_id"], u["state"], u["num_examples"], u["metrics"])
                                                for u in d["updates"]], d["personal"])


def _advanced_clients(work: Workload, cfg: Config, trained: Mapping[str, int]) -> list[Client]:
    """The federated clients with their streams where ``trained`` rounds of local steps left them."""
    clients = make_clients(work, cfg)
    for c in clients:
        c.stream.skip(trained.get(c.client_id, 0) * cfg.train.local_steps)
    return clients


def run_federated(model, init: State | Start, work: Workload, cfg: Config, head_names: set[str],
                  sink: MetricSink, tick: Callable[[str], None], ckpt: Checkpointer = NO_CHECKPOINT,
                  keep: Callable[[str, State], None] = _keep_nothing) -> ParadigmResult:
    start, seen, steps, rejected = time.perf_counter(), 0, 0, []
    begin = as_start(init).state("federated")
    local_head = cfg.federated.local_head  # each client's head stays home: it starts from its own probe
    state_bytes = state_num_bytes({k: v for k, v in begin.items() if not (local_head and k in head_names)})
    stopper = DevStopper(cfg)
    saved = ckpt.resumed("federated")
    result, stop, carry, own = None, False, None, None
    reads_updates = updates_read_again(cfg)
    lean = (lambda r: r) if reads_updates else without_updates
    if saved is not None:  # a resumed run: continue after round saved["carry"]["round"]
        if not reads_updates:
            drop_saved_updates(saved)  # before anything decodes them
        stopper.restore(saved["stopper"], round_from_record)
        seen, steps, rejected, stop, carry = saved["seen"], saved["steps"], saved["rejected"], saved["stopped"], saved["carry"]
        result = round_from_record(saved["result"])
        clients = _advanced_clients(work, cfg, carry["trained"])
    else:
        clients = make_clients(work, cfg)
        own = {c.client_id: as_start(init).state("federated", c.client_id) for c in clients} if local_head else None
        if stopper.active:
            initial = _Initial(0, begin, personal=own)
            accs = _eval_states(model, work, work.evaluated, initial, cfg, "dev")
            for lang, m in accs.items():
                sink({"paradigm": "federated", "round": 0, "lang": lang, "split": "dev", **m})
            stopper.update(0, statistics.fmean(accs[l]["score"] for l in work.languages), lambda: initial)
    if not stop and (carry is None or carry["round"] < cfg.federated.rounds):
        before = carry["state"] if carry is not None else begin  # run.keep_updates: the state a round starts from
        rounds = run_rounds(model, clients, begin, cfg.train, cfg.federated, head_names, cfg.run.seed,
                            on_client=lambda rnd, cid: tick(cid), distances=work.distances, resume=carry,
                            privacy=server_privacy(cfg, len(clients), noise_seed(cfg, 10_007)),
                            initial_personal=own)
        for result in rounds:
            for r in result.rejected:  # refused by the server before aggregation (borderless.federated.validation)
                rejected.append(r.as_dict())
                sink({"paradigm": "federated", "rejected": True, **r.as_dict()})
            for u in result.updates:
                seen += int(u.metrics["train_examples"])
                steps += cfg.train.local_steps
                sink({"paradigm": "federated", "round": result.round, "client": u.client_id,
                      "num_examples": u.num_examples, "bytes_up": state_bytes,
                      "bytes_down": state_bytes, **u.metrics})
            if cfg.run.keep_updates:  # what the server saw this round (threat model b of borderless audit)
                keep_round_updates(keep, result, before)
                before = result.state
            result = lean(result)  # this round's updates are not held while the next one trains
            stopper.last_round = result.round
            if dev_eval_due(cfg, result.round):
                accs = _eval_states(model, work, work.evaluated, result, cfg, "dev")
                for lang, m in accs.items():
                    sink({"paradigm": "federated", "round": result.round, "lang": lang, "split": "dev", **m})
                stop = stopper.update(result.round, statistics.fmean(accs[l]["score"] for l in work.languages),
                                      lambda r=result: r)
            carry = result.carry
            ckpt.save("federated", {"carry": carry, "result": round_record(result), "stopper": stopper.record(round_record),
                                    "seen": seen, "steps": steps, "rejected": rejected, "stopped": stop})
            if stop:
                break
        rounds.close()
    chosen = stopper.best if (stopper.active and stopper.best is not None) else result
    if chosen.personal is None:
        keep("global", chosen.state)
    else:  # the distance-aware rule: every language has its own mix
        for lang in work.languages:
            keep(lang, personal_state_for(lang, chosen, work, cfg))
    test = _eval_states(model, work, work.evaluated, chosen, cfg, "test")
    if chosen.personal is not None:
        load_trainable_state(model, chosen.state)
    how = ("the global prompt or adapter with the clients' averaged head" if local_head else
           "its own mix of the clients' final updates, weighted by language distance" if chosen.personal is not None
           else "the global model")
    trained = dict(carry["trained"]) if carry else {}
    extra = {"rounds_taken": stopper.last_round, "bytes_per_client": 2 * state_bytes * stopper.last_round,
             "rejected_updates": rejected, "trained": trained}
    if is_private(cfg):
        extra["privacy"] = federated_privacy(cfg, clients, trained, stopper.last_round)
    return ParadigmResult("federated", test, time.perf_counter() - start, seen, {z: how for z in work.zero_shot},
                          steps, {"all": stopper.facts()}, extra,
                          final=(chosen, clients), dev_score=_kept({"all": stopper.best_acc}))


def keep_round_updates(keep: Callable[[str, State], None], result: RoundResult, start: State) -> None:
    """``run.keep_updates``: the global state round ``result.round`` started from and every update the
    server accepted in it, as kept states ``updates/round<r>/start`` and ``updates/round<r>/<client>``."""
    keep(update_who(result.round, ROUND_START), start)
    for u in result.updates:
        keep(update_who(result.round, u.client_id), u.state)


def result_record(r: ParadigmResult) -> dict:
    """A finished paradigm as plain data (federated: its chosen round, for federated_personal)."""
    out = {"paradigm": r.paradigm, "test": r.test, "wall_s": r.wall_s, "train_examples": r.train_examples,
           "zero_shot_via": r.zero_shot_via, "steps": r.steps, "stopped": r.stopped, "extra": r.extra,
           "dev_score": r.dev_score}
    if r.final is not None:
        out["chosen"] = round_record(r.final[0])
    return out


def result_from_record(d: dict, work: Workload, cfg: Config) -> ParadigmResult:
    final = None
    if "chosen" in d:
        final = (round_from_record(d["chosen"]), _advanced_clients(work, cfg, d["extra"].get("trained", {})))
    return ParadigmResult(d["paradigm"], d["test"], d["wall_s"], d["train_examples"], d["zero_shot_via"], d["steps"],
                          d["stopped"], d["extra"], final, d["dev_score"])


def run_federated_personal(model, init: State | Start, work: Workload, cfg: Config, head_names: set[str],
                           sink: MetricSink, tick: Callable[[str], None],
                           federated: ParadigmResult | None = None, ckpt: Checkpointer = NO_CHECKPOINT,
                           keep: Callable[[str, State], None] = _keep_nothing) -> ParadigmResult:
    """The federated model (reused from this run's federated paradigm when given), then each client
    adapts it on its own data alone; no data and no extra parameters move for this step."""
    start = time.perf_counter()
    if federated is None:
        federated = run_federated(model, init, work, cfg, head_names, sink, tick, ckpt)
    chosen, clients = federated.final
    done = ckpt.resumed("federated_personal") or {"seen": federated.train_examples, "steps": federated.steps,
                                                   "test": {}, "stopped": {}, "dev": {}}
    seen, steps, test, stopped, dev = done["seen"], done["steps"], done["test"], done["stopped"], done["dev"]
    for client in clients:
        lang = client.client_id
        if lang in stopped:  # finished before a restart
            continue
        start_state = personal_state_for(lang, chosen, work, cfg) if chosen.personal is not None else chosen.state
        out = personalise(model, client, start_state, work.dev[lang], work.test[lang], cfg, head_names,
                          sink, lambda: tick(lang))
        keep(lang, out.state)
        seen, steps = seen + out.train_examples, steps + out.trained
        stopped[lang], dev[lang] = {"personal_steps": out.best_step, "personal_trained": out.trained}, out.dev_score
        test[lang] = out.test
        ckpt.save("federated_personal", {"seen": seen, "steps": steps, "test": test, "stopped": stopped, "dev": dev})
    load_trainable_state(model, chosen.state)
    for z in work.zero_shot:  # no data to adapt to: the federation's own model
        test[z] = federated.test[z]
    extra = dict(federated.extra)
    if is_private(cfg):
        extra["privacy"] = federated_privacy(cfg, clients, extra.get("trained", {}), extra.get("rounds_taken", 0),
                                             {lang: s["personal_trained"] for lang, s in stopped.items()})
    return ParadigmResult("federated_personal", test, federated.wall_s + time.perf_counter() - start, seen,
                          {z: federated.zero_shot_via[z] for z in work.zero_shot}, steps,
                          {**federated.stopped, **{k: {"personal_steps": v["personal_steps"]} for k, v in stopped.items()}},
                          extra,
                          dev_score=dev if cfg.train.stop == "dev" else {})


@dataclass
class Personal:
    """One client's personal adaptation: the state it keeps (the best on its own dev split), after how
    many steps, how many it trained, and that state's dev and test scores."""

    state: State
    best_step: int
    trained: int
    train_examples: int
    dev_score: float
    test: dict[str, float]
    dev_curve: dict[int, float]


def personalise(model, client: Client, start_state: State, dev: TokenizedSet, test: TokenizedSet, cfg: Config,
                head_names: set[str], sink: MetricSink = lambda row: None,
                tick: Callable[[], None] = lambda: None) -> Personal:
    """Federated + personal for one client: from the federation's state, up to
    ``federated.personal_steps`` steps on the client's own stream (where federated training left it),
    its dev split read every ``personal_eval_every`` steps; the best state (the start included) is kept.
    The same function runs in `borderless run` and on a Flower node, where the state never leaves."""
    lang = client.client_id
    p = cfg.federated
    load_trainable_state(model, start_state)
    optimizer = make_optimizer(model, _personal_train_cfg(cfg), head_names)
    first = evaluate(model, dev, cfg.train.eval_batch_size)
    best = (first["score"], 0, trainable_state(model))
    curve = {0: best[0]}
    sink({"paradigm": "federated_personal", "round": 0, "client": lang, "personal_step": 0,
          "lang": lang, "split": "dev", **first})
    done, seen = 0, 0
    while done < p.personal_steps:
        tick()
        torch.manual_seed(cfg.run.seed * 100_003 + 7_919 + done)
        n = min(p.personal_eval_every, p.personal_steps - done)
        m = train_steps(model, client.stream, n, optimizer, dp=client.privacy,
                        noise_seed=cfg.run.seed * 100_003 + 7_919 + done)
        done, seen = done + n, seen + int(m["train_examples"])
        now = evaluate(model, dev, cfg.train.eval_batch_size)
        acc = curve[done] = now["score"]
        sink({"paradigm": "federated_personal", "round": done, "client": lang, "personal_step": done,
              "lang": lang, "split": "dev", **now, "train_loss": m["train_loss"]})
        if acc > best[0] + 1e-9:
            best = (acc, done, trainable_state(model))
    load_trainable_state(model, best[2])
    return Personal(best[2], best[1], done, seen, best[0], evaluate(model, test, cfg.train.eval_batch_size), curve)


def federated_privacy(cfg: Config, clients: list[Client], trained: Mapping[str, int], rounds_run: int,
                      personal: Mapping[str, int] | None = None) -> dict:
    """Each client's guarantee, over the steps or rounds ``steps_taken`` counts for it."""
    parties = {c.client_id: (c.num_examples, steps_taken(cfg, trained.get(c.client_id, 0), rounds_run,
                                                          (personal or {}).get(c.client_id, 0))) for c in clients}
    rec = paradigm_record(cfg, "federated", parties, len(clients))
    if cfg.privacy.mechanism in ("client", "local") and personal is not None:
        rec["note"] = ("personal adaptation trains on each client's own data without noise; the personal states "
                       "never leave their clients, and this guarantee covers what the server and the global model reveal")
    return rec


def _personal_train_cfg(cfg: Config):
    import dataclasses

    t = cfg.train
    scale = cfg.federated.personal_lr_scale
    return dataclasses.replace(t, lr=t.lr * scale, head_lr=(t.head_lr or t.lr) * scale, schedule="constant",
                               warmup=0.0)


RUNNERS = {"monolingual": run_monolingual, "centralized": run_centralized, "federated": run_federated,
           "federated_personal": run_federated_personal}
