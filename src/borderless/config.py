"""Typed, frozen run configuration loaded from TOML, with dotted ``--set key=value`` overrides.

Every section is a frozen dataclass whose keys are declared: a type (``Literal`` for a choice among
names), its constraints (``annotated_types``: ``Ge``, ``Gt``, ``Interval``, ``MinLen``), a default and
one line saying what it does (``key``). The loader checks every value against its declaration, so a
wrong type, a value out of range, an unknown choice or an unknown key is refused with an error that
names the file and the dotted key and says how to fix it; the rules that join several keys are in
``validate``. The same declarations give the JSON schema (``borderless config --schema``) and the
reference table in docs/configuration.md (``borderless config --keys``; a test keeps them equal).
Nothing here imports pydantic or torch: a Flower ClientApp reads the run's config on every message.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from annotated_types import Ge, Gt, Interval, MinLen

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
SELECT_METRICS = ("accuracy", "macro_f1", "weighted_f1", "f1")
MECHANISMS = ("none", "example", "client", "local")  # borderless.privacy


class ConfigError(ValueError):
    """A configuration problem, always naming the file and/or key at fault."""


def key(default: Any, doc: str) -> Any:
    """A config key: its default and what it does, one line of the generated reference
    (docs/configuration.md, ``borderless config --keys``) and of the JSON schema's description."""
    if isinstance(default, dict):
        return field(default_factory=dict, metadata={"doc": doc})
    return field(default=default, metadata={"doc": doc})


# value constraints, read by the loader (``_check``) and by the JSON schema alike
NonNegative, Positive, AtLeastOne = Ge(0), Gt(0), Ge(1)
Fraction = Interval(gt=0, le=1)  # (0, 1]
Share = Interval(ge=0, lt=1)  # [0, 1)


@dataclass(frozen=True)
class DataConfig:
    dataset: str = key("sib200", "`sib200`, `masakhanews`, `xnli`, `nusax`, `americasnli` (zero-shot only), "
                       "`masakhaner`, `masakhapos` (token tasks), `pawsx`, or `folder` (your own; see "
                       "[Datasets](data.md#datasets-presets-of-one-folder-reader))")
    path: str = key("", "the dataset's folder; empty: (SIB-200) `$BORDERLESS_DATA`, else `../shared/data/<dataset>` "
                    "beside the repo")
    languages: Annotated[tuple[str, ...], MinLen(1)] = key(
        ("eng_Latn", "hau_Latn"), "the dataset's language codes (SIB-200: `<iso639-3>_<Script>`; a bare ISO code "
        "works when unique)")
    max_train_per_language: Annotated[int, NonNegative] = key(0, "cap per language (seeded, stratified by label); 0 = all")
    max_dev_per_language: Annotated[int, NonNegative] = key(0, "dev cap per language (dev chooses rounds, steps and "
                                                            "probes); 0 = the whole split")
    dev_from_train: Annotated[int, NonNegative] = key(
        0, "add up to N of each training language's training rows that `max_train_per_language` left unused to its "
        "dev split (seeded, stratified; they never train): a larger dev split where the preset's is small; 0 = none")
    max_test_per_language: Annotated[int, NonNegative] = key(0, "test cap per language (the reported scores); 0 = the "
                                                             "whole split")
    max_zero_shot_dev_per_language: Annotated[int, Ge(-1)] = key(
        -1, "the zero-shot languages' dev cap (their curves only; they choose nothing): -1 = as "
        "`max_dev_per_language`, 0 = whole split")
    partition: Literal[PARTITIONS] = key(
        "language", "federated clients: `language` (one per language), `iid` (pooled, dealt evenly), `dirichlet` "
        "(label skew, `dirichlet_alpha`), `size_skew` (`low_resource` languages keep `low_resource_fraction` of "
        "their data, in every paradigm)")
    num_clients: Annotated[int, NonNegative] = key(0, "clients for `iid` / `dirichlet`; 0 = one per language (keeps "
                                                   "the compute budget matched)")
    dirichlet_alpha: Annotated[float, Positive] = key(0.5, "`dirichlet`: concentration of each client's label mix "
                                                      "(smaller = more skewed)")
    low_resource: tuple[str, ...] = key((), "`size_skew`: the languages that keep only `low_resource_fraction`")
    low_resource_fraction: Annotated[float, Fraction] = key(0.1, "`size_skew`: the share of their training data "
                                                            "the low-resource languages keep")
    zero_shot: tuple[str, ...] = key((), "languages evaluated under every paradigm and never trained on")
    train_fraction: Annotated[float, Fraction] = key(1.0, "keep this stratified fraction of each language's "
                                                     "(capped) training data")
    zero_shot_dataset: str = key("", "the zero-shot languages' dataset, e.g. `americasnli` beside `xnli`; empty: "
                                 "`data.dataset`")
    zero_shot_path: str = key("", "its folder; empty: `../shared/data/<its folder>`")
    label_space: tuple[str, ...] = key((), "the run's labels in order; empty: the union of the training languages'. "
                                       "Set it on Flower nodes when the languages' label sets differ, so every node "
                                       "builds the same head")
    # Describing a dataset (dataset = "folder") or adjusting a preset; unset keys keep the preset's
    # (borderless.data.folder.FolderFormat). Each split file is a template under data.path with {lang}.
    splits: dict[str, str] = key({}, "your own folder: each split's file, a template with `{lang}`, e.g. "
                                 "`{ train = \"{lang}/train.csv\", dev = ..., test = ... }`; unset: the preset's")
    format: Literal["", "tsv", "csv", "jsonl", "conll"] = key("", "the files' format; `conll` (a word and its tag a "
                                                                 "line) makes the run a token task; \"\": the preset's")
    header: bool | None = key(None, "tsv / csv: the first line names the columns")
    columns: tuple[str, ...] = key((), "tsv / csv without a header: the column names in order")
    text_columns: tuple[str, ...] = key((), "the text's column (several: joined with a space)")
    pair_column: str | None = key(None, "sentence pairs: the second text's column")
    label_column: str = key("", "the label's column")
    id_column: str | None = key(None, "ids of parallel sentences; unset: the row number")
    quoting: bool | None = key(None, "tsv: honour `\"...\"` quoting")
    labels_file: str | None = key(None, "a template of a one-label-per-line file; unset: the labels found, sorted")
    fallback_splits: dict[str, str] = key({}, "files read where a split's own file is missing")
    carve_from: str | None = key(None, "a split cut into train and dev (seeded, stratified)")
    carve_dev_fraction: Annotated[float, Share] = key(0.0, "the dev share of the carve; 0 = the preset's (0.2)")
    carve_by_text: bool | None = key(None, "the carve keeps rows sharing their text on one side (XNLI: a premise's "
                                     "hypotheses)")
    carve_test_fraction: Annotated[float, Share] = key(0.0, "> 0: test is carved from `carve_from` too; 0 = the "
                                                       "preset's")
    carve_by_id: bool | None = key(None, "carve by a seeded hash of the row id: the same rows in parallel files")
    tag_column: int | None = key(None, "conll: the tag's column, 0-based (-1 = the last)")
    skip_empty: bool | None = key(None, "rows with an empty text are skipped (and counted in the report) instead "
                                  "of refused")


