"""``borderless run``: config → data → backbone (once) → method → paradigms → results folder."""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import tomli_w
from tqdm.auto import tqdm

from borderless import atomic_files
from borderless.backbones.resolve import Backbone, load_configured
from borderless.config import (Config, ConfigError, DataConfig, refuse_unprotected_paradigms, resolve_cache_dir,
                               resolve_metric, token_task)
from borderless.data.partition import PartitionSpec, histogram, partition
from borderless.data.sampling import stratified_cap
from borderless.data.presets import load_dataset
from borderless.data.types import LanguageData
from borderless.errors import OutputError
from borderless.features import feature_store, return_free_memory, start_features
from borderless.checkpoint import Checkpointer
from borderless.checkpoint import load as load_checkpoint
from borderless.checkpoint import restore_carried
from borderless.paradigms import (RUNNERS, ParadigmResult, Start, Workload, result_from_record, result_record,
                                  run_federated_personal)
from borderless import probe_selection
from borderless.kept_states import StateKeeper, models_index
from borderless.probe import Probe, ProbeData, all_probes, metric_fields, personalised_probe
from borderless.report import write_report
from borderless.language.families import MANY_LANGUAGES, family_of
from borderless.language.tokenization import stats_by_language
from borderless.token_alignment import AlignmentCounts, tokenize_words
from borderless.train import tokenize
from borderless.tuning.factory import build_for, describe, pooling_of
from borderless.tuning.state import state_num_bytes, state_num_params, trainable_state


class OutputExistsError(FileExistsError):
    pass


@dataclass
class RunOutput:
    folder: Path
    results: dict


PROBE_PARADIGMS = ("monolingual", "centralized", "federated", "federated_personal")


def majority_share(labels: list[int]) -> float:
    """Accuracy of always answering the most frequent label of this split."""
    from collections import Counter

    return max(Counter(labels).values()) / len(labels) if labels else float("nan")


def majority_baselines(work: Workload, data: dict[str, LanguageData]) -> dict[str, dict[str, float]]:
    """Each evaluated language's baseline, every metric: a sentence task's majority class of the test
    split (its macro-F1 is one class's F1 averaged with the other classes' zeros); a token task's most
    frequent tag per word type in the language's training data (zero-shot languages: all training
    languages'), on the words the model is scored on."""
    from collections import Counter

    from borderless.metrics import sentence_scores
    from borderless.token_baseline import baseline_scores

    out = {}
    for l in work.evaluated:
        test = work.test[l]
        if test.token_task:
            by_uid = {ex.uid: ex for ex in data[l].test}
            train = data[l].train if l in work.languages else [ex for t in work.languages for ex in data[t].train]
            out[l] = baseline_scores(train, [by_uid[u] for u in test.uids], test.tags, test.label_names)
        elif len(test):
            gold = np.asarray(test.labels)
            top = min(Counter(test.labels).items(), key=lambda kv: (-kv[1], kv[0]))[0]
            out[l] = sentence_scores(gold, np.full_like(gold, top))
    return out


