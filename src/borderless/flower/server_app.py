"""The ServerApp: borderless's own round loop (``federate``) and aggregation rules, with Flower's
Grid carrying the messages. The server holds no client data: it knows each node's language and
example count, sends states, and receives states, counts and scalar metrics.

Run config keys (``borderless deploy run`` sets them): ``borderless-config`` (the whole resolved
config, TOML), ``output`` (the results folder on the server machine), ``keep-messages`` (tests:
save every reply's arrays as the server received them).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from logging import INFO
from pathlib import Path

from flwr.app import Context, Message, MessageType, RecordDict
from flwr.common.logger import log
from flwr.serverapp import Grid, ServerApp

from borderless.config import Config
from borderless.federated.simulation import ClientUpdate, FitRequest, federate
from borderless.flower import records
from borderless.flower.node import check_deployable, config_from_run_config
from borderless.flower.wire import RecordingGrid, WireLog
from borderless.paradigms import dev_eval_due
from borderless.tuning.state import State

app = ServerApp()


class DeploymentError(RuntimeError):
    """The federation cannot go on: names the language or node and what to do."""


@app.main()
def main(grid: Grid, context: Context) -> None:
    cfg = config_from_run_config(dict(context.run_config))
    output = Path(str(context.run_config["output"]))
    serve(grid, cfg, output, keep_messages=bool(context.run_config.get("keep-messages", False)))


def wait_for_languages(grid, cfg: Config, say: Callable[[str], None]) -> dict[str, tuple[int, dict]]:
    """{language: (node id, node info)} once a node for every configured language is connected."""
    deadline = time.monotonic() + cfg.deploy.wait_for_nodes_s
    known: dict[int, dict] = {}
    while True:
        node_ids = [n for n in grid.get_node_ids() if n not in known]
        if node_ids:
            msgs = [Message(RecordDict(), dst_node_id=n, message_type=MessageType.QUERY) for n in node_ids]
            for reply in grid.send_and_receive(msgs, timeout=max(30.0, cfg.deploy.wait_for_nodes_s)):
                if reply.has_error():
                    raise DeploymentError(f"node {reply.metadata.src_node_id} could not start its client: "
                                          f"{reply.error.reason} (see that node's log)")
                known[reply.metadata.src_node_id] = dict(reply.content.config_records["node"])
        by_lang: dict[str, list[int]] = {}
        for nid, info in known.items():
            by_lang.setdefault(str(info["language"]), []).append(nid)
        twice = {l: n for l, n in by_lang.items() if len(n) > 1}
        if twice:
            raise DeploymentError(f"more than one node holds {', '.join(sorted(twice))}: stop the extra node(s) "
                                  f"{sorted(n for ns in twice.values() for n in ns)}")
        missing = [l for l in cfg.data.languages if l not in by_lang]
        if not missing:
            say(f"all {len(cfg.data.languages)} languages connected: "
                + ", ".join(f"{l} ({known[by_lang[l][0]]['num_examples']} examples)" for l in cfg.data.languages))
            return {l: (by_lang[l][0], known[by_lang[l][0]]) for l in cfg.data.languages}
        if time.monotonic() > deadline:
            raise DeploymentError(f"after {cfg.deploy.wait_for_nodes_s:.0f} s no node holds {', '.join(missing)}: "
                                  "start them with `borderless deploy node CONFIG --language CODE --data DIR`, "
                                  "or raise deploy.wait_for_nodes_s")
        time.sleep(1.0)


def _replies_by_node(replies, sent: dict[int, str]) -> dict[int, Message]:
    out = {}
    for r in replies:
        nid = r.metadata.src_node_id
        if r.has_error():
            raise DeploymentError(f"{sent.get(nid, nid)}: the node failed: {r.error.reason} (see its log)")
        out[nid] = r
    lost = [lang for nid, lang in sent.items() if nid not in out]
    if lost:
        raise DeploymentError(f"no reply from {', '.join(lost)} within deploy.round_timeout_s; is the node still up?")
    return out


def plain_fit_many(grid, nodes: dict[str, int], template: State, cfg: Config) -> Callable:
    """Each sampled client gets its start state; each reply is read back into a ClientUpdate."""

    def fit_many(rnd: int, requests: list[FitRequest]) -> list[ClientUpdate]:
        msgs, sent = [], {}
        for req in requests:
            nid = nodes[req.client_id]
            sent[nid] = req.client_id
            settings = records.round_settings(rnd, req.seed, req.batches_before)
            msgs.append(Message(records.train_instruction(req.state, settings),
                                dst_node_id=nid, message_type=MessageType.TRAIN, group_id=str(rnd)))
        by_node = _replies_by_node(grid.send_and_receive(msgs, timeout=cfg.deploy.round_timeout_s), sent)
        updates = []
        for req in requests:
            state, n, metrics = records.read_train_reply(by_node[nodes[req.client_id]].content, template, req.client_id)
            updates.append(ClientUpdate(req.client_id, state, n, metrics))
        return updates

    return fit_many


def evaluate_all(grid, nodes: dict[str, int], state_for: Callable[[str], State], split: str, cfg: Config) -> dict:
    msgs, sent = [], {}
    for lang, nid in nodes.items():
        sent[nid] = lang
        msgs.append(Message(records.evaluate_instruction(state_for(lang), split), dst_node_id=nid,
                            message_type=MessageType.EVALUATE))
    by_node = _replies_by_node(grid.send_and_receive(msgs, timeout=cfg.deploy.round_timeout_s), sent)
    return {lang: dict(by_node[nid].content.metric_records["metrics"]) for lang, nid in nodes.items()}


def serve(grid, cfg: Config, output: Path, keep_messages: bool = False,
          say: Callable[[str], None] = lambda m: log(INFO, m)) -> dict:
    """Run the whole federation over ``grid`` and write the results folder. Returns results.json's dict."""
    check_deployable(cfg)
    output.mkdir(parents=True, exist_ok=True)
    (output / "metrics.jsonl").write_text("")
    wire = WireLog(output / "wire.jsonl", output / "messages" if keep_messages else None)
    grid = RecordingGrid(grid, wire)
    t_start = time.perf_counter()
    try:
        return _serve(grid, wire, cfg, output, say, t_start)
    finally:
        wire.write()  # what crossed the wire, also when the run failed