@dataclass(frozen=True)
class BackboneConfig:
    name: str = key("e5-small", "`e5-small` (encoder, offline), `gemma3-270m` (decoder, offline; see "
                    "[the decoder](backbones.md#the-decoder-gemma-3-270m-offline)), `tiny-random` / "
                    "`tiny-random-decoder` (tests), a local model folder, or a hub id (online)")
    cache_dir: str = key("", "where `e5-small` and `gemma3-270m` are converted to; empty: `$BORDERLESS_CACHE`, else "
                         "the user cache dir")
    max_length: Annotated[int, Ge(8)] = key(128, "token cap per sentence (before the prompt)")
    input_prefix: str | None = key(None, "text put before every input; unset: the backbone's own (e5: "
                                   "`\"passage: \"`)")
    dtype: Literal["float32", "bfloat16"] = key(
        "float32", "the frozen weights' format: `float32`, or `bfloat16` (half the memory; the backbone runs under "
        "autocast on the CPU's bfloat16 units, 2-3x faster here with probes within 0.7 points, "
        "[benchmarks](../benchmarks/README.md#precisionpy--float32-vs-bfloat16-frozen-backbones-backbonedtype)); "
        "prompts, adapters and heads stay float32; not with `method.name = \"full\"`")


@dataclass(frozen=True)
class MethodConfig:
    name: Literal[METHODS] = key(
        "prompt", "`prompt` (soft prompt), `p_tuning` (prompt encoder), `prefix` (deep prompts at every layer), "
        "`lora`, `full` (full fine-tuning), `head` (linear probe); all through HF PEFT where PEFT has it")
    num_virtual_tokens: Annotated[int, AtLeastOne] = key(16, "prompt length for `prompt`, `p_tuning`, `prefix`")
    prompt_init: Literal["vocab", "random", "labels"] = key(
        "vocab", "`prompt`: `vocab` (sampled real vocabulary embeddings), `random`, or `labels` (each virtual token "
        "starts at the embedding of a label word's token, as the backbone itself would feed it; Lester et al.'s "
        "class-label init; with the verbalizer, its words)")
    prefix_init: Literal["random", "keys"] = key(
        "random", "`prefix`: `random` (PEFT's N(0, 1) prefixes) or `keys` (each layer's prefix starts from the keys "
        "and values the frozen backbone computes for sampled vocabulary tokens read in context; encoders with "
        "`key` / `value` projections)")
    encoder_type: Literal["MLP", "LSTM"] = key("MLP", "`p_tuning`: the prompt encoder, `MLP` or `LSTM`")
    encoder_hidden_size: Annotated[int, NonNegative] = key(0, "`p_tuning`: its hidden size; 0 = the backbone's")
    lora_r: Annotated[int, AtLeastOne] = key(8, "`lora`: rank")
    lora_alpha: Annotated[int, AtLeastOne] = key(16, "`lora`: scaling alpha")
    lora_dropout: Annotated[float, Share] = key(0.0, "`lora`: dropout on the adapter's input")
    lora_targets: Annotated[tuple[str, ...], MinLen(1)] = key(("query", "value"), "`lora`: the module names adapted")
    head_init: Literal["probe", "random"] = key(
        "probe", "`probe`: every paradigm's head starts from its own frozen-feature probe (LP-FT); `random`: from "
        "scratch")
    classifier: Literal["head", "verbalizer"] = key(
        "head", "`head`: a linear head on pooled hidden states; `verbalizer` (decoders): the model's own LM head "
        "scores one word per label at the last real token; no head is trained or sent")
    pooling: Literal["", "mean", "last"] = key(
        "", "`mean` over the real tokens or the `last` real token; `\"\"` = `last` with the verbalizer, `mean` "
        "otherwise. The probe floor uses the same pooling")
    template: str = key(
        "", "what the backbone reads, with `{text}` and `{text_pair}`, e.g. `\"{text}\\nTopic:\"`; truncation "
        "shortens `{text}` and always keeps the rest. `\"\"`: the text (pairs: the tokenizer's pair encoding; on a "
        "decoder `\"{text}\\n{text_pair}\"`)")
    verbalizer: dict[str, str] = key(
        {}, "label to word, e.g. `{ entailment = \" True\" }`; unlisted labels use `\" \" + label`. The word's first "
        "token is scored; two labels may not share it (refused, naming both)")

    @property
    def probe_init(self) -> bool:
        """Does a trained head start from its paradigm's probe? (Not for the probe itself, nor for the
        verbalizer, which has no trained head.)"""
        return self.head_init == "probe" and self.name != "head" and self.classifier == "head"



