"""One SuperNode's side of a federation: its language's data (read from its own folder) and the
model the run's config describes. Built once per process; the data never leaves it.

Node config keys (``borderless deploy node`` writes them; ``flower-supernode --node-config``):
``language`` (a SIB-200 code listed in the run's ``data.languages``), ``data-path`` (the folder
holding that language), optionally ``cache-dir`` (where the converted backbone lives) and
``warm-worker`` (the node's warm worker, borderless.flower.warm; set by ``borderless deploy node``) and
``states-dir`` (where the node keeps what never leaves it: its personal state under federated + personal)
and ``threads`` (torch threads when ``deploy.node_threads`` is 0; `deploy local` shares the cores out).

At setup the node also computes its probe features, as `borderless run` does before any method touches
the backbone: the frozen features of its train, dev and test splits (the floor probe), and for a soft
prompt, prompt encoder or prefix the untrained model's features of train and dev (the LP-FT head).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from borderless.backbones.resolve import load_configured
from borderless.config import Config, token_task
from borderless.data.folder import load_folder
from borderless.data.presets import dataset_format
from borderless.features import start_features
from borderless.federated.simulation import Client
from borderless.privacy.plan import client_privacy, make_stream
from borderless.flower.run_config import RUN_CONFIG_KEY, NodeConfigError, config_from_run_config  # noqa: F401 (re-exported)
from borderless.paradigms import stream_seed
from borderless.probe import ProbeData
from borderless.train import BatchStream, TokenizedSet
from borderless.tuning.factory import build_for
from borderless.tuning.state import State, trainable_state


def check_deployable(cfg: Config) -> None:
    """A deployment has one node per language, each holding only its own language's data."""
    if cfg.data.partition != "language":
        raise NodeConfigError(f"data.partition = {cfg.data.partition!r}: a deployment has one node per language "
                              "(its own data), so use data.partition = \"language\"")
    if cfg.data.zero_shot:
        raise NodeConfigError("data.zero_shot: zero-shot languages have no node in a deployment; "
                              "evaluate them with `borderless run`")
    if cfg.method.probe_init and cfg.privacy.mechanism == "example":
        raise NodeConfigError("method.head_init = \"probe\" with privacy.mechanism = \"example\": the DP-SGD probe "
                              "(LP-FT under DP) does not run over Flower yet; set method.head_init = \"random\" in the "
                              "deployment config, or use `borderless run` for it")
    if not {"federated", "federated_personal"} & set(cfg.run.paradigms):
        raise NodeConfigError(f"run.paradigms = {list(cfg.run.paradigms)}: a deployment runs federated and "
                              "federated_personal (monolingual and centralized have no deployment form); "
                              "list at least one of them, or use `borderless run`")
    if cfg.method.name == "head":
        raise NodeConfigError("method.name = \"head\": a head-only run is the federated probe itself; "
                              "use `borderless run`, or a prompt/adapter method in the deployment")
    if cfg.federated.attack != "none":
        raise NodeConfigError(f"federated.attack = {cfg.federated.attack!r}: simulated hostile clients are for "
                              "`borderless run` studies; a deployment's nodes are real. Set federated.attack = \"none\"")
    if cfg.federated.local_head:
        raise NodeConfigError("federated.local_head: a node does not keep its head between rounds yet; use "
                              "`borderless run` for it, or local_head = false in the deployment config")
    if cfg.run.keep_updates:
        raise NodeConfigError("run.keep_updates: a deployment's server does not keep its clients' updates; it is for "
                              "`borderless run` and `borderless audit --server-view`. Set run.keep_updates = false")
    if cfg.privacy.secagg and cfg.federated.min_clients:
        raise NodeConfigError("federated.min_clients with privacy.secagg: SecAgg+ handles dropouts with its own "
                              "threshold (privacy.secagg_threshold); set federated.min_clients = 0")


@dataclass
class NodeSetup:
    language: str
    cfg: Config
    client: Client  # the language's private training data as a batch stream
    dev: TokenizedSet
    test: TokenizedSet
    labels: tuple[str, ...]
    model: torch.nn.Module
    head_names: set[str]
    template: State  # the trainable state's names, shapes and dtypes
    baseline: dict[str, float]  # every test metric of the majority class (token task: most frequent tag per word)
    probe_data: dict[str, ProbeData] = dataclasses.field(default_factory=dict)  # "frozen" / "start" → features
    states_dir: Path | None = None  # where this node keeps its personal states (never sent)

    def features(self, kind: str) -> ProbeData:
        if kind not in self.probe_data:
            raise NodeConfigError(f"no {kind!r} probe features on this node (the run's method has none); "
                                  "node and server must run the same config")
        return self.probe_data[kind]

    def fresh_stream(self, batches_before: int) -> BatchStream:
        """The client's stream as it stands after ``batches_before`` batches of this run."""
        s = self.client.stream
        stream = type(s)(s.data, s.batch_size, s.seed)  # BatchStream, or PoissonStream under DP-SGD
        stream.skip(batches_before)
        return stream