def paradigm_summary(name: str, r: ParadigmResult, work: Workload, probes: dict, cfg: Config,
                     dp_probes: dict | None = None) -> dict:
    """``dp_probes`` (example-level DP with LP-FT): the paradigms' DP probes, the floors a DP run is held to."""
    langs = work.languages
    metric = work.metric  # the floors compare the run's metric
    mean = statistics.fmean(r.test[l][metric] for l in langs)
    own = probes[name].summary(langs)
    dp_own = dp_probes["federated" if name.startswith("federated") else name].summary(langs) if dp_probes else None
    floor = own[f"mean_{metric}"]
    dp_floor = dp_own[f"mean_{metric}"] if dp_own else None
    out = {
        "metric": metric,
        "test_accuracy": {l: r.test[l]["accuracy"] for l in langs},
        "mean_accuracy": statistics.fmean(r.test[l]["accuracy"] for l in langs),
        "worst_language": min(langs, key=lambda l: r.test[l][metric]),  # by the run's metric
        "worst_accuracy": min(r.test[l]["accuracy"] for l in langs),
        "zero_shot_accuracy": {l: r.test[l]["accuracy"] for l in work.zero_shot},
        "zero_shot_via": r.zero_shot_via,
        "train_examples_processed": r.train_examples,
        "optimizer_steps": r.steps,
        "stopping": r.stopped,
        "probe_mean_accuracy": own["mean_accuracy"],
        # a tuned paradigm below its own probe is a recipe problem, flagged in every report
        # under DP the probe fitted without noise is a reference, not a floor; the DP probe (same guarantee) is
        "below_probe": cfg.method.name != "head" and (mean < dp_floor - 1e-9 if dp_floor is not None else
                                                      cfg.privacy.mechanism == "none" and mean < floor - 1e-9),
        "wall_s": round(r.wall_s, 1),
    }
    if r.dev_score and cfg.train.probe_candidate and cfg.method.name != "head":
        out["dev_score"] = r.dev_score  # the dev criterion of the kept state: the probe competes on it
    if "privacy" in r.extra:
        out["privacy"] = r.extra["privacy"]
    out.update(metric_fields(r.test, langs))
    if metric != "accuracy":
        out[f"probe_mean_{metric}"] = floor
    if dp_own is not None:
        out["dp_probe_mean_accuracy"] = dp_own["mean_accuracy"]
        if metric != "accuracy":
            out[f"dp_probe_mean_{metric}"] = dp_floor
    if name.startswith("federated"):
        probe_bytes = probes["federated"].bytes_per_client if cfg.method.probe_init else 0
        out["rounds_taken"] = r.extra.get("rounds_taken", cfg.federated.rounds)
        out["rejected_updates"] = r.extra.get("rejected_updates", [])
        out["bytes_per_client_total"] = (r.extra.get("bytes_per_client", 0) +
                                         (probe_bytes if cfg.method.name != "head" else 0))
    return out


def check_output(folder: Path, overwrite: bool) -> Path:
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()) and not overwrite:
        raise OutputExistsError(
            f"{folder}: results folder exists and is not empty; nothing was touched. "
            "Choose another --output, or pass --overwrite to replace its files."
        )
    return folder


def partition_overview(kind: str, table: str, folder: Path) -> str:
    """The clients table for the screen; with many clients their sizes in one line (the table is in
    partition.txt)."""
    rows = table.splitlines()[1:]
    if len(rows) <= MANY_LANGUAGES:
        return f"federated clients ({kind} partition):\n{table}"
    sizes = sorted(int(r.split()[1]) for r in rows)
    return (f"federated clients ({kind} partition): {len(sizes)} clients, training examples per client "
            f"min {sizes[0]}, median {sizes[len(sizes) // 2]}, max {sizes[-1]} (every client: "
            f"{folder / 'partition.txt'})")


def ensure_writable(folder: Path) -> None:
    """Fail now, naming the folder, rather than after an hour of training."""
    import tempfile

    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-"):
            pass
    except OSError as err:
        raise OutputError(f"{folder}: cannot write the results folder ({err.strerror or err}); "
                          "choose a writable --output or fix the folder's permissions") from None


def load_data(cfg: Config) -> dict[str, LanguageData]:
    """Training languages first, then the zero-shot ones (evaluated only)."""
    return load_dataset(cfg.data)


def language_distances(cfg: Config, languages: list[str]) -> dict[tuple[str, str], float] | None:
    """URIEL distances among all languages, needed by the distance-aware rule and by zero-shot
    languages (their monolingual model is the nearest training language's)."""
    if cfg.federated.aggregator != "distance" and not cfg.data.zero_shot:
        return None
    from borderless.language.distance import distance, pair_distances

    if cfg.federated.aggregator != "distance":  # zero-shot only: each against the training languages
        zero_shot = [l for l in languages if l in cfg.data.zero_shot]
        training = [l for l in languages if l not in cfg.data.zero_shot]
        return pair_distances(cfg.federated.distance_kind, [(z, t) for z in zero_shot for t in training])
    m = distance(cfg.federated.distance_kind, languages)
    return {(a, b): m.get(a, b) for a in languages for b in languages}


def partition_spec(c: DataConfig) -> PartitionSpec:
    return PartitionSpec(c.partition, c.num_clients, c.dirichlet_alpha, c.low_resource, c.low_resource_fraction)