@dataclass(frozen=True)
class TrainConfig:
    batch_size: Annotated[int, AtLeastOne] = key(16, "sentences per optimizer step")
    lr: Annotated[float, Positive] = key(3e-3, "learning rate of the method's parameters (prompt, adapter, weights)")
    head_lr: Annotated[float, NonNegative] = key(0.0, "the head's learning rate; 0 = `lr`")
    optimizer: Literal[OPTIMIZERS] = key("adamw", "`adamw`, `adam` or `sgd`")
    weight_decay: Annotated[float, NonNegative] = key(0.0, "the optimizer's weight decay")
    local_steps: Annotated[int, AtLeastOne] = key(8, "optimizer steps per client per round (federated), and per "
                                                  "round-equivalent in the other paradigms")
    eval_batch_size: Annotated[int, AtLeastOne] = key(64, "sentences per evaluation batch")
    schedule: Literal[SCHEDULES] = key(
        "linear", "learning rate over each paradigm's steps: `constant`, `linear` (decay to 0) or `cosine`, after "
        "the warm-up")
    warmup: Annotated[float, Share] = key(0.06, "the fraction of the steps with a linear warm-up from 0")
    stop: Literal[STOPS] = key(
        "dev", "`dev`: stop after `patience` dev evaluations without a better mean dev score "
        "(`train.select_metric`) and restore the best state (the untrained start counts); `budget`: train every "
        "round, keep the last state")
    patience: Annotated[int, AtLeastOne] = key(
        3, "`stop = \"dev\"`: dev evaluations without improvement before stopping. Each paradigm (under monolingual, "
        "each language) stops on its own dev score, one dev set being noisier than the mean of several; the report "
        "notes paradigms that took under half another's optimizer steps")
    probe_candidate: bool = key(
        False, "with `stop = \"dev\"`: after stopping, the paradigm's frozen-feature probe competes with the kept "
        "state on the same dev criterion and the better is reported; where dev kept the untrained start nothing "
        "was learned and the probe is reported without a comparison (`chosen_on_dev`, `untrained` and the tuned "
        "state's own numbers stay in results.json). Off by default: with 40 dev sentences it helped monolingual by "
        "0.4 points and not the others ([measured](results/probe_candidate.md)); on in `configs/demo.toml`, the "
        "robust recipe, with whole dev splits ([held-out draws](results/heldout_draws_prompt/README.md))")
    select_metric: Literal[("", *SELECT_METRICS)] = key(
        "", "what dev selection (early stopping, the personal step, the probes' weight decay, the probe candidate) "
        "maximises and what the reports lead with: `accuracy`, `macro_f1`, `weighted_f1`, or `f1` (entity F1, "
        "seqeval strict IOB2; BIO token tasks only). `\"\"`: `f1` on a BIO-tagged token task (NER), else "
        "`accuracy`. Every metric is in results.json either way (`test_<metric>`, `mean_<metric>`, "
        "`worst_<metric>`)")


