"""The federated probe over Flower, exactly as `borderless run` fits it (borderless.probe.federated_probe):
FedAvg rounds of the head alone, each node running a few L-BFGS iterations from the global head on
its own cached features, the weight decay chosen on the nodes' dev scores (the run's metric) of each
candidate's global head. Every candidate (one per ``probe.weight_decays``) travels in the same message, so a round
is one exchange whatever the number of candidates. Only heads go down and up; the replies hold heads,
example counts and scores (the run's metric on dev; every test metric). Every message is measured in ``wire.jsonl`` (round 0).

The frozen and the start features are fitted side by side, in the same messages.

- ``frozen``: the backbone's own features, the floor every tuned paradigm stands beside
  (its test scores are each node's);
- ``start``: the untrained soft prompt's features (train and dev), the LP-FT head a
  prompt method starts from (``method.head_init = "probe"``).

The personalised probe (the floor of federated + personal) runs on each node from the chosen head.
"""

from __future__ import annotations

import statistics

import torch
from flwr.app import Message

from borderless.config import Config
from borderless.flower import records
from borderless.probe import PERSONAL_ITERS, Probe, fedavg_heads, head_state, sampled_rounds

TRAIN, EVALUATE, PERSONAL = "train.probe", "evaluate.probe", "evaluate.personal_probe"


def _exchange(nodes, langs: list[str], content, kind: str, what: str, group: str, cfg: Config) -> dict[str, Message]:
    msgs, sent = [], {}
    for lang in langs:
        nid = nodes.by_lang[lang]
        sent[nid] = lang
        msgs.append(Message(content, dst_node_id=nid, message_type=kind, group_id=group,
                            ttl=cfg.deploy.round_timeout_s))
    # every node must answer, or with federated.min_clients at least that many (the others are absent, named)
    by_node = nodes.exchange(msgs, sent, what, cfg.federated.min_clients or None)
    return {sent[nid]: reply for nid, reply in by_node.items()}


def fit(nodes, cfg: Config, kinds: list[str], num_labels: int, hidden: int,
        num_examples: dict[str, int], metric: str = "accuracy") -> dict[str, Probe]:
    """The federated probe on the nodes' features of each of ``kinds`` (frozen, start), fitted side by
    side: one exchange per round carries every kind × weight-decay candidate. Returns kind → Probe,
    whose dev scores (the run's ``metric``) and, on frozen features, test metrics are the nodes'."""
    p = cfg.probe
    langs = list(cfg.data.languages)
    wds = [float(w) for w in p.weight_decays]
    n = len(kinds) * len(wds)  # candidate i: kind kinds[i // len(wds)], weight decay wds[i % len(wds)]
    with_data = [l for l in langs if num_examples[l] > 0]
    schedule = sampled_rounds(with_data, p.federated_rounds, cfg.federated.clients_per_round, cfg.run.seed)
    heads = [head_state(torch.zeros(num_labels, hidden), torch.zeros(num_labels)) for _ in range(n)]
    what = " and ".join(kinds)
    for rnd, chosen in enumerate(schedule, 1):
        content = records.probe_instruction(heads, {"features": list(kinds), "weight_decays": wds,
                                                    "iters": int(p.federated_local_iters)})
        replies = _exchange(nodes, chosen, content, TRAIN, f"{what} probe round {rnd}", f"probe-{rnd}", cfg)
        answered = [l for l in chosen if l in replies]
        fitted = {l: records.read_probe_reply(replies[l].content, n, num_labels, l) for l in answered}
        heads = [fedavg_heads([(fitted[l][0][i], fitted[l][1]) for l in answered]) for i in range(n)]
    content = records.probe_instruction(heads, {"features": list(kinds), "weight_decays": wds})
    scores = {l: records.read_metrics(r.content)
              for l, r in _exchange(nodes, langs, content, EVALUATE, f"{what} probe evaluation", "probe-eval", cfg).items()}
    present = [l for l in langs if l in scores]  # with min_clients: the nodes that answered
    out = {}
    for k, kind in enumerate(kinds):
        # borderless.probe._best: the highest mean dev score over languages; ties to the stronger decay
        cands = [(statistics.fmean(scores[l][f"{k * len(wds) + j}.dev"] for l in present), wd, k * len(wds) + j)
                 for j, wd in enumerate(wds)]
        _, wd, best = max(cands, key=lambda c: (c[0], c[1]))
        test = {l: _prefixed(scores[l], f"{best}.test.") for l in present}
        test = {l: m for l, m in test.items() if m}  # start features have no test split
        out[kind] = Probe("federated", {l: heads[best] for l in langs}, {"all": wd},
                          {l: scores[l][f"{best}.dev"] for l in present},
                          {l: m["accuracy"] for l, m in test.items()}, rounds=p.federated_rounds * len(wds),
                          test_metrics=test, metric=metric)
    return out


def personalised(nodes, cfg: Config, federated: Probe) -> Probe:
    """Federated + personal for the head alone, on each node (borderless.probe.personalised_probe)."""
    langs = list(cfg.data.languages)
    head = federated.heads[langs[0]]
    content = records.probe_instruction([head], {"features": ["frozen"], "weight_decays": [federated.weight_decay["all"]],
                                                 "iters": list(PERSONAL_ITERS)})
    scores = {l: records.read_metrics(r.content)
              for l, r in _exchange(nodes, langs, content, PERSONAL, "personalised probe", "probe-personal", cfg).items()}
    wd = federated.weight_decay["all"]
    test = {l: _prefixed(scores[l], "test.") for l in scores}
    return Probe("federated_personal", {}, {l: wd for l in scores}, {l: scores[l]["dev"] for l in scores},
                 {l: m["accuracy"] for l, m in test.items()}, rounds=federated.rounds, test_metrics=test,
                 metric=federated.metric)


def _prefixed(metrics: dict[str, float], prefix: str) -> dict[str, float]:
    return {k[len(prefix):]: v for k, v in metrics.items() if k.startswith(prefix)}


def summary(probe: Probe, langs: list[str]) -> dict:
    """Probe.summary over the languages whose nodes answered (all of them unless federated.min_clients)."""
    present = [l for l in langs if l in probe.test_accuracy]
    out = probe.summary(present)
    out["absent"] = [l for l in langs if l not in present]
    return out


def measured_bytes(wire, langs: list[str]) -> int:
    """What one node sent and received for the probes, on average (every probe message of round 0)."""
    kinds = (TRAIN, EVALUATE, PERSONAL)
    per = {l: sum(r["bytes"] for r in wire.rows if r["type"] in kinds and r["language"] == l) for l in langs}
    return round(sum(per.values()) / max(len(per), 1))


def to_record(probe: Probe) -> dict:
    return {"paradigm": probe.paradigm, "heads": probe.heads, "weight_decay": probe.weight_decay,
            "dev_score": probe.dev_score, "test_accuracy": probe.test_accuracy,
            "bytes_per_client": probe.bytes_per_client, "rounds": probe.rounds,
            "test_metrics": probe.test_metrics, "metric": probe.metric}


def from_record(d: dict) -> Probe:
    return Probe(d["paradigm"], d["heads"], d["weight_decay"], d["dev_score"], d["test_accuracy"],
                 d["bytes_per_client"], d["rounds"], d.get("test_metrics", {}), d.get("metric", "accuracy"))