def text_template(cfg: Config, backbone: Backbone, data: dict[str, LanguageData]) -> str:
    """``method.template``; unset, a decoder reads a sentence pair as "premise\\nhypothesis" (its
    tokenizer's own pair encoding would repeat the start token between them)."""
    if cfg.method.template or backbone.kind != "decoder":
        return cfg.method.template
    paired = any(ex.text_pair is not None for d in data.values() for ex in (d.train or d.test)[:1])
    return "{text}\n{text_pair}" if paired else ""


def build_workload(cfg: Config, backbone: Backbone, max_length: int,
                   data: dict[str, LanguageData] | None = None) -> tuple[Workload, tuple[str, ...]]:
    data = data if data is not None else load_data(cfg)
    langs = list(data)[: len(cfg.data.languages)]
    zero_shot = list(data)[len(cfg.data.languages):]
    labels = data[langs[0]].labels.names
    caps, seed = cfg.data, cfg.run.seed

    template = text_template(cfg, backbone, data)
    token = data[langs[0]].token_task
    cut = {l: AlignmentCounts() for l in data}
    metric = run_metric(cfg, labels)

    def tok(examples, lang):
        if token:
            out = tokenize_words(examples, backbone.tokenizer, max_length, backbone.input_prefix, labels, cut[lang])
        else:
            out = tokenize(examples, backbone.tokenizer, max_length, backbone.input_prefix, data[lang].allowed, template)
        out.metric = metric
        return out

    capped = {l: stratified_cap(data[l].train, caps.max_train_per_language, seed) for l in langs}
    extra_dev = {l: dev_from_train(data[l].train, capped[l], caps.dev_from_train, seed, l) for l in langs}
    if caps.train_fraction < 1:  # data efficiency: a stratified fraction of what the cap kept
        capped = {l: stratified_cap(ex, max(1, round(caps.train_fraction * len(ex))), seed) for l, ex in capped.items()}
    assignment = partition(capped, partition_spec(cfg.data), seed)
    # every paradigm trains on exactly the examples the federation holds (size_skew drops some)
    held = {l: sorted({i for items in assignment.values() for ll, i in items if ll == l}) for l in langs}
    renumber = {l: {old: new for new, old in enumerate(held[l])} for l in langs}
    train = {l: [capped[l][i] for i in held[l]] for l in langs}
    clients = {c: [(l, renumber[l][i]) for l, i in items] for c, items in assignment.items()}
    work = Workload(
        langs,
        train={l: tok(train[l], l) for l in langs},
        dev={l: tok(stratified_cap(d.dev, dev_cap(caps, l in zero_shot), seed) + extra_dev.get(l, []), l)
             for l, d in data.items()},
        test={l: tok(stratified_cap(d.test, caps.max_test_per_language, seed), l) for l, d in data.items()},
        clients=clients,
        partition_table=histogram(clients, train, labels),
        zero_shot=zero_shot,
        distances=language_distances(cfg, langs + zero_shot),
        num_labels=len(labels),
        truncation={l: vars(c) for l, c in cut.items() if c.cut_words} if token else {},
    )
    return work, labels


def run_metric(cfg: Config, labels) -> str:
    """The metric this run selects on (train.select_metric resolved against its labels)."""
    from borderless.data.conll import is_bio

    metric = resolve_metric(cfg, is_bio(labels))
    if metric == "f1" and not is_bio(labels):
        raise ConfigError(f"train.select_metric = \"f1\" is entity F1 over BIO tags; this run's tags "
                          f"({', '.join(labels[:6])}...) are not BIO: use accuracy or macro_f1")
    return metric


def dev_from_train(train: list, kept: list, n: int, seed: int, lang: str) -> list:
    """``data.dev_from_train``: up to ``n`` of the training rows the cap left unused (seeded, stratified), to
    join the language's dev split. They never train: the training rows are ``kept`` or a subset of it."""
    if n <= 0:
        return []
    used = {id(ex) for ex in kept}
    unused = [ex for ex in train if id(ex) not in used]
    if not unused:
        raise ConfigError(f"data.dev_from_train = {n}: {lang} has {len(train)} training rows and "
                          "data.max_train_per_language keeps all of them, so none is left for dev; lower the cap "
                          "or set data.dev_from_train = 0")
    return stratified_cap(unused, n, seed)