def resolve_metric(c: "Config", bio: bool) -> str:
    """train.select_metric, or its automatic choice: entity F1 for BIO tags (NER), else accuracy."""
    return c.train.select_metric or ("f1" if bio and token_task(c.data) else "accuracy")


@dataclass(frozen=True)
class FederatedConfig:
    rounds: Annotated[int, AtLeastOne] = key(10, "federation rounds")
    clients_per_round: Annotated[int, NonNegative] = key(0, "clients sampled per round; 0 = every client")
    min_clients: Annotated[int, NonNegative] = key(
        0, "Flower: a round goes on with the replies that arrived within `deploy.round_timeout_s` if at least this "
        "many sampled clients answered (absent nodes are logged and rejoin later); 0 = every sampled client")
    aggregator: Literal[AGGREGATORS] = key(
        "fedavg", "`fedavg`, `fedprox` (client proximal term `prox_mu`), `fedavgm` (`server_lr`, "
        "`server_momentum`), `fedadam` / `fedyogi` (`server_lr`, `beta1`, `beta2`, `tau`), `distance` (per-language "
        "mix by URIEL+ distance); robust to bad clients: `median` (coordinate-wise), `trimmed_mean` (`trim_beta`), "
        "`krum` (`krum_f`, `krum_m` > 1 = multi-Krum), `clipped_fedavg` (`clip_norm`)")
    eval_every: Annotated[int, NonNegative] = key(1, "evaluate on every dev split each N rounds (0 = never); also "
                                                  "how often every paradigm is evaluated on dev")
    prox_mu: Annotated[float, NonNegative] = key(0.01, "`fedprox`: weight of the proximal term mu/2 ||w - w_global||^2")
    server_lr: Annotated[float, NonNegative] = key(0.0, "`fedavgm` / `fedadam` / `fedyogi`: server learning rate; 0 = "
                                                   "the rule's default (1.0 for fedavgm, 0.01 adaptive)")
    server_momentum: Annotated[float, Share] = key(0.9, "`fedavgm`: server momentum")
    beta1: Annotated[float, Share] = key(0.9, "`fedadam` / `fedyogi`: first-moment decay")
    beta2: Annotated[float, Share] = key(0.99, "`fedadam` / `fedyogi`: second-moment decay")
    tau: Annotated[float, NonNegative] = key(1e-3, "`fedadam` / `fedyogi`: adaptivity")
    distance_kind: Literal[DISTANCES] = key(
        "combined", "URIEL+ distance of the `distance` aggregator; also picks each zero-shot language's nearest "
        "training language")
    temperature: Annotated[float, Positive] = key(0.1, "`distance`: client j weighs n_j exp(-d/T); `inf` = FedAvg")
    personal_steps: Annotated[int, NonNegative] = key(
        20, "`federated_personal`: each client adapts the final global state for up to this many steps on its own "
        "data, keeping the step count best on its own dev split (0 = the global model)")
    local_head: bool = key(
        False, "the head stays with each client (FedPer): only the prompt / adapter is averaged and sent; each "
        "client starts from its own frozen-feature probe; a language outside the federation gets the average of "
        "the clients' heads")
    personal_eval_every: Annotated[int, AtLeastOne] = key(5, "`federated_personal`: its dev evaluations every N steps")
    personal_lr_scale: Annotated[float, Positive] = key(0.5, "`federated_personal`: constant learning rates = this x "
                                                        "`train.lr` / `train.head_lr`")
    trim_beta: Annotated[float, Interval(ge=0, lt=0.5)] = key(0.1, "`trimmed_mean`: the fraction dropped at each end")
    krum_f: Annotated[int, NonNegative] = key(1, "`krum`: Byzantine clients tolerated")
    krum_m: Annotated[int, AtLeastOne] = key(1, "`krum`: average the m best-scored updates (1 = Krum, > 1 = multi-Krum)")
    clip_norm: Annotated[float, Positive] = key(1.0, "`clipped_fedavg`: each update's norm is scaled to at most this")
    max_update_norm: Annotated[float, NonNegative] = key(
        0.0, "the server refuses an update with ||w_client - w_global|| above this, 0 = no limit (see [updates the "
        "server refuses](robustness.md#updates-the-server-refuses))")
    attack: Literal[ATTACKS] = key(
        "none", "simulated hostile clients for robustness studies (borderless.federated.attacks): `sign_flip`, "
        "`gaussian`, `nan` or `label_flip`")
    attack_clients: tuple[str, ...] = key((), "the attacking clients' ids, e.g. `[\"hau_Latn\"]`")
    attack_scale: float = key(10.0, "the attack's strength (sign_flip's factor, gaussian's std)")