def simulation_node_config(cfg: Config, node_config: dict[str, Any]) -> dict[str, Any]:
    """Under Flower's simulation engine the virtual SuperNodes are numbered (``partition-id``):
    node k holds the k-th configured language, read from the config's data path."""
    from borderless.config import resolve_data_path

    k, n = int(node_config["partition-id"]), int(node_config.get("num-partitions", len(cfg.data.languages)))
    if n != len(cfg.data.languages):
        raise NodeConfigError(f"the simulation has {n} SuperNodes but data.languages lists {len(cfg.data.languages)}: "
                              "run it with one SuperNode per language")
    return {"language": cfg.data.languages[k], "data-path": str(resolve_data_path(cfg.data))}


def node_setup(cfg: Config, node_config: dict[str, Any]) -> NodeSetup:
    # the very same examples, features and baseline as `borderless run`
    from borderless.runner import build_workload, majority_baselines, probe_data

    check_deployable(cfg)
    if "language" not in node_config and "partition-id" in node_config:  # Flower's simulation engine
        node_config = simulation_node_config(cfg, node_config)
    language = str(node_config.get("language", ""))
    if not language:
        raise NodeConfigError("node config has no 'language': start the node with "
                              "`borderless deploy node CONFIG --language hau_Latn --data DIR`")
    if language not in cfg.data.languages:
        raise NodeConfigError(f"node language {language!r} is not in the run's data.languages "
                              f"({', '.join(cfg.data.languages)}); add it there or start the node with one of them")
    data_path = Path(str(node_config.get("data-path", "")))
    if not str(node_config.get("data-path", "")):
        raise NodeConfigError("node config has no 'data-path': give the folder holding this language's data (--data)")
    threads = cfg.deploy.node_threads or int(node_config.get("threads", 0))  # deploy local: the cores shared out
    if threads:
        torch.set_num_threads(threads)
    data = load_folder(data_path, [language], dataset_format(cfg.data), label_space=cfg.data.label_space)
    cache = node_config.get("cache-dir") or None
    backbone = load_configured(cfg.backbone, Path(str(cache)) if cache else None)
    max_length = min(cfg.backbone.max_length,
                     backbone.model.config.max_position_embeddings - cfg.method.num_virtual_tokens)
    single = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, languages=(language,)),
                                 federated=dataclasses.replace(cfg.federated, aggregator="fedavg"))
    work, labels = build_workload(single, backbone, max_length, data)
    probe_cfg = cfg if not cache else dataclasses.replace(cfg, backbone=dataclasses.replace(cfg.backbone, cache_dir=str(cache)))
    frozen, _ = probe_data(probe_cfg, backbone, work, len(labels))  # before the method touches the backbone
    index = cfg.data.languages.index(language)  # the stream seed of this language's in-process client
    # a real node draws its DP noise from the OS (seed None): nobody who knows the config can predict it
    client = Client(language, make_stream(cfg, work.train[language], stream_seed(cfg.run.seed, index)),
                    client_privacy(cfg, "federated", len(work.train[language]), len(cfg.data.languages), None))
    model = build_for(backbone, labels, cfg.method, cfg.run.seed, token_task(cfg.data))
    features = {"frozen": frozen}
    if cfg.method.probe_init and model.changes_features_at_start():  # the untrained prompt's features (LP-FT)
        bs = cfg.probe.feature_batch_size
        x = {(language, split): start_features(model, sets[language], bs)
             for split, sets in (("train", work.train), ("dev", work.dev))}
        features["start"] = dataclasses.replace(frozen, evaluated=[language], x=x, nearest={},
                                                y={k: v for k, v in frozen.y.items() if k in x})
    states = node_config.get("states-dir")
    return NodeSetup(language, cfg, client, work.dev[language], work.test[language], tuple(labels), model,
                     model.head_parameter_names(), trainable_state(model), majority_baselines(work, data)[language],
                     features,
                     Path(str(states)) if states else None)