def dev_cap(caps, zero_shot: bool) -> int:
    """How many dev rows a language keeps: zero-shot languages may have their own cap."""
    if zero_shot and caps.max_zero_shot_dev_per_language >= 0:
        return caps.max_zero_shot_dev_per_language
    return caps.max_dev_per_language


def probe_data(cfg: Config, backbone: Backbone, work: Workload, num_labels: int) -> tuple[ProbeData, dict]:
    """Cached frozen features of every split (computed once per sentence and backbone, on disk)."""
    t0 = time.perf_counter()
    store = feature_store(resolve_cache_dir(cfg.backbone), backbone.name, backbone.model, cfg.probe.feature_batch_size,
                          pooling_of(cfg.method, token_task(cfg.data)))
    x, y = {}, {}
    for split, sets in (("train", work.train), ("dev", work.dev), ("test", work.test)):
        for lang, data in sets.items():
            x[(lang, split)] = store.get(data)
            y[(lang, split)] = torch.tensor(np.concatenate(data.tags) if data.token_task and len(data) else data.labels,
                                            dtype=torch.long)
    clients = work.client_rows
    nearest = {z: work.nearest_training_language(z) for z in work.zero_shot}
    facts = {"computed_sentences": store.computed, "seconds": round(time.perf_counter() - t0, 2),
             "cache": str(store.folder) if store.folder else None}
    allowed = {l: s.allowed[0] for l, s in work.test.items() if s.allowed and s.allowed[0]}
    one = next(iter(work.test.values()))
    words = {(lang, split): np.concatenate([[0], np.cumsum([len(t) for t in data.tags])])
             for split, sets in (("train", work.train), ("dev", work.dev), ("test", work.test))
             for lang, data in sets.items() if data.token_task}
    return ProbeData(list(work.languages), work.evaluated, num_labels, x, y, clients, nearest, allowed,
                     words, one.label_names, one.metric), facts


def start_probes(cfg: Config, model, work: Workload, frozen: ProbeData, probes: dict) -> tuple[dict, dict]:
    """LP-FT heads: each paradigm's probe fitted on the features its model starts from. For LoRA and
    full fine-tuning those are the frozen features (the floor probes are reused); an untrained soft
    prompt, prompt encoder or prefix already moves them, so the head is fitted on the prompted
    features of the training and dev splits (one forward pass each, same solver and dev selection)."""
    if not model.changes_features_at_start():
        return probes, {"fitted_on": "frozen features (the method starts as the identity)"}
    t0 = time.perf_counter()
    bs = cfg.probe.feature_batch_size
    x = {(l, split): start_features(model, sets[l], bs) for split, sets in (("train", work.train), ("dev", work.dev))
         for l in work.languages}
    y = {k: v for k, v in frozen.y.items() if k in x}
    data = dataclasses.replace(frozen, evaluated=frozen.languages, x=x, y=y, nearest={})
    p = cfg.probe
    needed = tuple(dict.fromkeys("federated" if q.startswith("federated") else q for q in cfg.run.paradigms))
    fitted = with_own_heads(cfg, dict(all_probes(data, p.weight_decays, p.federated_rounds, p.federated_local_iters,
                                                 p.max_iter, cfg.federated.clients_per_round, cfg.run.seed,
                                                 paradigms=probes_to_fit(cfg, needed))))
    facts = {"fitted_on": "the starting model's features (untrained prompt included)",
             "seconds": round(time.perf_counter() - t0, 2),
             "dev_score": {k: pr.dev_score for k, pr in fitted.items()}}
    return fitted, facts