@dataclass(frozen=True)
class ProbeConfig:
    """The frozen-feature linear probe of every paradigm (floor and head initialisation)."""

    weight_decays: Annotated[tuple[Annotated[float, NonNegative], ...], MinLen(1)] = key(
        (1e-4, 1e-3, 1e-2, 1e-1), "the L2 penalties chosen from on dev")
    max_iter: Annotated[int, AtLeastOne] = key(100, "L-BFGS iterations (monolingual, centralized)")
    federated_rounds: Annotated[int, AtLeastOne] = key(20, "FedAvg rounds of the head per weight decay")
    federated_local_iters: Annotated[int, AtLeastOne] = key(10, "L-BFGS iterations per client per round")
    feature_batch_size: Annotated[int, AtLeastOne] = key(64, "sentences per batch when caching frozen features")


@dataclass(frozen=True)
class RunConfig:
    paradigms: Annotated[tuple[Literal[PARADIGMS], ...], MinLen(1)] = key(PARADIGMS, "`monolingual`, `centralized`, `federated`, "
                                          "`federated_personal` (the last needs language clients)")
    seed: int = key(0, "the run's seed (data caps, initialisation, batch order, client sampling)")
    threads: Annotated[int, NonNegative] = key(0, "torch threads; 0 = torch's default")
    language_analysis: bool = key(True, "report: gain against URIEL+ distance (3+ training languages) and tokenizer "
                                  "statistics")
    checkpoint: bool = key(True, "write `checkpoint.pt` after every round, for `borderless run --resume DIR`")
    keep_states: bool = key(
        True, "keep each paradigm's chosen trainable state under `states/` in the results folder (one file per "
        "language where the paradigm has one; the probe's head where dev selection kept the probe); listed in "
        "results.json `models`. false keeps none (full fine-tuning: 470 MB a state)")
    keep_updates: bool = key(
        False, "federated: also keep what the server sees, every round: each client's returned state "
        "(`states/federated/updates/round<r>/<client>.safetensors`) and the global state the round started from "
        "(`.../round<r>/start.safetensors`); `borderless audit --server-view` attacks them (threat model b)")


@dataclass(frozen=True)
class CompareConfig:
    """The ``borderless compare`` matrix: methods × paradigms × seeds (× training-data fractions)."""

    methods: Annotated[tuple[Literal[METHODS], ...], MinLen(1)] = key(
        ("prompt",), "the methods compared")
    paradigms: Annotated[tuple[Literal[COMPARE_PARADIGMS], ...], MinLen(1)] = key(
        COMPARE_PARADIGMS, "`monolingual`, `centralized`, `federated_iid` (the pooled data dealt evenly), "
        "`federated_non_iid` (one client per language), `federated_personal`")
    seeds: Annotated[tuple[int, ...], MinLen(1)] = key((0,), "the seeds of every cell")
    fractions: Annotated[tuple[Annotated[float, Fraction], ...], MinLen(1)] = key(
        (1.0,), "data efficiency: fractions of each language's training data; those below 1 run for "
        "`fraction_methods` only")
    fraction_methods: tuple[Literal[METHODS], ...] = key(
        ("prompt",), "the methods of the fractions below 1")
    fraction_seeds: tuple[int, ...] = key((), "the seeds of the fractions below 1; empty = `compare.seeds`")
    aggregators: tuple[Literal[AGGREGATORS], ...] = key(
        (), "run each federated paradigm once per rule, e.g. `[\"fedavg\", \"distance\"]`; empty = "
        "`federated.aggregator`")
    overrides: dict[str, tuple[str, ...]] = key({}, "per-method settings in `--set` form, e.g. "
                                                "`{ full = [\"train.lr=3e-5\"] }`")


