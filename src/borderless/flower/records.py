"""What crosses the wire, as Flower records: trainable state, example counts, scalar metrics.

Train messages use Flower's ``fitins``/``fitres`` record layout, so Flower's own client mods
(local differential privacy, SecAgg+) work on them unchanged. A state travels as its tensors in
sorted-name order; both sides build the same model, and the receiver checks every shape and dtype.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from flwr.app import ArrayRecord, ConfigRecord, MetricRecord, RecordDict
from flwr.common import Code, bytes_to_ndarray, FitIns, FitRes, Parameters, Status, ndarrays_to_parameters, parameters_to_ndarrays
from flwr.common.serde import recorddict_to_proto
from flwr.compat.common import recorddict_compat as compat

from borderless.tuning.state import State

Scalars = Mapping[str, int | float | str | bool]


class WireFormatError(ValueError):
    """A message that does not hold what this model expects, naming the sender and the tensor."""


def state_to_parameters(state: State) -> Parameters:
    return ndarrays_to_parameters([state[k].detach().cpu().numpy() for k in sorted(state)])


def parameters_to_state(parameters: Parameters, template: State, sender: str) -> State:
    """Tensors back under their names, each checked against the receiver's own model."""
    arrays = parameters_to_ndarrays(parameters)
    names = sorted(template)
    if len(arrays) != len(names):
        raise WireFormatError(f"{sender}: sent {len(arrays)} tensors, this model trains {len(names)}; "
                              "both sides must run the same borderless config (method, backbone)")
    out: State = {}
    for name, arr in zip(names, arrays):
        ref = template[name]
        tensor = torch.from_numpy(np.array(arr, copy=True))
        if tuple(tensor.shape) != tuple(ref.shape) or tensor.dtype != ref.dtype:
            raise WireFormatError(f"{sender}: {name} is {tuple(tensor.shape)} {tensor.dtype}, "
                                  f"this model has {tuple(ref.shape)} {ref.dtype}")
        out[name] = tensor
    return out


def round_settings(rnd: int, seed: int, batches_before: int) -> dict:
    """The settings a train instruction carries besides the state (and nothing else)."""
    return {"round": rnd, "seed": seed, "batches_before": batches_before}


def train_instruction(state: State, config: Scalars) -> RecordDict:
    """Server → client: the state to start from and the round's settings (no data, no ids)."""
    return compat.fitins_to_recorddict(FitIns(state_to_parameters(state), dict(config)), keep_input=True)


def read_train_instruction(content: RecordDict, template: State, sender: str = "server") -> tuple[State, dict]:
    ins = compat.recorddict_to_fitins(content, keep_input=True)
    return parameters_to_state(ins.parameters, template, sender), dict(ins.config)


def train_reply(state: State, num_examples: int, metrics: Scalars) -> RecordDict:
    """Client → server: trained state, example count, scalar metrics."""
    res = FitRes(Status(Code.OK, ""), state_to_parameters(state), int(num_examples),
                 {k: float(v) for k, v in metrics.items()})
    return compat.fitres_to_recorddict(res, keep_input=True)


def read_train_reply(content: RecordDict, template: State | None, sender: str) -> tuple[State | None, int, dict]:
    """(state, count, metrics); state is None when ``template`` is None (SecAgg+: masked, unreadable)."""
    res = compat.recorddict_to_fitres(content, keep_input=True)
    state = parameters_to_state(res.parameters, template, sender) if template is not None else None
    return state, int(res.num_examples), dict(res.metrics)


def evaluate_instruction(state: State, split: str) -> RecordDict:
    return RecordDict({"evaluateins.parameters": compat.parameters_to_arrayrecord(state_to_parameters(state), True),
                       "evaluateins.config": ConfigRecord({"split": split})})


def read_evaluate_instruction(content: RecordDict, template: State) -> tuple[State, str]:
    params = compat.arrayrecord_to_parameters(content.array_records["evaluateins.parameters"], keep_input=True)
    return parameters_to_state(params, template, "server"), str(content.config_records["evaluateins.config"]["split"])