def dp_start_probes(cfg: Config, model, work: Workload, frozen: ProbeData) -> tuple[dict, dict]:
    """Example-level DP with LP-FT: each paradigm's probe fitted with DP-SGD (borderless.privacy.dp_probe)
    on the features its model starts from, with the party's own σ; its steps count in the party's ε.
    Monolingual: one per language; centralized: the pooled set; federated: each client's DP head,
    averaged once by the server (weighted by examples). These are the heads tuning starts from and
    the floors a DP run stands beside (the non-private probes stay in the report as a reference)."""
    from borderless.privacy.dp_probe import fit_dp_head
    from borderless.privacy.dp_sgd import noise_generator
    from borderless.privacy.plan import noise_multiplier, noise_seed
    from borderless.probe import Probe, _evaluate, fedavg_heads

    t0 = time.perf_counter()
    if model.changes_features_at_start():
        bs = cfg.probe.feature_batch_size
        x = {(l, "train"): start_features(model, work.train[l], bs) for l in work.languages}
        x.update({(l, split): start_features(model, sets[l], bs) for split, sets in (("dev", work.dev), ("test", work.test))
                  for l in work.evaluated})
    else:
        x = frozen.x
    data = dataclasses.replace(frozen, x=x)
    p, n_labels = cfg.privacy, frozen.num_labels
    kw = {"dims": p.probe_dims, "steps": p.probe_steps, "batch_size": p.probe_batch_size, "clip_norm": p.clip_norm,
          "lr": p.probe_lr}
    needed = dict.fromkeys("federated" if q.startswith("federated") else q for q in cfg.run.paradigms)
    langs = work.languages
    fitted = {}

    def dev_of(languages) -> torch.Tensor:
        return torch.cat([data.x[(l, "dev")] for l in dict.fromkeys(languages)])

    def head(xs, ys, dev, mask, paradigm, parties, index):
        sigma = noise_multiplier(cfg, paradigm, len(ys), parties)
        return fit_dp_head(xs, ys, dev, n_labels, mask, noise_multiplier=sigma, seed=noise_seed(cfg, index) + 101,
                           generator=noise_generator(noise_seed(cfg, index) * 31 + 17), **kw)

    if "monolingual" in needed:
        heads = {l: head(*data.xym(l, "train")[:2], dev_of([l]), data.xym(l, "train")[2], "monolingual", 1, i)
                 for i, l in enumerate(langs)}
        fitted["monolingual"] = _evaluate(Probe("monolingual", heads, {}, {}), data)
    if "centralized" in needed:
        xs, ys, m = data.pooled()
        h = head(xs, ys, dev_of(langs), m, "centralized", len(work.clients or langs), len(langs))
        fitted["centralized"] = _evaluate(Probe("centralized", {l: h for l in langs}, {}, {}), data)
    if "federated" in needed:
        updates = []
        for ci, cid in enumerate(data.clients):
            xs, ys, m = data.client_xy(cid)
            if len(ys):
                dev = dev_of([l for l, _ in data.clients[cid]])
                updates.append((head(xs, ys, dev, m, "federated", len(data.clients), ci), len(ys)))
        h = fedavg_heads(updates)
        head_bytes = sum(t.numel() * t.element_size() for t in h.values())
        fitted["federated"] = _evaluate(Probe("federated", {l: h for l in langs}, {}, {}, bytes_per_client=2 * head_bytes,
                                              rounds=1), data)
    facts = {"fitted_on": "DP-SGD (privacy.probe_*) on the starting model's features, the party's own noise",
             "seconds": round(time.perf_counter() - t0, 2),
             "dev_score": {k: pr.dev_score for k, pr in fitted.items()},
             "test_accuracy": {k: pr.mean_test for k, pr in fitted.items()}}
    return fitted, facts


def fit_probes(cfg: Config, data: ProbeData) -> dict:
    p = cfg.probe
    probes = with_own_heads(cfg, dict(all_probes(
        data, p.weight_decays, p.federated_rounds, p.federated_local_iters, p.max_iter, cfg.federated.clients_per_round,
        cfg.run.seed, paradigms=probes_to_fit(cfg, ("monolingual", "centralized", "federated")))))
    if cfg.federated.local_head:  # already each client's own: adapting it on the same data is the same probe
        probes["federated_personal"] = own_heads(probes["monolingual"], "federated_personal")
    else:
        probes["federated_personal"] = personalised_probe(data, probes["federated"])
    return probes


def probes_to_fit(cfg: Config, paradigms: tuple[str, ...]) -> tuple[str, ...]:
    """The probes ``paradigms`` need; under ``federated.local_head`` the federation's is each client's own
    (the monolingual probes), so no FedAvg probe is fitted."""
    if not cfg.federated.local_head:
        return paradigms
    return tuple(dict.fromkeys("monolingual" if q == "federated" else q for q in paradigms))


