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
from logging import ERROR, INFO
from pathlib import Path

from flwr.app import Context, Message, MessageType, RecordDict
from flwr.common.logger import log
from flwr.serverapp import Grid, ServerApp

from borderless.checkpoint import NAME as CHECKPOINT
from borderless.privacy.plan import server_privacy
from borderless.checkpoint import CheckpointError
from borderless.config import Config
from borderless.federated.simulation import ClientUpdate, FitRequest, federate
from borderless.flower import records
from borderless.flower.node import check_deployable, config_from_run_config
from borderless.flower.wire import RecordingGrid, WireLog
from borderless.paradigms import dev_eval_due, round_record
from borderless.tuning.state import State

app = ServerApp()
STOPPED = "stopped.txt"  # in the results folder: why the federation stopped (a DeploymentError)


class DeploymentError(RuntimeError):
    """The federation cannot go on: names the language or node and what to do."""


@app.main()
def main(grid: Grid, context: Context) -> None:
    cfg = config_from_run_config(dict(context.run_config))
    output = Path(str(context.run_config["output"]))
    try:
        serve(grid, cfg, output, keep_messages=bool(context.run_config.get("keep-messages", False)),
              resume=bool(context.run_config.get("resume", False)))
    except (DeploymentError, CheckpointError) as err:  # one line, left for `borderless deploy run` to report
        again = (f" Once the nodes are back: `borderless deploy run CONFIG --resume {output}` continues after the "
                 "last finished round." if (output / CHECKPOINT).exists() and isinstance(err, DeploymentError) else "")
        log(ERROR, f"the federation stopped: {err}{again}")
        (output / STOPPED).write_text(f"{err}{again}\n", encoding="utf-8")
        raise


def query_nodes(grid, node_ids: list[int], timeout: float, strict: bool = True,
                say: Callable[[str], None] = lambda m: None) -> dict[int, dict]:
    """{node id: node info (language, example count, labels)} of the nodes that answered. A node whose
    client cannot start stops the run (``strict``) or is skipped with a message (a node rejoining)."""
    msgs = [Message(RecordDict(), dst_node_id=n, message_type=MessageType.QUERY) for n in node_ids]
    known = {}
    for reply in grid.send_and_receive(msgs, timeout=timeout):
        if reply.has_error() and not strict:
            say(f"node {reply.metadata.src_node_id} could not start its client: {reply.error.reason}; ignored")
            continue
        if reply.has_error():
            raise DeploymentError(f"node {reply.metadata.src_node_id} could not start its client: "
                                  f"{reply.error.reason} (see that node's log)")
        known[reply.metadata.src_node_id] = dict(reply.content.config_records["node"])
    return known


def wait_for_languages(grid, cfg: Config, say: Callable[[str], None]) -> dict[str, tuple[int, dict]]:
    """{language: (node id, node info)} once a node for every configured language is connected."""
    deadline = time.monotonic() + cfg.deploy.wait_for_nodes_s
    known: dict[int, dict] = {}
    while True:
        node_ids = [n for n in grid.get_node_ids() if n not in known]
        if node_ids:
            known.update(query_nodes(grid, node_ids, max(30.0, cfg.deploy.wait_for_nodes_s)))
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


class Nodes:
    """Which node holds which language, as nodes fail and come back. With ``federated.min_clients``
    a round (or an evaluation) goes on with the replies that arrived; the languages that did not
    answer are absent (with why), and before each round a node that restarted (a new node id, the
    same language) is found, queried and takes the language's place again."""

    def __init__(self, grid, cfg: Config, found: dict[str, tuple[int, dict]], say: Callable[[str], None],
                 name_node: Callable[[dict[int, str]], None] = lambda names: None):
        self.grid, self.cfg, self.say, self.name_node = grid, cfg, say, name_node
        self.by_lang = {lang: nid for lang, (nid, _) in found.items()}
        self.labels = list(found[cfg.data.languages[0]][1]["labels"])
        self.seen = set(self.by_lang.values())
        self.absent: dict[str, str] = {}  # language → why it did not answer the last message it was sent
        self.log: list[dict] = []  # per round: who took part, who was absent and why

    def rejoin(self) -> None:
        """Query nodes the SuperLink lists that are new since the start: a restarted node takes its
        language back (and resumes its batch stream: the server sends its position every round)."""
        if not self.absent:
            return
        new = [n for n in self.grid.get_node_ids() if n not in self.seen]
        if not new:
            return
        for nid, info in query_nodes(self.grid, new, min(60.0, self.cfg.deploy.round_timeout_s), strict=False,
                                     say=self.say).items():
            self.seen.add(nid)
            lang = str(info["language"])
            if lang in self.by_lang and list(info["labels"]) == self.labels:
                self.say(f"{lang} is back (node {nid}, was {self.by_lang[lang]})")
                self.by_lang[lang] = nid
                self.name_node({nid: lang})
                self.absent.pop(lang, None)

    def exchange(self, msgs: list[Message], sent: dict[int, str], what: str, needed: int | None = None) -> dict[int, Message]:
        """Send, and return the replies by node. Fewer than ``needed`` answers (default: all) stops
        the run, naming the silent languages; otherwise the missing ones are recorded as absent."""
        replies = self.grid.send_and_receive(msgs, timeout=self.cfg.deploy.round_timeout_s)
        out, why = {}, {}
        for r in replies:
            nid = r.metadata.src_node_id
            if r.has_error():
                why[sent.get(nid, str(nid))] = f"the node failed: {r.error.reason}"
            else:
                out[nid] = r
        for nid, lang in sent.items():
            if nid not in out and lang not in why:
                why[lang] = f"no reply within deploy.round_timeout_s ({self.cfg.deploy.round_timeout_s:g} s)"
        need = len(sent) if needed is None else needed
        if len(out) < need:
            detail = "; ".join(f"{lang}: {w}" for lang, w in why.items())
            hint = ("" if self.cfg.federated.min_clients else
                    " Set federated.min_clients to let rounds go on without a node.")
            raise DeploymentError(f"{what}: {len(out)} of {len(sent)} nodes answered, {need} needed ({detail}). "
                                  f"Is the node still up? See its log.{hint}")
        for nid in out:
            self.absent.pop(sent[nid], None)
        for lang, w in why.items():
            self.absent[lang] = w
            self.say(f"{what}: {lang} is absent ({w})")
        return out