@dataclass(frozen=True)
class PrivacyConfig:
    """Differential privacy for ``borderless run`` and ``borderless deploy`` alike (borderless.privacy),
    and SecAgg+ for deployments: what the server, and whoever gets the model, can learn."""

    mechanism: Literal[MECHANISMS] = key(
        "none", "`example` = DP-SGD in every client (a sentence is the record; Poisson batches, per-sentence "
        "clipping, Gaussian noise); `client` = client-level DP (clients clip their update, the server samples "
        "clients by Poisson and noises the sum); `local` = each client clips and noises its own update "
        "([privacy](privacy.md))")
    clip_norm: Annotated[float, Positive] = key(1.0, "L2 bound of a sentence's gradient (example) or a round's update "
                                                "(client, local)")
    target_epsilon: Annotated[float, NonNegative] = key(0.0, "with a mechanism, this or `noise_multiplier`: ε over "
                                                        "the whole run at `delta` (the noise is calibrated to it "
                                                        "per party)")
    noise_multiplier: Annotated[float, NonNegative] = key(0.0, "or the noise itself: std = noise_multiplier x "
                                                          "`clip_norm`")
    delta: Annotated[float, Interval(gt=0, lt=1)] = key(1e-5, "δ of the (ε, δ) guarantee")
    accountant: Literal["rdp", "pld"] = key("rdp", "`rdp` or `pld` (dp-accounting's Rényi DP or privacy-loss-"
                                            "distribution accountant)")
    probe_steps: Annotated[int, NonNegative] = key(
        30, "`example` with `method.head_init = \"probe\"`: the LP-FT probe is fitted with DP-SGD on the start "
        "features for this many steps, counted in ε")
    probe_batch_size: Annotated[int, AtLeastOne] = key(64, "the DP probe's expected Poisson batch")
    probe_lr: Annotated[float, Positive] = key(0.2, "the DP probe's Adam learning rate")
    probe_dims: Annotated[int, NonNegative] = key(16, "the DP probe's features, centred and projected on this many "
                                                  "principal directions of the dev split (0 = all)")
    secagg: bool = key(False, "`borderless deploy`: SecAgg+, the server learns only the sum of the updates")
    secagg_shares: Annotated[int, NonNegative] = key(0, "secret shares per client; 0 = every other client (needs 3 "
                                                     "or more clients)")
    secagg_threshold: Annotated[float, Fraction] = key(0.6, "the fraction of shares needed to unmask (tolerates "
                                                       "dropouts below it)")
    secagg_clip_range: Annotated[float, Positive] = key(8.0, "values are clipped to +- this before quantisation")
    secagg_quantization: Annotated[int, Ge(2)] = key(4_194_304, "quantisation levels over the clip range")