def with_own_heads(cfg: Config, fitted: dict) -> dict:
    """``fitted`` with, under ``federated.local_head``, the monolingual probes standing as the federation's."""
    if cfg.federated.local_head:
        fitted["federated"] = own_heads(fitted["monolingual"])
    return fitted


def own_heads(monolingual: Probe, paradigm: str = "federated") -> Probe:
    """``federated.local_head``: no head crosses the wire, so the federation's probe (its floor and
    every client's start) is each client's own probe on its own features."""
    return dataclasses.replace(monolingual, paradigm=paradigm, bytes_per_client=0, rounds=0)


def probe_results(cfg: Config, probes: dict, work: Workload) -> dict[str, ParadigmResult]:
    """``method.name = "head"``: every paradigm IS its probe (L-BFGS on cached features, no backbone pass)."""
    out = {}
    for paradigm in cfg.run.paradigms:
        probe = probes[paradigm]
        test = {l: {**probe.test_metrics.get(l, {}), "accuracy": a, "examples": float(len(work.test[l]))}
                for l, a in probe.test_accuracy.items()}
        out[paradigm] = ParadigmResult(paradigm, test, 0.0, 0, {z: "the probe's head" for z in work.zero_shot},
                                       extra={"bytes_per_client": probe.bytes_per_client,
                                              "rounds_taken": probe.rounds} if paradigm.startswith("federated") else {})
    return out


def _run_paradigms(cfg: Config, folder: Path, model, init, head_names, work: Workload,
                   progress: bool, resume: dict | None = None) -> tuple[dict[str, ParadigmResult], Checkpointer]:
    """Every configured paradigm in turn, checkpointed after every round (``borderless.checkpoint``);
    with ``resume`` (a loaded checkpoint) the finished paradigms are taken from it and the one in
    progress continues where it stopped. The checkpoint is returned, not removed: it goes only once
    every results file is in place (``run``), so a kill in between loses nothing."""
    metrics_path = folder / "metrics.jsonl"
    keeper = StateKeeper(folder if cfg.run.keep_states else None)
    if resume is None:
        metrics_path.write_text("")
    else:  # rows written after the checkpoint belong to work that is redone
        with metrics_path.open("r+b") as fh:
            fh.truncate(int(resume.get("metrics_bytes", 0)))
    with metrics_path.open("a", encoding="utf-8") as fh:
        ckpt = (Checkpointer(folder, cfg.to_dict(), resume, fh.tell) if cfg.run.checkpoint
                else Checkpointer(None, cfg.to_dict()))

        def sink(row: dict) -> None:  # elapsed_s: since the paradigm started (time-to-accuracy)
            fh.write(json.dumps({**row, "elapsed_s": round(ckpt.elapsed(), 3)}) + "\n")
            fh.flush()

        results: dict[str, ParadigmResult] = {}
        for paradigm in cfg.run.paradigms:
            if ckpt.finished(paradigm) is not None:
                results[paradigm] = result_from_record(ckpt.finished(paradigm), work, cfg)
                continue
            clients = len(work.client_rows)
            sampled = min(cfg.federated.clients_per_round or clients, clients)
            per_round = {"centralized": 1, "monolingual": len(work.languages)}.get(paradigm, sampled)
            units = cfg.federated.rounds * per_round
            before_s, done = ckpt.begin(paradigm)  # what it had done before a restart; starts its clock
            with tqdm(total=units, initial=done, desc=f"{paradigm:<11}", unit="client-round", disable=not progress,
                      dynamic_ncols=True) as bar:
                ckpt.units = lambda bar=bar: bar.n

                def tick(who: str, bar=bar) -> None:
                    bar.set_postfix_str(who)
                    bar.update(1)

                if paradigm == "federated_personal":
                    results[paradigm] = run_federated_personal(model, init, work, cfg, head_names, sink, tick,
                                                               results.get("federated"), ckpt, keeper.for_paradigm(paradigm))
                else:
                    results[paradigm] = RUNNERS[paradigm](model, init, work, cfg, head_names, sink, tick, ckpt,
                                                          keeper.for_paradigm(paradigm))
            results[paradigm].wall_s += before_s
            for lang, m in results[paradigm].test.items():
                sink({"paradigm": paradigm, "round": cfg.federated.rounds, "lang": lang, "split": "test", **m})
            ckpt.finish(paradigm, result_record(results[paradigm]))
    return results, ckpt