def plain_fit_many(nodes: Nodes, template: State, cfg: Config) -> Callable:
    """Each sampled client gets its start state; each reply is read back into a ClientUpdate. With
    ``federated.min_clients`` the round goes on without the clients that did not answer."""

    def fit_many(rnd: int, requests: list[FitRequest]) -> list[ClientUpdate]:
        nodes.rejoin()
        msgs, sent = [], {}
        for req in requests:
            nid = nodes.by_lang[req.client_id]
            sent[nid] = req.client_id
            settings = records.round_settings(rnd, req.seed, req.batches_before)
            # ttl: a node that comes back after the round ended must not train on the stale request
            msgs.append(Message(records.train_instruction(req.state, settings), dst_node_id=nid,
                                message_type=MessageType.TRAIN, group_id=str(rnd), ttl=cfg.deploy.round_timeout_s))
        by_node = nodes.exchange(msgs, sent, f"round {rnd}", cfg.federated.min_clients or None)
        updates = []
        for req in requests:
            reply = by_node.get(nodes.by_lang[req.client_id])
            if reply is not None:
                state, n, metrics = records.read_train_reply(reply.content, template, req.client_id)
                updates.append(ClientUpdate(req.client_id, state, n, metrics))
        nodes.log.append({"round": rnd, "took_part": [u.client_id for u in updates],
                          "absent": {r.client_id: nodes.absent[r.client_id] for r in requests
                                     if r.client_id in nodes.absent}})
        return updates

    return fit_many


def evaluate_all(nodes: Nodes, state_for: Callable[[str], State], split: str, cfg: Config) -> dict:
    """Metrics of every language whose node answers (with ``federated.min_clients``: at least that many)."""
    nodes.rejoin()
    msgs, sent = [], {}
    for lang, nid in nodes.by_lang.items():
        sent[nid] = lang
        msgs.append(Message(records.evaluate_instruction(state_for(lang), split), dst_node_id=nid,
                            message_type=MessageType.EVALUATE, ttl=cfg.deploy.round_timeout_s))
    by_node = nodes.exchange(msgs, sent, f"{split} evaluation", cfg.federated.min_clients or None)
    return {lang: dict(by_node[nid].content.metric_records["metrics"]) for lang, nid in nodes.by_lang.items()
            if nid in by_node}


def serve(grid, cfg: Config, output: Path, keep_messages: bool = False,
          say: Callable[[str], None] = lambda m: log(INFO, m), resume: bool = False) -> dict:
    """Run the whole federation over ``grid`` and write the results folder. Returns results.json's dict.
    After every round the server saves a checkpoint (``checkpoint.pt``: the round's carry, i.e. global
    and server-optimizer state, each client's batch-stream position, the sampler's RNG); ``resume``
    continues a stopped run from it (`borderless deploy run --resume DIR`)."""
    from borderless.checkpoint import NAME, Checkpointer, load

    check_deployable(cfg)
    output.mkdir(parents=True, exist_ok=True)
    saved = load(output, cfg.to_dict()) if resume else None
    metrics = output / "metrics.jsonl"
    if saved is None:
        metrics.write_text("")
    else:
        with metrics.open("r+b") as fh:  # rows written after the checkpoint belong to a round that is redone
            fh.truncate(int(saved.get("metrics_bytes", 0)))
        (output / STOPPED).unlink(missing_ok=True)
    wire = WireLog(output / "wire.jsonl", output / "messages" if keep_messages else None)
    if saved is not None and (output / "wire.jsonl").exists():
        done = saved["current"]["record"]["carry"]["round"] if saved.get("current") else 0
        wire.rows = [r for r in (json.loads(x) for x in (output / "wire.jsonl").read_text().splitlines() if x.strip())
                     if r["round"] <= done]
    ckpt = Checkpointer(output, cfg.to_dict(), saved, metrics_position=lambda: metrics.stat().st_size)
    grid = RecordingGrid(grid, wire, cfg.deploy.poll_interval_s)
    t_start = time.perf_counter()
    try:
        summary = _serve(grid, wire, cfg, output, say, t_start, ckpt)
    finally:
        wire.write()  # what crossed the wire, also when the run failed
    (output / NAME).unlink(missing_ok=True)  # a finished run leaves no checkpoint
    return summary