def _serve(grid, wire: WireLog, cfg: Config, output: Path, say, t_start: float) -> dict:
    from borderless.flower.results import initial_state, write_results
    from borderless.runner import language_distances

    found = wait_for_languages(grid, cfg, say)
    nodes = {lang: nid for lang, (nid, _) in found.items()}
    wire.name_nodes({nid: lang for lang, nid in nodes.items()})
    labels = found[cfg.data.languages[0]][1]["labels"]
    for lang, (_, info) in found.items():
        if list(info["labels"]) != list(labels):
            raise DeploymentError(f"{lang}: its labels {info['labels']} differ from {cfg.data.languages[0]}'s {labels}")
    init, backbone_params = initial_state(cfg, len(labels))
    distances = language_distances(cfg, list(cfg.data.languages))
    if cfg.privacy.secagg:
        from borderless.flower.secagg import secagg_fit_many

        fit_many = secagg_fit_many(grid, nodes, init, cfg, max(int(i['num_examples']) for _, i in found.values()))
    else:
        fit_many = plain_fit_many(grid, nodes, init, cfg)

    metrics_fh = (output / "metrics.jsonl").open("a", encoding="utf-8")

    def sink(row: dict) -> None:
        metrics_fh.write(json.dumps(row) + "\n")
        metrics_fh.flush()

    result, round_s = None, []
    try:
        t_round = time.perf_counter()
        rounds = federate(list(cfg.data.languages), fit_many, init, cfg.train, cfg.federated, cfg.run.seed, distances)
        while True:
            wire.round = (result.round + 1) if result else 1
            try:
                result = next(rounds)
            except StopIteration:
                break
            round_s.append(time.perf_counter() - t_round)
            for u in result.updates:
                sink({"paradigm": "federated", "runtime": "flower", "round": result.round, "client": u.client_id,
                      "num_examples": u.num_examples, **u.metrics})
            say(f"round {result.round}/{cfg.federated.rounds}: {round_s[-1]:.1f} s, "
                f"{sum(r['bytes'] for r in wire.rows if r['round'] == result.round)} bytes on the wire")
            if dev_eval_due(cfg, result.round):
                for lang, m in evaluate_all(grid, nodes, _state_for(result), "dev", cfg).items():
                    sink({"paradigm": "federated", "runtime": "flower", "round": result.round, "lang": lang,
                          "split": "dev", **m})
            t_round = time.perf_counter()
        wire.round = cfg.federated.rounds + 1  # the final evaluation
        test = evaluate_all(grid, nodes, _state_for(result), "test", cfg)
        for lang, m in test.items():
            sink({"paradigm": "federated", "runtime": "flower", "round": cfg.federated.rounds, "lang": lang,
                  "split": "test", **m})
    finally:
        metrics_fh.close()
    summary = write_results(output, cfg, result, test, found, wire, round_s, time.perf_counter() - t_start,
                            init, backbone_params, list(labels))
    say(f"done: mean test accuracy {summary['mean_accuracy']:.3f}; results in {output}")
    return summary


def _state_for(result) -> Callable[[str], State]:
    if result.personal is None:
        return lambda lang: result.state
    return lambda lang: result.personal.get(lang, result.state)