def evaluate_reply(metrics: Scalars) -> RecordDict:
    return RecordDict({"metrics": MetricRecord({k: float(v) for k, v in metrics.items()})})


def payload_bytes(content: RecordDict) -> int:
    """Size of a message's content as Flower serialises it (protobuf): what one message carries,
    before TLS and HTTP framing."""
    return recorddict_to_proto(content).ByteSize()


def _array_info(a) -> dict:
    if not a.dtype and a.data:  # Flower's legacy layout: a serialised NumPy array
        arr = bytes_to_ndarray(a.data)
        return {"shape": list(arr.shape), "dtype": str(arr.dtype), "bytes": len(a.data)}
    return {"shape": list(a.shape), "dtype": a.dtype, "bytes": len(a.data)}


def inventory(content: RecordDict) -> dict[str, dict]:
    """Everything a message carries, record by record: array names with dtype and shape; metric
    and config keys with their value types. For inspecting real traffic (tests, ``--inspect``)."""
    out: dict[str, dict] = {}
    for name, rec in content.array_records.items():
        out[name] = {"kind": "arrays", "items": {k: _array_info(a) for k, a in rec.items()}}
    for name, rec in content.metric_records.items():
        out[name] = {"kind": "metrics", "items": {k: type(v).__name__ for k, v in rec.items()}}
    for name, rec in content.config_records.items():
        out[name] = {"kind": "config", "items": {k: type(v).__name__ for k, v in rec.items()}}
    return out


# --- the federated probe (head only, on each node's cached features) and personal adaptation ---

def _heads_record(heads: list[State]) -> ArrayRecord:
    """Candidate heads (one per weight decay) as ``<i>.head.weight`` / ``<i>.head.bias``, float32."""
    from flwr.app import Array

    return ArrayRecord({f"{i}.{k}": Array(h[k].detach().float().contiguous().numpy())
                        for i, h in enumerate(heads) for k in sorted(h)})


def _read_heads(rec, count: int, num_labels: int, sender: str) -> list[State]:
    heads = []
    for i in range(count):
        head = {}
        for k in ("head.bias", "head.weight"):
            name = f"{i}.{k}"
            if name not in rec:
                raise WireFormatError(f"{sender}: probe message lacks {name}")
            t = torch.from_numpy(np.array(rec[name].numpy(), copy=True))
            if t.dtype != torch.float32 or t.shape[0] != num_labels:
                raise WireFormatError(f"{sender}: {name} is {tuple(t.shape)} {t.dtype}; expected float32 with "
                                      f"{num_labels} rows (one per label)")
            head[k] = t
        heads.append(head)
    return heads


def probe_instruction(heads: list[State], settings: Scalars) -> RecordDict:
    """Server → node: the global head of each candidate and the probe's settings: ``features`` (the
    feature kinds, frozen and/or start) × ``weight_decays`` candidates, in that order; ``iters``."""
    return RecordDict({"probe.heads": _heads_record(heads), "probe.config": ConfigRecord(dict(settings))})


def read_probe_instruction(content: RecordDict, num_labels: int) -> tuple[list[State], dict]:
    settings = dict(content.config_records["probe.config"])
    count = len(settings["weight_decays"]) * len(settings["features"])
    return _read_heads(content.array_records["probe.heads"], count, num_labels, "server"), settings


def probe_reply(heads: list[State], num_examples: int) -> RecordDict:
    return RecordDict({"probe.heads": _heads_record(heads),
                       "probe.metrics": MetricRecord({"num_examples": int(num_examples)})})


def read_probe_reply(content: RecordDict, count: int, num_labels: int, sender: str) -> tuple[list[State], int]:
    return (_read_heads(content.array_records["probe.heads"], count, num_labels, sender),
            int(content.metric_records["probe.metrics"]["num_examples"]))


def metrics_reply(metrics: Scalars) -> RecordDict:
    return RecordDict({"metrics": MetricRecord({k: float(v) for k, v in metrics.items()})})


def read_metrics(content: RecordDict) -> dict[str, float]:
    return dict(content.metric_records["metrics"])