@dataclass(frozen=True)
class DeployConfig:
    """Flower deployments: where the SuperLink listens and how long the server waits."""

    superlink: str = key("127.0.0.1:9093", "`host:port` the nodes and `deploy run` dial; the SuperLink binds its port")
    wait_for_nodes_s: Annotated[float, Positive] = key(300.0, "the run fails, naming the missing languages, if they "
                                                       "are not all up by then")
    round_timeout_s: Annotated[float, Positive] = key(3600.0, "how long the server waits for one round's replies")
    node_threads: Annotated[int, NonNegative] = key(
        0, "torch threads per node process; 0 = torch's default on a node of its own (under `deploy local`, the "
        "machine's cores shared among its nodes)")
    warm_nodes: bool = key(
        True, "each SuperNode keeps its backbone, data and model warm in its own worker and Flower's per-message "
        "ClientApp hands it the message (see [what a round costs on Flower](deploy.md#measured-on-the-2-core-cpu)); "
        "false = every ClientApp process loads everything again")
    poll_interval_s: Annotated[float, Interval(gt=0, le=10)] = key(
        0.2, "how often the server and each SuperNode ask the SuperLink for new messages (Flower 1.41 waits 3 s)")


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
    """``value`` as the declared type ``hint`` (TOML gives lists for tuples, ints for floats), or a
    ConfigError naming ``where`` (the dotted key) and the fix."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is Annotated:
        value = _coerce(value, args[0], where)
        for rule in args[1:]:
            _check(value, rule, where)
        return value
    if origin is Literal:
        if value not in args:
            near = difflib.get_close_matches(str(value), [str(a) for a in args], n=1)
            raise ConfigError(f"{where}: unknown value {value!r}" + (f" (did you mean {near[0]!r}?)" if near else "")
                              + f"; one of {', '.join(repr(a) for a in args)}")
        return value
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


def _check(value: Any, rule: Any, where: str) -> None:
    """One declared constraint (annotated_types) on a coerced value."""
    if isinstance(rule, MinLen):
        if len(value) < rule.min_length:
            raise ConfigError(f"{where}: list at least {rule.min_length} value(s)")
        return
    bounds = [(getattr(rule, k, None), k) for k in ("gt", "ge", "lt", "le")]
    ok = {"gt": lambda b: value > b, "ge": lambda b: value >= b, "lt": lambda b: value < b, "le": lambda b: value <= b}
    if not all(b is None or ok[k](b) for b, k in bounds):
        raise ConfigError(f"{where}: must be {describe_range(rule)}, got {value!r}")


def describe_range(rule: Any) -> str:
    """``> 0``, ``>= 1``, ``in (0, 1]``, ...: a declared constraint in words."""
    if isinstance(rule, MinLen):
        return f"a list of at least {rule.min_length}"
    lo = (f"({rule.gt:g}" if getattr(rule, "gt", None) is not None else
          f"[{rule.ge:g}" if getattr(rule, "ge", None) is not None else None)
    hi = (f"{rule.lt:g})" if getattr(rule, "lt", None) is not None else
          f"{rule.le:g}]" if getattr(rule, "le", None) is not None else None)
    if lo and hi:
        return f"in {lo}, {hi}"
    return f"> {rule.gt:g}" if getattr(rule, "gt", None) is not None else f">= {rule.ge:g}" if lo else \
        (f"< {rule.lt:g}" if getattr(rule, "lt", None) is not None else f"<= {rule.le:g}")


def _build(cls: type, raw: dict[str, Any], where: str):
    hints = typing.get_type_hints(cls, include_extras=True)
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

    if len(set(c.data.languages)) != len(c.data.languages):
        bad("data.languages", "a language is listed twice")
    _validate_dataset(c.data, bad)
    if c.data.partition == "size_skew" and not c.data.low_resource:
        bad("data.low_resource", "size_skew needs the low-resource languages listed, e.g. [\"hau_Latn\"]")
    if c.backbone.dtype == "bfloat16" and c.method.name == "full":
        bad("backbone.dtype", "full fine-tuning trains the backbone's own weights, which must stay float32; "
            "use backbone.dtype = \"float32\" with method.name = \"full\"")
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
    if c.train.select_metric == "f1" and not token_task(c.data):
        bad("train.select_metric", "'f1' is entity F1 over BIO spans (NER); a sentence task has macro_f1 and weighted_f1")
    if c.train.stop == "dev" and c.federated.eval_every < 1:
        bad("train.stop", "'dev' needs dev evaluations: set federated.eval_every >= 1, or train.stop = \"budget\"")
    sampled = c.federated.clients_per_round or c.data.num_clients or len(c.data.languages)
    if not 0 <= c.federated.min_clients <= sampled:
        bad("federated.min_clients", f"must be in [0, {sampled}] (the clients sampled per round); 0 = all of them")
    if c.federated.attack != "none" and not c.federated.attack_clients:
        bad("federated.attack_clients", "name the attacking clients (their ids, e.g. [\"hau_Latn\"])")
    overlap = sorted(set(c.data.zero_shot) & set(c.data.languages))
    if overlap:
        bad("data.zero_shot", f"{', '.join(overlap)} also in data.languages; a zero-shot language must never train")
    if len(set(c.data.zero_shot)) != len(c.data.zero_shot):
        bad("data.zero_shot", "a language is listed twice")
    if c.federated.aggregator == "distance" and c.data.partition != "language":
        bad("federated.aggregator", "'distance' personalises by language: it needs data.partition = \"language\"")
    _validate_compare(c.compare, bad)
    _validate_privacy(c, bad)
    if c.federated.local_head:
        _validate_local_head(c, bad)
    if c.run.keep_updates:
        _validate_keep_updates(c, bad)
    if "federated_personal" in c.run.paradigms and c.data.partition not in ("language", "size_skew"):
        bad("run.paradigms", f"federated_personal adapts the model to each language client's own data: with "
            f"data.partition = {c.data.partition!r} the clients are not languages; drop federated_personal from "
            "run.paradigms (e.g. [\"monolingual\", \"centralized\", \"federated\"])")


def _validate_keep_updates(c: "Config", bad) -> None:
    """``run.keep_updates``: the server's view of a federation whose clients all start a round from one
    global state; every other combination is refused by name."""
    if "federated" not in c.run.paradigms:
        bad("run.keep_updates", "keeps the federated paradigm's updates; add \"federated\" to run.paradigms, or drop the key")
    if not c.run.keep_states:
        bad("run.keep_updates", "the updates are kept beside the run's states: set run.keep_states = true")
    if c.federated.local_head or c.federated.aggregator == "distance":
        what = "federated.local_head" if c.federated.local_head else "federated.aggregator = \"distance\""
        bad("run.keep_updates", f"with {what} each client starts a round from its own state, not the one global "
            "state the kept round start would be; drop one of them")


def _validate_local_head(c: "Config", bad) -> None:
    """``federated.local_head``: what it needs, each refusal by name."""
    if not any(p.startswith("federated") for p in c.run.paradigms):
        bad("federated.local_head", "acts on the federated paradigms only; add federated or federated_personal "
            "to run.paradigms, or drop the key")
    if c.method.name in ("head", "full") or c.method.classifier == "verbalizer":
        what = ("nothing but the head is trained" if c.method.name == "head" else
                "full fine-tuning averages the head with the whole backbone" if c.method.name == "full" else
                "the verbalizer trains no head")
        bad("federated.local_head", f"{what}: keep the head local with a prompt, p_tuning, prefix or lora method")
    if c.federated.aggregator == "distance":
        bad("federated.local_head", "the 'distance' rule already gives each client its own state; choose one")
    if c.data.partition not in ("language", "size_skew"):
        bad("federated.local_head", f"each client keeps its own head and is scored with it, so the clients must be "
            f"the languages: data.partition = {c.data.partition!r} is not")
    if c.privacy.mechanism != "none":
        bad("federated.local_head", "DP with a head kept at home is not accounted yet; set privacy.mechanism = "
            "\"none\" or local_head = false")


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
    from borderless.data.folder import SPLITS
    from borderless.data.presets import DATASETS

    for key, name in (("data.dataset", d.dataset), ("data.zero_shot_dataset", d.zero_shot_dataset or d.dataset)):
        if name not in DATASETS:
            near = difflib.get_close_matches(name, DATASETS, n=1)
            bad(key, f"unknown dataset {name!r}" + (f"; did you mean {near[0]!r}?" if near else "")
                + f" Available: {', '.join(DATASETS)}")
    if d.dataset == "americasnli":
        bad("data.dataset", "americasnli has no training split; train on xnli and set "
            'data.zero_shot_dataset = "americasnli" with its languages in data.zero_shot')
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
    if d.dev_from_train and not d.max_train_per_language:
        bad("data.dev_from_train", "takes the training rows that data.max_train_per_language leaves unused, and "
            "with no cap (0) every row trains: set data.max_train_per_language (e.g. 200) or dev_from_train = 0")
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
    if p.secagg_shares in (1, 2):
        bad("privacy.secagg_shares", "must be 0 (every other client) or >= 3")
    if p.secagg and c.federated.aggregator in ("distance", "median", "trimmed_mean", "krum", "clipped_fedavg"):
        bad("privacy.secagg", f"SecAgg+ gives the server only the sum of the updates; {c.federated.aggregator!r} "
            "needs each client's own update. Use fedavg (or fedavgm, fedadam, fedyogi), or secagg = false")
    if ":" not in c.deploy.superlink:
        bad("deploy.superlink", f"{c.deploy.superlink!r}: write host:port, e.g. \"127.0.0.1:9093\"")


def _validate_dp(c: Config, p: PrivacyConfig, bad) -> None:
    """The combinations a DP run refuses, each by name: no key may silently weaken the guarantee."""
    if (p.target_epsilon > 0) == (p.noise_multiplier > 0):
        bad("privacy.target_epsilon", f"mechanism = {p.mechanism!r} needs exactly one of target_epsilon (ε over "
            "the whole run; the noise is calibrated to it) or noise_multiplier (the noise itself)")
    if c.method.probe_init and p.mechanism != "example":
        bad("method.head_init", f"\"probe\" under mechanism = {p.mechanism!r} would start from a probe fitted "
            "without noise (only mechanism = \"example\" fits it with DP-SGD); set method.head_init = \"random\"")
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
    for key in ("methods", "fraction_methods", "paradigms"):  # each value's name: declared (Literal)
        values = getattr(c, key)
        if len(set(values)) != len(values):
            bad(f"compare.{key}", "a value is listed twice")
    if len(set(c.seeds)) != len(c.seeds):
        bad("compare.seeds", "list distinct seeds, e.g. [0, 1, 2]")
    if len(set(c.fraction_seeds)) != len(c.fraction_seeds):
        bad("compare.fraction_seeds", "a seed is listed twice")
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
