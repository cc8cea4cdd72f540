"""Typed, frozen run configuration loaded from TOML, with dotted ``--set key=value`` overrides.

Every section is a frozen dataclass; unknown keys and wrong types are refused with an error that
names the file and the dotted key, and says how to fix it.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# federated_personal: the federated model, then each client adapts it to its own data (chosen on its own dev split)
PARADIGMS = ("monolingual", "centralized", "federated", "federated_personal")
# simulated hostile clients (borderless.federated.attacks implements them); named here so validating a
# config never imports torch (the Flower ClientApp validates the run's config on every message)
ATTACKS = ("none", "sign_flip", "gaussian", "nan", "label_flip")
OPTIMIZERS = ("adamw", "adam", "sgd")
METHODS = ("prompt", "p_tuning", "prefix", "lora", "full", "head")
PARTITIONS = ("language", "iid", "dirichlet", "size_skew")
# `borderless compare` paradigms: federated_iid deals the pooled data evenly to the clients,
# federated_non_iid keeps one client per language (the natural split)
COMPARE_PARADIGMS = ("monolingual", "centralized", "federated_iid", "federated_non_iid", "federated_personal")
SCHEDULES = ("constant", "linear", "cosine")
STOPS = ("budget", "dev")
AGGREGATORS = ("fedavg", "fedprox", "fedavgm", "fedadam", "fedyogi", "distance",
               "median", "trimmed_mean", "krum", "clipped_fedavg")  # the last four: robust to bad clients
# URIEL+ distance kinds (borderless.language.distance): six feature families and their mean
DISTANCES = ("genetic", "geographic", "syntactic", "phonological", "inventory", "featural", "combined")


class ConfigError(ValueError):
    """A configuration problem, always naming the file and/or key at fault."""


@dataclass(frozen=True)
class DataConfig:
    dataset: str = "sib200"  # sib200 | masakhanews | xnli | nusax | americasnli | masakhaner | masakhapos | pawsx | folder
    path: str = ""  # empty: ../shared/data/<dataset's folder> beside the repo (sib200: $BORDERLESS_DATA first)
    languages: tuple[str, ...] = ("eng_Latn", "hau_Latn")
    max_train_per_language: int = 0  # 0 = all; else a seeded stratified subsample
    max_dev_per_language: int = 0  # 0 = the whole dev split (used for the per-round curves)
    max_test_per_language: int = 0  # 0 = the whole test split (the reported accuracies)
    # the zero-shot languages' dev splits (their per-round curves only; they choose nothing):
    # -1 = max_dev_per_language, 0 = whole, else a cap
    max_zero_shot_dev_per_language: int = -1
    partition: str = "language"  # federated clients: language | iid | dirichlet | size_skew
    num_clients: int = 0  # iid / dirichlet: 0 = as many clients as languages
    dirichlet_alpha: float = 0.5
    low_resource: tuple[str, ...] = ()  # size_skew: languages that keep only low_resource_fraction
    low_resource_fraction: float = 0.1
    zero_shot: tuple[str, ...] = ()  # evaluated under every paradigm, never trained on
    train_fraction: float = 1.0  # data efficiency: keep this stratified fraction of each language's training set
    zero_shot_dataset: str = ""  # the zero-shot languages' dataset (e.g. americasnli beside xnli); empty: data.dataset
    zero_shot_path: str = ""  # its folder; empty: ../shared/data/<its folder>
    # the run's labels in order; empty: the union of the training languages' labels. Flower nodes hold
    # one language each: set it when the languages' label sets differ, so every node's head agrees
    label_space: tuple[str, ...] = ()
    # Describing a dataset (dataset = "folder") or adjusting a preset; unset keys keep the preset's.
    # See borderless.data.folder.FolderFormat: each split file is a template under data.path with {lang}.
    splits: dict[str, str] = field(default_factory=dict)  # e.g. {train = "{lang}/train.csv", dev = ..., test = ...}
    format: str = ""  # tsv | csv | jsonl
    header: bool | None = None  # tsv/csv: the first line names the columns
    columns: tuple[str, ...] = ()  # tsv/csv without header: the column names in order
    text_columns: tuple[str, ...] = ()  # the text (several: joined with a space)
    pair_column: str | None = None  # sentence pairs: the second text
    label_column: str = ""
    id_column: str | None = None  # ids of parallel sentences; empty: the row number
    quoting: bool | None = None  # tsv: honour "..." quoting
    labels_file: str | None = None  # template of a one-label-per-line file; empty: the labels found, sorted
    fallback_splits: dict[str, str] = field(default_factory=dict)  # read where a split's file is missing
    carve_from: str | None = None  # a split cut into train and dev (seeded, stratified)
    carve_dev_fraction: float = 0.0  # 0 = the preset's (0.2)
    # the carve keeps rows sharing their text on one side (XNLI's preset: a premise's hypotheses)
    carve_by_text: bool | None = None
    carve_test_fraction: float = 0.0  # > 0: test is carved from carve_from too; 0 = the preset's
    carve_by_id: bool | None = None  # carve by a seeded hash of the row id (parallel files: the same rows everywhere)
    tag_column: int | None = None  # conll: the tag's column, 0-based (-1 = the last)
    skip_empty: bool | None = None  # rows with an empty text are skipped (and counted in the report) instead of refused


@dataclass(frozen=True)
class BackboneConfig:
    name: str = "e5-small"  # e5-small | tiny-random | a local folder | a hub id
    cache_dir: str = ""  # empty: $BORDERLESS_CACHE, else the user cache dir
    max_length: int = 128
    input_prefix: str | None = None  # None: the backbone's own (e5: "passage: ")
    # the frozen weights' number format: float32, or bfloat16 (half the memory; the backbone runs under
    # autocast on the CPU's bfloat16 units, 2.5-3x faster here; what trains stays float32)
    dtype: str = "float32"


@dataclass(frozen=True)
class MethodConfig:
    name: str = "prompt"  # prompt | p_tuning | prefix | lora | full | head
    num_virtual_tokens: int = 16  # prompt, p_tuning, prefix
    # prompt: vocab (sampled real vocabulary embeddings) | random | labels (the label words' embeddings,
    # Lester et al.'s class-label init; with the verbalizer, its words)
    prompt_init: str = "vocab"
    # prefix: random (PEFT's N(0, 1) prefixes) | keys (each layer's keys and values of sampled
    # vocabulary tokens, computed by the frozen backbone: deep prompts start as real context)
    prefix_init: str = "random"
    encoder_type: str = "MLP"  # p_tuning: MLP | LSTM
    encoder_hidden_size: int = 0  # p_tuning: 0 = the backbone's hidden size
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.0
    lora_targets: tuple[str, ...] = ("query", "value")
    # probe: the head starts from the paradigm's own frozen-feature probe (LP-FT); random: from scratch
    head_init: str = "probe"
    # what reads the last hidden states: "head" (a linear head on pooled states) or, on a decoder,
    # "verbalizer" (the model's own LM head scores one word per label at the last real token; no head
    # is trained or sent, so only the prompt crosses the wire)
    classifier: str = "head"
    pooling: str = ""  # mean | last (the last real token); "" = last with the verbalizer, mean otherwise
    # the text the backbone reads: "{text}" (and "{text_pair}") are replaced by the example's texts,
    # e.g. "{text}\nTopic:"; "" = the text itself (sentence pairs: the tokenizer's pair encoding, or
    # "{text}\n{text_pair}" on a decoder). Truncation shortens {text} and keeps the rest.
    template: str = ""
    # verbalizer: label -> word (its first token is scored); labels not listed use " " + the label
    verbalizer: dict[str, str] = field(default_factory=dict)

    @property
    def probe_init(self) -> bool:
        """Does a trained head start from its paradigm's probe? (Not for the probe itself, nor for the
        verbalizer, which has no trained head.)"""
        return self.head_init == "probe" and self.name != "head" and self.classifier == "head"


@dataclass(frozen=True)
class TrainConfig:
    batch_size: int = 16
    lr: float = 3e-3
    head_lr: float = 0.0  # 0 = same as lr
    optimizer: str = "adamw"
    weight_decay: float = 0.0
    local_steps: int = 8  # optimizer steps per client per round (federated) / per round-equivalent
    eval_batch_size: int = 64
    schedule: str = "linear"  # learning rate over the run's steps: constant | linear (decay to 0) | cosine
    warmup: float = 0.06  # fraction of the run's steps with a linear warm-up from 0
    # budget: train every round; dev: stop after `patience` dev evaluations without a better mean dev
    # accuracy and restore the best state (the state before training counts as a candidate)
    stop: str = "dev"
    patience: int = 3
    # with stop = "dev": the paradigm's frozen-feature probe competes with the kept state on the same
    # dev criterion and the better is reported (borderless.probe_selection). Off by default: measured
    # on the committed runs it helped monolingual (+0.4 on average) and not the others (dev splits of
    # 40-99 sentences cannot tell 1-2 points apart; docs/results/probe_candidate.md). On in the robust
    # recipe (configs/demo.toml), with whole dev splits: docs/results/heldout_draws. A kept untrained
    # start (best round 0; no personal step either) counts as the probe without a dev comparison
    probe_candidate: bool = False
    # what dev selection (early stopping, the personal step, the probes' weight decay, the probe
    # candidate) maximises and what the reports lead with: accuracy | macro_f1 | weighted_f1 | f1 (entity
    # F1, seqeval strict IOB2: BIO-tagged token tasks only); "" = f1 on a BIO token task (NER), else accuracy
    select_metric: str = ""


SELECT_METRICS = ("accuracy", "macro_f1", "weighted_f1", "f1")


def resolve_metric(c: "Config", bio: bool) -> str:
    """train.select_metric, or its automatic choice: entity F1 for BIO tags (NER), else accuracy."""
    return c.train.select_metric or ("f1" if bio and token_task(c.data) else "accuracy")


@dataclass(frozen=True)
class FederatedConfig:
    rounds: int = 10
    clients_per_round: int = 0  # 0 = every client, every round
    # Flower: a round completes with the replies that arrived within deploy.round_timeout_s if at least
    # this many sampled clients answered (the others are logged as absent); 0 = every sampled client
    min_clients: int = 0
    aggregator: str = "fedavg"  # fedavg | fedprox | fedavgm | fedadam | fedyogi | distance | robust rules:
    # median | trimmed_mean (trim_beta) | krum (krum_f, krum_m) | clipped_fedavg (clip_norm)
    eval_every: int = 1  # evaluate the global state on every dev split each N rounds (0 = never)
    prox_mu: float = 0.01  # fedprox: weight of the client's proximal term mu/2 * ||w - w_global||^2
    server_lr: float = 0.0  # fedavgm/fedadam/fedyogi; 0 = the rule's default (1.0 for fedavgm, 0.01 adaptive)
    server_momentum: float = 0.9  # fedavgm
    beta1: float = 0.9  # fedadam/fedyogi
    beta2: float = 0.99
    tau: float = 1e-3
    # distance: each client's state mixes all updates weighted n_j * exp(-d(i, j) / temperature)
    distance_kind: str = "combined"  # also picks each zero-shot language's nearest training language
    temperature: float = 0.1  # inf = FedAvg
    # federated_personal: each client adapts the final global state for up to personal_steps steps on
    # its own data, evaluating its own dev split every personal_eval_every steps; keeps the best (0 = global)
    personal_steps: int = 20
    personal_eval_every: int = 5
    personal_lr_scale: float = 0.5  # personal learning rates = this × train.lr / train.head_lr (constant)
    trim_beta: float = 0.1  # trimmed_mean: drop this fraction of the largest and of the smallest values
    krum_f: int = 1  # krum: Byzantine clients tolerated
    krum_m: int = 1  # krum: average the m best-scored updates (1 = Krum, > 1 = multi-Krum)
    clip_norm: float = 1.0  # clipped_fedavg: each update's ‖w_client − w_global‖ is scaled to at most this
    max_update_norm: float = 0.0  # the server refuses an update farther than this from the global state (0 = no limit)
    # simulated hostile clients (robustness studies; borderless.federated.attacks): none | sign_flip |
    # gaussian | nan | label_flip, by the clients in attack_clients, with attack_scale
    attack: str = "none"
    attack_clients: tuple[str, ...] = ()
    attack_scale: float = 10.0


@dataclass(frozen=True)
class ProbeConfig:
    """The frozen-feature linear probe of every paradigm (floor and head initialisation)."""

    weight_decays: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 1e-1)  # L2, chosen on dev
    max_iter: int = 100  # L-BFGS iterations (monolingual, centralized)
    federated_rounds: int = 20  # FedAvg rounds of the head per weight decay
    federated_local_iters: int = 10  # L-BFGS iterations per client per round
    feature_batch_size: int = 64


@dataclass(frozen=True)
class RunConfig:
    paradigms: tuple[str, ...] = PARADIGMS
    seed: int = 0
    threads: int = 0  # torch threads; 0 = torch's default
    language_analysis: bool = True  # report: gain vs URIEL distance (3+ training languages), tokenizer stats
    checkpoint: bool = True  # write checkpoint.pt after every round (borderless run --resume DIR continues)
    # keep each paradigm's chosen trainable state (one per language where it has one) under states/ in the
    # results folder (borderless.kept_states); false keeps none (full fine-tuning: 470 MB a state)
    keep_states: bool = True


@dataclass(frozen=True)
class CompareConfig:
    """The ``borderless compare`` matrix: methods × paradigms × seeds (× training-data fractions)."""

    methods: tuple[str, ...] = ("prompt",)
    paradigms: tuple[str, ...] = COMPARE_PARADIGMS
    seeds: tuple[int, ...] = (0,)
    fractions: tuple[float, ...] = (1.0,)  # data efficiency; fractions below 1 run for fraction_methods only
    fraction_methods: tuple[str, ...] = ("prompt",)
    fraction_seeds: tuple[int, ...] = ()  # seeds for fractions below 1; empty = compare.seeds
    aggregators: tuple[str, ...] = ()  # federated paradigms once per rule, e.g. ["fedavg", "distance"]; empty = federated.aggregator
    # per-method config overrides, in --set form: {full = ["train.lr=2e-5"], lora = ["train.lr=3e-3"]}
    overrides: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class PrivacyConfig:
    """Differential privacy for ``borderless run`` and ``borderless deploy`` alike (borderless.privacy),
    and SecAgg+ for deployments: what the server, and whoever gets the model, can learn."""

    # none | example (DP-SGD in each client: a sentence is the record) | client (clipped updates, noise
    # added by the server: a client's whole data is the record) | local (each client noises its own update)
    mechanism: str = "none"
    clip_norm: float = 1.0  # example: per-sentence gradient L2 bound; client, local: per-round update bound
    target_epsilon: float = 0.0  # calibrate the noise so that each party's ε at privacy.delta reaches this
    noise_multiplier: float = 0.0  # or set the noise directly: std = noise_multiplier × clip_norm
    delta: float = 1e-5
    accountant: str = "rdp"  # rdp | pld (dp-accounting's Rényi DP or privacy-loss-distribution accountant)
    # example + method.head_init = "probe": the LP-FT probe is itself fitted with DP-SGD on the start features
    # (borderless.privacy.dp_probe), with the party's σ; its steps count in the same ε
    probe_steps: int = 30
    probe_batch_size: int = 64  # expected Poisson batch of the DP probe
    probe_lr: float = 0.2  # its Adam learning rate
    probe_dims: int = 16  # features centred and projected on this many principal directions of the dev split (0 = all)
    secagg: bool = False  # SecAgg+: the server learns only the sum of the updates, never one client's
    secagg_shares: int = 0  # secret shares per client; 0 = every other client (needs >= 3 clients)
    secagg_threshold: float = 0.6  # fraction of shares needed to unmask (tolerates dropouts below it)
    secagg_clip_range: float = 8.0  # values are clipped to +-this before quantisation
    secagg_quantization: int = 4_194_304  # quantisation levels over the clip range


@dataclass(frozen=True)
class DeployConfig:
    """Flower deployments: where the SuperLink listens and how long the server waits."""

    superlink: str = "127.0.0.1:9093"  # host:port nodes and `deploy run` dial; the SuperLink binds its port
    wait_for_nodes_s: float = 300.0  # the run fails, naming the missing languages, if they are not all up
    round_timeout_s: float = 3600.0  # one round's replies
    node_threads: int = 0  # torch threads per node process; 0 = torch's default
    # each SuperNode keeps its backbone, tokenized data and model warm in its own process and the
    # per-message ClientApp process (Flower 1.41 starts one per message) hands the message to it over
    # a local socket; false = every ClientApp process loads everything again (Flower's plain way)
    warm_nodes: bool = True
    # how often the server and each SuperNode ask the SuperLink for new messages (Flower 1.41 waits 3 s)
    poll_interval_s: float = 0.2


@dataclass(frozen=True)
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    federated: FederatedConfig = field(default_factory=FederatedConfig)
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    run: RunConfig = field(default_factory=RunConfig)
    compare: CompareConfig = field(default_factory=CompareConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    deploy: DeployConfig = field(default_factory=DeployConfig)

    def to_dict(self) -> dict[str, Any]:
        def plain(v):
            if isinstance(v, tuple):
                return [plain(x) for x in v]
            if isinstance(v, dict):
                return {k: plain(x) for k, x in v.items()}
            return v

        return {s.name: {f.name: plain(getattr(getattr(self, s.name), f.name))
                         for f in dataclasses.fields(getattr(self, s.name))
                         if getattr(getattr(self, s.name), f.name) is not None}
                for s in dataclasses.fields(self)}


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Union or origin is getattr(__import__("types"), "UnionType", None):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], where)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table, e.g. {{ full = [\"train.lr=2e-5\"] }}, got {value!r}")
        return {str(k): _coerce(v, args[1], f"{where}.{k}") for k, v in value.items()}
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__} {value!r}; write e.g. [\"a\", \"b\"]")
        return tuple(_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {type(value).__name__} {value!r}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {type(value).__name__} {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {type(value).__name__} {value!r}; quote it")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    raise ConfigError(f"{where}: unsupported type {hint}")


def _build(cls: type, raw: dict[str, Any], where: str):
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in raw.items():
        if key not in names:
            near = difflib.get_close_matches(key, names, n=3)
            hint = f"; did you mean {', '.join(near)}?" if near else f"; valid keys: {', '.join(names)}"
            raise ConfigError(f"{where}: unknown key '{key}'{hint}")
        if dataclasses.is_dataclass(hints[key]):
            if not isinstance(value, dict):
                raise ConfigError(f"{where}.{key}: expected a [{key}] table, got {value!r}")
            kwargs[key] = _build(hints[key], value, f"{where}.{key}" if where else key)
        else:
            kwargs[key] = _coerce(value, hints[key], f"{where}.{key}" if where else key)
    return cls(**kwargs)


def parse_override(item: str) -> tuple[list[str], Any]:
    """``train.lr=0.01`` → (["train", "lr"], 0.01). Values are TOML; bare words are strings."""
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected key=value, e.g. --set train.lr=0.01")
    key, text = item.split("=", 1)
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        value = text
    return key.strip().split("."), value


def _apply_overrides(raw: dict[str, Any], overrides: list[str] | tuple[str, ...]) -> None:
    for item in overrides:
        keys, value = parse_override(item)
        node = raw
        for k in keys[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {item}: '{k}' is not a table")
        node[keys[-1]] = value


_LEGACY_DP = ("dp", "dp_clip_norm", "dp_epsilon", "dp_delta")


def _drop_legacy_privacy(raw: dict[str, Any], label: str) -> None:
    """Before privacy.mechanism there were privacy.dp, dp_clip_norm, dp_epsilon and dp_delta (local DP
    on Flower only). Results folders written then say dp = false: those keys did nothing and are
    dropped. dp = true is refused with the equivalent new keys."""
    p = raw.get("privacy")
    if not isinstance(p, dict) or not any(k in p for k in _LEGACY_DP):
        return
    if p.get("dp") is True:
        raise ConfigError(
            f"{label}: privacy.dp was replaced by privacy.mechanism, with a real accountant: write "
            f"mechanism = \"local\", clip_norm = {p.get('dp_clip_norm', 1.0)}, target_epsilon = <ε over the "
            f"whole run> and delta = {p.get('dp_delta', 1e-5)} (or mechanism = \"example\" for DP-SGD), and drop "
            "dp, dp_clip_norm, dp_epsilon and dp_delta")
    for k in _LEGACY_DP:
        p.pop(k, None)


def _finish(raw: dict[str, Any], label: str) -> Config:
    _drop_legacy_privacy(raw, label)
    try:
        config = _build(Config, raw, "")
    except ConfigError as err:
        raise ConfigError(f"{label}: {err}") from None
    validate(config, label)
    return config


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    raw: dict[str, Any] = {}
    label = "<defaults>"
    if path is not None:
        path = Path(path)
        label = str(path)
        if not path.exists():
            raise ConfigError(f"{path}: config file not found")
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"{path}: not valid TOML: {err}") from err
    _apply_overrides(raw, overrides)
    return _finish(raw, label)


def config_from_dict(raw: dict[str, Any], label: str = "<dict>") -> Config:
    """A validated config from a plain dict (e.g. a results folder's), defaults filled in."""
    import copy

    return _finish(copy.deepcopy(raw), label)


def with_overrides(config: Config, overrides: list[str] | tuple[str, ...], label: str = "<overrides>") -> Config:
    """A new validated config: ``config`` with dotted ``key=value`` overrides applied."""
    raw = config.to_dict()
    _apply_overrides(raw, overrides)
    return _finish(raw, label)


def validate(c: Config, label: str = "<config>") -> None:
    def bad(key: str, msg: str):
        raise ConfigError(f"{label}: {key}: {msg}")

    if not c.data.languages:
        bad("data.languages", "list at least one language code, e.g. [\"eng_Latn\", \"hau_Latn\"]")
    if len(set(c.data.languages)) != len(c.data.languages):
        bad("data.languages", "a language is listed twice")
    _validate_dataset(c.data, bad)
    for key in ("max_train_per_language", "max_dev_per_language", "max_test_per_language"):
        if getattr(c.data, key) < 0:
            bad(f"data.{key}", "must be >= 0 (0 means no cap)")
    if c.data.max_zero_shot_dev_per_language < -1:
        bad("data.max_zero_shot_dev_per_language", "must be >= -1 (-1: as max_dev_per_language, 0: no cap)")
    if c.data.partition not in PARTITIONS:
        bad("data.partition", f"unknown partition {c.data.partition!r}; available: {', '.join(PARTITIONS)}")
    if c.data.num_clients < 0:
        bad("data.num_clients", "must be >= 0 (0 = one client per language)")
    if c.data.dirichlet_alpha <= 0:
        bad("data.dirichlet_alpha", "must be > 0")
    if not 0 < c.data.low_resource_fraction <= 1:
        bad("data.low_resource_fraction", "must be in (0, 1]")
    if c.data.partition == "size_skew" and not c.data.low_resource:
        bad("data.low_resource", "size_skew needs the low-resource languages listed, e.g. [\"hau_Latn\"]")
    if c.backbone.max_length < 8:
        bad("backbone.max_length", "must be at least 8")
    if c.backbone.dtype not in ("float32", "bfloat16"):
        bad("backbone.dtype", f"unknown dtype {c.backbone.dtype!r}; use \"float32\" or \"bfloat16\"")
    elif c.backbone.dtype == "bfloat16" and c.method.name == "full":
        bad("backbone.dtype", "full fine-tuning trains the backbone's own weights, which must stay float32; "
            "use backbone.dtype = \"float32\" with method.name = \"full\"")
    if c.method.name not in METHODS:
        bad("method.name", f"unknown method {c.method.name!r}; available: {', '.join(METHODS)}")
    if c.method.num_virtual_tokens < 1:
        bad("method.num_virtual_tokens", "must be >= 1")
    if c.method.encoder_type not in ("MLP", "LSTM"):
        bad("method.encoder_type", "must be 'MLP' or 'LSTM'")
    if c.method.lora_r < 1 or c.method.lora_alpha < 1:
        bad("method.lora_r", "lora_r and lora_alpha must be >= 1")
    if not c.method.lora_targets:
        bad("method.lora_targets", "list the module names to adapt, e.g. [\"query\", \"value\"]")
    if c.method.prompt_init not in ("vocab", "random", "labels"):
        bad("method.prompt_init", "must be 'vocab', 'random' or 'labels'")
    if c.method.prefix_init not in ("random", "keys"):
        bad("method.prefix_init", "must be 'random' (PEFT's N(0, 1) prefixes) or 'keys' (the backbone's own keys and values)")
    if c.method.classifier not in ("head", "verbalizer"):
        bad("method.classifier", "must be 'head' (a linear head on pooled hidden states) or 'verbalizer' (a decoder's LM head)")
    if c.method.pooling not in ("", "mean", "last"):
        bad("method.pooling", "must be 'mean', 'last' (the last real token) or \"\" (automatic)")
    if c.method.classifier == "verbalizer":
        if c.method.pooling == "mean":
            bad("method.pooling", "the verbalizer scores the next word after the last real token: use 'last' or \"\"")
        if c.method.name in ("head", "full"):
            bad("method.name", f"{c.method.name!r} trains no prompt or adapter to go with the verbalizer; use prompt, p_tuning, prefix or lora")
    if token_task(c.data):
        _validate_token_task(c, bad)
    if c.method.template and "{text}" not in c.method.template:
        bad("method.template", "must contain {text}, e.g. \"{text}\\nTopic:\"")
    if c.method.template:
        import string

        try:
            fields = {f for _, f, _, _ in string.Formatter().parse(c.method.template) if f is not None}
        except ValueError as err:
            bad("method.template", f"{err}; write {{{{ and }}}} for literal braces")
        unknown = fields - {"text", "text_pair"}
        if unknown:
            bad("method.template", f"unknown placeholder(s) {sorted(unknown)}; use {{text}} and {{text_pair}} (write {{{{ for a brace)")
    if c.train.optimizer not in OPTIMIZERS:
        bad("train.optimizer", f"unknown optimizer {c.train.optimizer!r}; available: {', '.join(OPTIMIZERS)}")
    for key in ("batch_size", "local_steps", "eval_batch_size"):
        if getattr(c.train, key) < 1:
            bad(f"train.{key}", "must be >= 1")
    if c.train.lr <= 0:
        bad("train.lr", "must be > 0")
    if c.train.head_lr < 0:
        bad("train.head_lr", "must be >= 0 (0 = same as train.lr)")
    if c.train.schedule not in SCHEDULES:
        bad("train.schedule", f"unknown schedule {c.train.schedule!r}; available: {', '.join(SCHEDULES)}")
    if not 0 <= c.train.warmup < 1:
        bad("train.warmup", "must be in [0, 1): the fraction of the steps spent warming up")
    if c.train.stop not in STOPS:
        bad("train.stop", f"unknown stopping rule {c.train.stop!r}; available: {', '.join(STOPS)}")
    if c.train.select_metric and c.train.select_metric not in SELECT_METRICS:
        bad("train.select_metric", f"unknown metric {c.train.select_metric!r}; one of {', '.join(SELECT_METRICS)} "
            "(or \"\" for the task's own)")
    if c.train.select_metric == "f1" and not token_task(c.data):
        bad("train.select_metric", "'f1' is entity F1 over BIO spans (NER); a sentence task has macro_f1 and weighted_f1")
    if c.train.patience < 1:
        bad("train.patience", "must be >= 1 (dev evaluations without improvement before stopping)")
    if c.train.stop == "dev" and c.federated.eval_every < 1:
        bad("train.stop", "'dev' needs dev evaluations: set federated.eval_every >= 1, or train.stop = \"budget\"")
    if c.method.head_init not in ("probe", "random"):
        bad("method.head_init", "must be 'probe' (start from the paradigm's frozen-feature probe) or 'random'")
    if c.federated.personal_steps < 0 or c.federated.personal_eval_every < 1:
        bad("federated.personal_steps", "personal_steps must be >= 0 and personal_eval_every >= 1")
    if not c.federated.personal_lr_scale > 0:
        bad("federated.personal_lr_scale", "must be > 0")
    if not c.probe.weight_decays or any(w < 0 for w in c.probe.weight_decays):
        bad("probe.weight_decays", "list weight decays >= 0 to choose from on dev, e.g. [1e-3, 1e-2, 1e-1]")
    for key in ("max_iter", "federated_rounds", "federated_local_iters", "feature_batch_size"):
        if getattr(c.probe, key) < 1:
            bad(f"probe.{key}", "must be >= 1")
    if c.federated.rounds < 1:
        bad("federated.rounds", "must be >= 1")
    if c.federated.clients_per_round < 0:
        bad("federated.clients_per_round", "must be >= 0 (0 = all clients)")
    sampled = c.federated.clients_per_round or c.data.num_clients or len(c.data.languages)
    if not 0 <= c.federated.min_clients <= sampled:
        bad("federated.min_clients", f"must be in [0, {sampled}] (the clients sampled per round); 0 = all of them")
    if not 0 <= c.federated.trim_beta < 0.5:
        bad("federated.trim_beta", "must be in [0, 0.5): the fraction trimmed from each end")
    if c.federated.krum_f < 0 or c.federated.krum_m < 1:
        bad("federated.krum_f" if c.federated.krum_f < 0 else "federated.krum_m", "krum_f must be >= 0 and krum_m >= 1")
    if c.federated.attack not in ATTACKS:
        bad("federated.attack", f"unknown attack {c.federated.attack!r}; available: {', '.join(ATTACKS)}")
    if c.federated.attack != "none" and not c.federated.attack_clients:
        bad("federated.attack_clients", "name the attacking clients (their ids, e.g. [\"hau_Latn\"])")
    if not c.federated.clip_norm > 0:
        bad("federated.clip_norm", "must be > 0")
    for key in ("prox_mu", "server_lr", "tau", "max_update_norm"):
        if getattr(c.federated, key) < 0:
            bad(f"federated.{key}", "must be >= 0")
    for key in ("server_momentum", "beta1", "beta2"):
        if not 0 <= getattr(c.federated, key) < 1:
            bad(f"federated.{key}", "must be in [0, 1)")
    if c.federated.aggregator not in AGGREGATORS:
        bad("federated.aggregator", f"unknown aggregator {c.federated.aggregator!r}; available: {', '.join(AGGREGATORS)}")
    overlap = sorted(set(c.data.zero_shot) & set(c.data.languages))
    if overlap:
        bad("data.zero_shot", f"{', '.join(overlap)} also in data.languages; a zero-shot language must never train")
    if len(set(c.data.zero_shot)) != len(c.data.zero_shot):
        bad("data.zero_shot", "a language is listed twice")
    if c.federated.distance_kind not in DISTANCES:
        bad("federated.distance_kind", f"unknown distance {c.federated.distance_kind!r}; available: {', '.join(DISTANCES)}")
    if not c.federated.temperature > 0:
        bad("federated.temperature", "must be > 0 (inf gives plain FedAvg)")
    if c.federated.aggregator == "distance" and c.data.partition != "language":
        bad("federated.aggregator", "'distance' personalises by language: it needs data.partition = \"language\"")
    if not 0 < c.data.train_fraction <= 1:
        bad("data.train_fraction", "must be in (0, 1], e.g. 0.25 for a quarter of each language's training data")
    _validate_compare(c.compare, bad)
    _validate_privacy(c, bad)
    if "federated_personal" in c.run.paradigms and c.data.partition not in ("language", "size_skew"):
        bad("run.paradigms", f"federated_personal adapts the model to each language client's own data: with "
            f"data.partition = {c.data.partition!r} the clients are not languages; drop federated_personal from "
            "run.paradigms (e.g. [\"monolingual\", \"centralized\", \"federated\"])")
    if not c.run.paradigms:
        bad("run.paradigms", f"list at least one of {', '.join(PARADIGMS)}")
    for p in c.run.paradigms:
        if p not in PARADIGMS:
            bad("run.paradigms", f"unknown paradigm {p!r}; available: {', '.join(PARADIGMS)}")


def token_task(d: DataConfig) -> bool:
    """Does the run label each word (a CoNLL dataset: NER, POS) rather than each sentence?"""
    return (d.format or preset_format(d.dataset)) == "conll"


def refuse_token_task(c: "Config", command: str, instead: str) -> None:
    """Commands not built for token tasks say so by name before anything runs."""
    if token_task(c.data):
        raise ConfigError(f"data.dataset = {c.data.dataset!r} is a token task (a tag per word); `borderless "
                          f"{command}` does not handle token tasks yet: {instead}")


def preset_format(dataset: str) -> str:
    from borderless.data.presets import PRESETS

    return PRESETS[dataset].format if dataset in PRESETS else ""


def _validate_token_task(c: "Config", bad) -> None:
    """What a token task (a tag per word, read at its first sub-word) cannot combine with, by name."""
    why = "a token task tags each word at its first sub-word"
    if c.method.pooling:
        bad("method.pooling", f"{why}: there is nothing to pool; drop method.pooling")
    if c.method.classifier == "verbalizer":
        bad("method.classifier", f"{why} with a linear head; the verbalizer scores one next word per sentence")
    if c.method.template:
        bad("method.template", f"{why}: the words are read as they are; drop method.template")
    if c.privacy.mechanism == "example":
        bad("privacy.mechanism", "DP-SGD's per-example gradients are per sentence; a token task's are not wired "
            "yet: use mechanism = \"client\" or \"local\" (update-level), or \"none\"")
    if c.federated.attack == "label_flip":
        bad("federated.attack", "label_flip shifts sentence labels; a token task's are per word: use sign_flip, "
            "gaussian or nan")
    if c.data.zero_shot_dataset and preset_format(c.data.zero_shot_dataset) != "conll":
        bad("data.zero_shot_dataset", f"{c.data.zero_shot_dataset!r} labels sentences; a token task's zero-shot "
            "languages must be tagged the same way")


def _validate_dataset(d: DataConfig, bad) -> None:
    from borderless.data.folder import FORMATS, SPLITS
    from borderless.data.presets import DATASETS

    for key, name in (("data.dataset", d.dataset), ("data.zero_shot_dataset", d.zero_shot_dataset or d.dataset)):
        if name not in DATASETS:
            near = difflib.get_close_matches(name, DATASETS, n=1)
            bad(key, f"unknown dataset {name!r}" + (f"; did you mean {near[0]!r}?" if near else "")
                + f" Available: {', '.join(DATASETS)}")
    if d.dataset == "americasnli":
        bad("data.dataset", "americasnli has no training split; train on xnli and set "
            'data.zero_shot_dataset = "americasnli" with its languages in data.zero_shot')
    if d.format and d.format not in FORMATS:
        bad("data.format", f"unknown format {d.format!r}; one of {', '.join(FORMATS)}")
    for key in ("splits", "fallback_splits"):
        for split, template in getattr(d, key).items():
            if split not in SPLITS:
                bad(f"data.{key}.{split}", f"unknown split; the splits are {', '.join(SPLITS)}")
            if "{lang}" not in template:
                bad(f"data.{key}.{split}", f'{template!r} must contain {{lang}}, e.g. "{{lang}}/{split}.tsv"')
    if d.dataset == "folder":
        if not d.path:
            bad("data.path", 'dataset = "folder" needs data.path: the folder holding your per-language files')
        if "test" not in d.splits and not d.carve_from:
            bad("data.splits", 'dataset = "folder" needs at least data.splits.test (and train, dev), '
                'e.g. { train = "{lang}/train.csv", dev = "{lang}/dev.csv", test = "{lang}/test.csv" }')
    if d.header is False and not d.columns and d.format != "jsonl":
        bad("data.columns", "header = false needs the column names in order, e.g. [\"text\", \"label\"]")
    if d.carve_from is not None and d.carve_from and d.carve_from not in SPLITS:
        bad("data.carve_from", f"must name a split ({', '.join(SPLITS)})")
    if not 0.0 <= d.carve_dev_fraction < 1.0:
        bad("data.carve_dev_fraction", "must be in (0, 1); 0 keeps the preset's")
    if not 0.0 <= d.carve_test_fraction < 1.0:
        bad("data.carve_test_fraction", "must be in (0, 1); 0 keeps the preset's")
    conll = token_task(d)
    if d.tag_column is not None and not conll:
        bad("data.tag_column", "names a CoNLL file's tag column; set data.format = \"conll\" or drop it")
    if conll:
        for key in ("text_columns", "pair_column", "label_column", "id_column", "columns", "header", "quoting",
                    "carve_by_text", "skip_empty"):
            if getattr(d, key):
                bad(f"data.{key}", "a CoNLL file has no named columns: the word is column 0 and the tag "
                    "data.tag_column; drop this key")
        if d.partition == "dirichlet":
            bad("data.partition", "dirichlet skews each client's sentence labels; a token task's sentences have "
                "none (their words do): use language, iid or size_skew")


def _validate_privacy(c: Config, bad) -> None:
    p = c.privacy
    mechanisms = ("none", "example", "client", "local")
    if p.mechanism not in mechanisms:
        bad("privacy.mechanism", f"unknown mechanism {p.mechanism!r}; one of {', '.join(mechanisms)}")
    if p.accountant not in ("rdp", "pld"):
        bad("privacy.accountant", f"unknown accountant {p.accountant!r}; one of rdp, pld")
    if not p.clip_norm > 0:
        bad("privacy.clip_norm", "must be > 0")
    if not 0 < p.delta < 1:
        bad("privacy.delta", "must be in (0, 1), e.g. 1e-5")
    if p.target_epsilon < 0 or p.noise_multiplier < 0:
        bad("privacy.target_epsilon", "target_epsilon and noise_multiplier must be >= 0")
    probe_keys = ("probe_steps", "probe_batch_size", "probe_lr", "probe_dims")
    changed = [k for k in probe_keys if getattr(p, k) != getattr(PrivacyConfig(), k)]
    if changed and not (p.mechanism == "example" and c.method.probe_init):
        bad(f"privacy.{changed[0]}", "the privacy.probe_* keys shape the DP probe, which only mechanism = \"example\" "
            "with method.head_init = \"probe\" fits; drop them or use that combination")
    if p.mechanism == "none":
        if p.target_epsilon or p.noise_multiplier:
            bad("privacy.mechanism", "target_epsilon / noise_multiplier are set but mechanism = \"none\" adds no "
                "noise: choose mechanism = \"example\" (DP-SGD), \"client\" or \"local\", or drop them")
    else:
        _validate_dp(c, p, bad)
    if p.secagg_shares < 0 or p.secagg_shares in (1, 2):
        bad("privacy.secagg_shares", "must be 0 (every other client) or >= 3")
    if not 0 < p.secagg_threshold <= 1:
        bad("privacy.secagg_threshold", "must be in (0, 1]")
    if not p.secagg_clip_range > 0 or p.secagg_quantization < 2:
        bad("privacy.secagg_clip_range", "secagg_clip_range must be > 0 and secagg_quantization >= 2")
    if p.secagg and c.federated.aggregator in ("distance", "median", "trimmed_mean", "krum", "clipped_fedavg"):
        bad("privacy.secagg", f"SecAgg+ gives the server only the sum of the updates; {c.federated.aggregator!r} "
            "needs each client's own update. Use fedavg (or fedavgm, fedadam, fedyogi), or secagg = false")
    if ":" not in c.deploy.superlink:
        bad("deploy.superlink", f"{c.deploy.superlink!r}: write host:port, e.g. \"127.0.0.1:9093\"")
    if c.deploy.wait_for_nodes_s <= 0 or c.deploy.round_timeout_s <= 0:
        bad("deploy.wait_for_nodes_s", "wait_for_nodes_s and round_timeout_s must be > 0")
    if not 0 < c.deploy.poll_interval_s <= 10:
        bad("deploy.poll_interval_s", "how often to ask the SuperLink for messages: a value in (0, 10] seconds")


def _validate_dp(c: Config, p: PrivacyConfig, bad) -> None:
    """The combinations a DP run refuses, each by name: no key may silently weaken the guarantee."""
    if (p.target_epsilon > 0) == (p.noise_multiplier > 0):
        bad("privacy.target_epsilon", f"mechanism = {p.mechanism!r} needs exactly one of target_epsilon (ε over "
            "the whole run; the noise is calibrated to it) or noise_multiplier (the noise itself)")
    if c.method.probe_init and p.mechanism != "example":
        bad("method.head_init", f"\"probe\" under mechanism = {p.mechanism!r} would start from a probe fitted "
            "without noise (only mechanism = \"example\" fits it with DP-SGD); set method.head_init = \"random\"")
    if p.probe_steps < 0 or p.probe_batch_size < 1 or not p.probe_lr > 0 or p.probe_dims < 0:
        bad("privacy.probe_steps", "probe_steps >= 0, probe_batch_size >= 1, probe_lr > 0, probe_dims >= 0")
    if c.train.probe_candidate:
        bad("train.probe_candidate", "the frozen probe is fitted without noise: a run under DP may not report "
            "it as its model; set train.probe_candidate = false (the report still shows it, as a non-private baseline)")
    if p.mechanism in ("client", "local"):
        if c.federated.aggregator in ("distance", "median", "trimmed_mean", "krum", "clipped_fedavg"):
            bad("federated.aggregator", f"{c.federated.aggregator!r} weighs or picks clients by their own updates, "
                "which the accountant does not model; use fedavg, fedprox, fedavgm, fedadam or fedyogi")
        if c.federated.attack != "none":
            bad("federated.attack", "simulated attacks and DP at once are not modelled; set federated.attack = \"none\"")
    if p.mechanism == "client" and p.secagg:
        bad("privacy.secagg", "server-side noise on a SecAgg+ sum is not built yet; use mechanism = \"local\" "
            "or \"example\" with SecAgg+, or secagg = false")
    if c.method.name == "head":
        bad("method.name", "\"head\" fits the frozen-feature probe without noise; train a prompt, prefix, "
            "LoRA or full model under DP")


def refuse_unprotected_paradigms(c: Config, label: str = "<config>") -> None:
    """``borderless run`` only (a deployment trains the federated paradigm alone): client- and
    update-level DP protect what a client sends a server, which monolingual and centralized never do."""
    alone = [x for x in c.run.paradigms if not x.startswith("federated")]
    if c.privacy.mechanism in ("client", "local") and alone:
        raise ConfigError(
            f"{label}: run.paradigms: privacy.mechanism = {c.privacy.mechanism!r} protects the updates a client "
            f"sends to a server; {', '.join(alone)} send none and would train without noise. Use mechanism = "
            "\"example\" (DP-SGD) to compare paradigms under DP, or list only federated paradigms")


def _validate_compare(c: CompareConfig, bad) -> None:
    for key, allowed in (("methods", METHODS), ("fraction_methods", METHODS), ("paradigms", COMPARE_PARADIGMS)):
        values = getattr(c, key)
        if key != "fraction_methods" and not values:
            bad(f"compare.{key}", f"list at least one of {', '.join(allowed)}")
        for v in values:
            if v not in allowed:
                near = difflib.get_close_matches(v, allowed, n=1)
                hint = f"; did you mean {near[0]!r}?" if near else ""
                bad(f"compare.{key}", f"unknown {key.rstrip('s').replace('_', ' ')} {v!r}{hint} available: {', '.join(allowed)}")
        if len(set(values)) != len(values):
            bad(f"compare.{key}", "a value is listed twice")
    if not c.seeds or len(set(c.seeds)) != len(c.seeds):
        bad("compare.seeds", "list distinct seeds, e.g. [0, 1, 2]")
    for a in c.aggregators:
        if a not in AGGREGATORS:
            bad("compare.aggregators", f"unknown aggregator {a!r}; available: {', '.join(AGGREGATORS)}")
    if len(set(c.fraction_seeds)) != len(c.fraction_seeds):
        bad("compare.fraction_seeds", "a seed is listed twice")
    if not c.fractions or any(not 0 < f <= 1 for f in c.fractions):
        bad("compare.fractions", "list fractions in (0, 1], e.g. [0.1, 0.25, 0.5, 1.0]")
    for method, items in c.overrides.items():
        if method not in METHODS:
            bad(f"compare.overrides.{method}", f"not a method; available: {', '.join(METHODS)}")
        for item in items:
            keys, _ = parse_override(item)
            if keys[0] in ("compare", "run") or keys == ["method", "name"]:
                bad(f"compare.overrides.{method}", f"{item!r}: the matrix sets {'.'.join(keys)} itself; override "
                    "data, backbone, method, train or federated keys")


def _configured_path(value: str, env_var: str) -> Path | None:
    """The configured value, else the environment variable, else None."""
    chosen = value or os.environ.get(env_var, "")
    return Path(os.path.expanduser(chosen)) if chosen else None


def resolve_data_path(c: DataConfig) -> Path:
    """The dataset's folder: data.path, else (SIB-200) $BORDERLESS_DATA, else ../shared/data/<its folder>."""
    from borderless.data.presets import dataset_path

    return dataset_path(c)


def resolve_cache_dir(c: BackboneConfig) -> Path:
    """Where converted backbones live: backbone.cache_dir, else $BORDERLESS_CACHE, else the user cache dir."""
    import platformdirs

    return _configured_path(c.cache_dir, "BORDERLESS_CACHE") or Path(platformdirs.user_cache_dir("borderless"))