def _serve(grid, wire: WireLog, cfg: Config, output: Path, say, t_start: float, ckpt) -> dict:
    from borderless.flower.results import initial_state, write_results
    from borderless.runner import language_distances

    found = wait_for_languages(grid, cfg, say)
    nodes = Nodes(grid, cfg, found, say, wire.name_nodes)
    wire.name_nodes({nid: lang for lang, nid in nodes.by_lang.items()})
    labels = found[cfg.data.languages[0]][1]["labels"]
    for lang, (_, info) in found.items():
        if list(info["labels"]) != list(labels):
            raise DeploymentError(f"{lang}: its labels {info['labels']} differ from {cfg.data.languages[0]}'s {labels}")
    init, backbone_params = initial_state(cfg, list(labels))
    distances = language_distances(cfg, list(cfg.data.languages))
    if cfg.privacy.secagg:
        from borderless.flower.secagg import secagg_fit_many

        fit_many = secagg_fit_many(grid, nodes.by_lang, init, cfg, max(int(i['num_examples']) for _, i in found.values()))
    else:
        fit_many = plain_fit_many(nodes, init, cfg)

    metrics_fh = (output / "metrics.jsonl").open("a", encoding="utf-8")

    def sink(row: dict) -> None:
        metrics_fh.write(json.dumps(row) + "\n")
        metrics_fh.flush()

    result, round_s, rejected = None, [], []
    saved = ckpt.resumed("federated")
    if saved is not None:
        round_s, rejected, nodes.log = list(saved["round_s"]), list(saved["rejected"]), list(saved["participation"])
        say(f"resuming after round {saved['carry']['round']} of {cfg.federated.rounds}")
    try:
        t_round = time.perf_counter()
        rounds = federate(list(cfg.data.languages), fit_many, init, cfg.train, cfg.federated, cfg.run.seed, distances,
                          {lang: int(info["num_examples"]) for lang, (_, info) in found.items()},
                          resume=saved["carry"] if saved else None,
                          privacy=server_privacy(cfg, len(cfg.data.languages), None))  # client-level DP: noise from the OS
        if saved is not None and saved["carry"]["round"] >= cfg.federated.rounds:
            from borderless.paradigms import round_from_record

            result = round_from_record(saved["result"])
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
            for r in result.rejected:
                rejected.append(r.as_dict())
                say(f"round {r.round}: refused the update of {r.client_id}: {r.reason}")
                sink({"paradigm": "federated", "runtime": "flower", "rejected": True, **r.as_dict()})
            for lang in result.absent:
                sink({"paradigm": "federated", "runtime": "flower", "round": result.round, "client": lang,
                      "absent": nodes.absent.get(lang, "no reply")})
            say(f"round {result.round}/{cfg.federated.rounds}: {round_s[-1]:.1f} s, "
                f"{len(result.updates)} of {len(result.updates) + len(result.absent)} sampled clients answered, "
                f"{sum(r['bytes'] for r in wire.rows if r['round'] == result.round)} bytes on the wire")
            if dev_eval_due(cfg, result.round):
                for lang, m in evaluate_all(nodes, _state_for(result), "dev", cfg).items():
                    sink({"paradigm": "federated", "runtime": "flower", "round": result.round, "lang": lang,
                          "split": "dev", **m})
            ckpt.save("federated", {"carry": result.carry, "result": round_record(result), "round_s": round_s,
                                    "rejected": rejected, "participation": nodes.log})
            t_round = time.perf_counter()
        wire.round = cfg.federated.rounds + 1  # the final evaluation
        test = evaluate_all(nodes, _state_for(result), "test", cfg)
        for lang, m in test.items():
            sink({"paradigm": "federated", "runtime": "flower", "round": cfg.federated.rounds, "lang": lang,
                  "split": "test", **m})
    finally:
        metrics_fh.close()
    summary = write_results(output, cfg, result, test, found, wire, round_s, time.perf_counter() - t_start,
                            init, backbone_params, list(labels), rejected, nodes.log)
    say(f"done: mean test accuracy {summary['mean_accuracy']:.3f}; results in {output}")
    return summary


def _state_for(result) -> Callable[[str], State]:
    if result.personal is None:
        return lambda lang: result.state
    return lambda lang: result.personal.get(lang, result.state)