def _test_pause(point: str) -> None:
    """A hook for tests that kill a real run at a chosen point: with ``BORDERLESS_TEST_PAUSE=POINT=FILE``
    the run writes FILE on reaching POINT and then waits for a signal (the test sends SIGKILL).
    Points: ``after_training`` (every paradigm finished and checkpointed, no results file written yet)
    and ``before_checkpoint_removal`` (every results file written). Unset, it does nothing."""
    spec = os.environ.get("BORDERLESS_TEST_PAUSE", "")
    want, _, marker = spec.partition("=")
    if not marker or want != point:
        return
    Path(marker).write_text(str(os.getpid()))
    while True:  # woken only by a signal; SIGKILL ends it
        signal.pause()


def run_or_resume(cfg: Config, folder: Path, backbone: Backbone | None = None,
                  data: dict[str, LanguageData] | None = None) -> str:
    """A study's cell: skipped when finished (results.json), continued from its checkpoint when killed,
    run otherwise (a carried checkpoint, ``checkpoint.carry.pt``, counts as its checkpoint). Returns what
    it did, for the study's log."""
    restore_carried(folder)
    if (Path(folder) / "results.json").exists():
        return "done"
    resume = (Path(folder) / "checkpoint.pt").exists()
    t0 = time.perf_counter()
    run(cfg, folder, overwrite=not resume, progress=False, backbone=backbone, resume=resume, data=data)
    return f"{'resumed' if resume else 'ran'} in {time.perf_counter() - t0:.0f} s"


def run(cfg: Config, output: Path, overwrite: bool = False, progress: bool = True,
        backbone: Backbone | None = None, resume: bool = False,
        data: dict[str, LanguageData] | None = None) -> RunOutput:
    """Run every configured paradigm and write the results folder. ``backbone`` may be passed in
    to reuse one already in memory (one frozen backbone per process). ``resume``: continue the run
    whose checkpoint is in ``output`` (``borderless run --resume DIR``; a carried one, ``checkpoint.carry.pt``,
    is moved back first)."""
    refuse_unprotected_paradigms(cfg)
    if resume:
        restore_carried(output)
    saved = load_checkpoint(output, cfg.to_dict()) if resume else None
    folder = Path(output) if resume else check_output(output, overwrite)
    data = data if data is not None else load_data(cfg)  # bad data fails here, before anything is loaded or written
    ensure_writable(folder)
    if cfg.run.threads:
        torch.set_num_threads(cfg.run.threads)
    t0 = time.perf_counter()
    if backbone is None:
        backbone = load_configured(cfg.backbone)
    load_s = time.perf_counter() - t0
    max_length = min(cfg.backbone.max_length, backbone.model.config.max_position_embeddings - cfg.method.num_virtual_tokens)
    work, labels = build_workload(cfg, backbone, max_length, data)
    (folder / "plots").mkdir(parents=True, exist_ok=True)
    (folder / "config.toml").write_text(tomli_w.dumps(cfg.to_dict()))
    (folder / "partition.txt").write_text(work.partition_table + "\n")
    if progress:
        print(partition_overview(cfg.data.partition, work.partition_table, folder), file=sys.stderr)
    backbone_params = backbone.num_parameters()
    pdata, feature_facts = probe_data(cfg, backbone, work, len(labels))  # before any method touches the backbone
    t_probe = time.perf_counter()
    probes = fit_probes(cfg, pdata)
    feature_facts["probe_fit_s"] = round(time.perf_counter() - t_probe, 2)
    return_free_memory()
    if progress:
        print(f"frozen-feature probes (mean test {work.metric}): " + ", ".join(
            f"{p} {100 * probes[p].mean_test:.1f}" for p in ("monolingual", "centralized", "federated")), file=sys.stderr)
    model = build_for(backbone, labels, cfg.method, cfg.run.seed, token_task(cfg.data))
    base = trainable_state(model)
    dp_lpft = cfg.method.probe_init and cfg.privacy.mechanism == "example"
    init_probes, init_facts = ((dp_start_probes if dp_lpft else start_probes)(cfg, model, work, pdata, *([] if dp_lpft else [probes]))
                               if cfg.method.probe_init else (None, {}))
    return_free_memory()  # what feature extraction freed, before training allocates its own
    init = Start(base, init_probes)
    head_names = model.head_parameter_names()

    ckpt = None
    try:
        if cfg.method.name == "head":
            (folder / "metrics.jsonl").write_text("")
            results = probe_results(cfg, probes, work)
        else:
            results, ckpt = _run_paradigms(cfg, folder, model, init, head_names, work, progress, saved)
    finally:
        model.release()  # the shared backbone is handed back as it was (LoRA unloaded, full FT restored)
    _test_pause("after_training")

    init = base
    n_trainable = state_num_params(init)
    head_bytes = sum(state_num_bytes({k: v}) for k, v in init.items() if k in head_names)
    sent_bytes = state_num_bytes(init) - (head_bytes if cfg.federated.local_head else 0)  # a local head stays home
    baselines = majority_baselines(work, data)
    majority = {l: b["accuracy"] for l, b in baselines.items()}
    tokenization = stats_by_language(backbone.tokenizer, data, work.languages + work.zero_shot)
    summary = {
        "config": cfg.to_dict(),
        "languages": work.languages,
        "zero_shot": work.zero_shot,
        "labels": list(labels),
        "data": {"dataset": cfg.data.dataset, "notes": [n for l in data for n in data[l].notes],
                 # languages with fewer labels than the run: their logits are masked to their own
                 "label_sets": {l: [labels[i] for i in data[l].allowed] for l in data if data[l].allowed},
                 "task": "token" if work.test[work.languages[0]].token_task else "sentence",
                 # token tasks: words whose first sub-word max_length cut (neither trained on nor scored)
                 "truncation": work.truncation},
        "examples": {l: {"train": len(work.train.get(l, ())), "dev": len(work.dev[l]), "test": len(work.test[l])}
                     for l in work.languages + work.zero_shot},
        "distances": ({"kind": cfg.federated.distance_kind,
                       "pairs": {f"{a}|{b}": d for (a, b), d in work.distances.items() if a < b}}
                      if work.distances else None),
        "partition": {"kind": cfg.data.partition,
                      "client_sizes": {c: len(items) for c, items in (work.clients or {}).items()}},
        "tokenization": tokenization,
        "backbone": {"name": backbone.name, "parameters": backbone_params, "load_s": round(load_s, 2)},
        "method": {
            "name": cfg.method.name,
            "description": describe(cfg.method),
            "trainable_parameters": n_trainable,
            "trainable_percent_of_backbone": 100.0 * n_trainable / backbone_params,
            "trainable_tensors": {k: list(v.shape) for k, v in init.items()},
        },
        "communication": {
            "bytes_per_client_per_round_up": sent_bytes,
            "bytes_per_client_per_round_down": sent_bytes,
            # the federated probe (head only) that federated tuning starts from, when head_init = "probe"
            "probe_bytes_per_client": probes["federated"].bytes_per_client if cfg.method.probe_init else 0,
            "head_bytes": head_bytes,
        },
        "majority_class_accuracy": majority,  # a token task's: the most frequent tag per word type
        "majority_baseline": baselines,  # every metric of it
        "metric": work.metric,
        "features": feature_facts,
        "head_init": init_facts,
        "probes": {p: probes[p].summary(work.languages) for p in PROBE_PARADIGMS},
        "paradigms": {name: paradigm_summary(name, r, work, probes, cfg, init_probes if dp_lpft else None)
                      for name, r in results.items()},
        "zero_shot_nearest": {z: pdata.nearest[z] for z in work.zero_shot if z in pdata.nearest},
    }
    if len(work.languages) > MANY_LANGUAGES:  # the report groups them by family
        summary["families"] = family_of(work.languages + work.zero_shot)
    probe_selection.select(summary)
    if cfg.method.name != "head":  # every kept model, as dev selection chose it (borderless.kept_states)
        summary["models"] = models_index(summary, probes, StateKeeper(folder if cfg.run.keep_states else None))
    # every file atomic; results.json last (a folder with it is a finished run), then the checkpoint goes
    write_report(folder, summary)
    atomic_files.write_text(folder / "results.json", json.dumps(summary, indent=2))
    _test_pause("before_checkpoint_removal")
    if ckpt is not None:
        ckpt.remove()
    return RunOutput(folder, summary)
