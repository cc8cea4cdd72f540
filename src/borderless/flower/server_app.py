"""The ServerApp: borderless's own round loop (``federate``) and aggregation rules, with Flower's
Grid carrying the messages. The server holds no client data: it knows each node's language and
example count, sends states, and receives states, counts and scalar metrics.

Run config keys (``borderless deploy run`` sets them): ``borderless-config`` (the whole resolved
config, TOML), ``output`` (the results folder on the server machine), ``keep-messages`` (tests:
save every reply's arrays as the server received them).
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
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
from borderless.paradigms import Start, dev_eval_due, drop_saved_updates, round_record, without_updates
from borderless.tuning.state import State

app = ServerApp()
STOPPED = "stopped.txt"  # in the results folder: why the federation stopped (a DeploymentError)


def metric_name(metric: str) -> str:
    from borderless.report import METRIC_NAMES

    return METRIC_NAMES.get(metric, metric)


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
        info = dict(reply.content.config_records["node"])
        if "majority" in reply.content.metric_records:  # the baseline's every test metric
            info["majority"] = dict(reply.content.metric_records["majority"])
        known[reply.metadata.src_node_id] = info
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
        wire.rows = [r for r in (json.loads(x) for x in (output / "wire.jsonl").read_text().splitlines() if x.strip())
                     if r["round"] <= _rounds_done(saved, cfg)]
    ckpt = Checkpointer(output, cfg.to_dict(), saved, metrics_position=lambda: metrics.stat().st_size)
    grid = RecordingGrid(grid, wire, cfg.deploy.poll_interval_s)
    t_start = time.perf_counter()
    try:
        summary = _serve(grid, wire, cfg, output, say, t_start, ckpt)
    finally:
        wire.write()  # what crossed the wire, also when the run failed
    (output / NAME).unlink(missing_ok=True)  # a finished run leaves no checkpoint
    return summary


def _rounds_done(saved: dict, cfg: Config) -> int:
    """The last wire round whose messages a resumed run keeps: the probes (round 0) once fitted, the
    rounds the checkpoint holds, the final evaluation once the federated paradigm finished."""
    cur, finished = saved.get("current"), saved.get("finished", {})
    if "federated_personal" in finished:
        return cfg.federated.rounds + 2
    if "federated" in finished:
        return cfg.federated.rounds + 1
    if cur and cur["paradigm"] == "federated":
        return cur["record"]["carry"]["round"]
    return 0 if "probes" in finished else -1


def _serve(grid, wire: WireLog, cfg: Config, output: Path, say, t_start: float, ckpt) -> dict:
    from borderless.flower.results import initial_state, write_results
    from borderless.runner import language_distances, run_metric

    found = wait_for_languages(grid, cfg, say)
    nodes = Nodes(grid, cfg, found, say, wire.name_nodes)
    wire.name_nodes({nid: lang for lang, nid in nodes.by_lang.items()})
    labels = found[cfg.data.languages[0]][1]["labels"]
    for lang, (_, info) in found.items():
        if list(info["labels"]) != list(labels):
            raise DeploymentError(f"{lang}: its labels {info['labels']} differ from {cfg.data.languages[0]}'s "
                                  f"{labels}; list the run's labels in data.label_space so every node shares them")
    metric = run_metric(cfg, list(labels))  # what dev selection and the probes compare (train.select_metric)
    initial = initial_state(cfg, list(labels))
    init = initial.state
    num_examples = {lang: int(info["num_examples"]) for lang, (_, info) in found.items()}
    distances = language_distances(cfg, list(cfg.data.languages))

    metrics_fh = (output / "metrics.jsonl").open("a", encoding="utf-8")

    def sink(row: dict) -> None:
        metrics_fh.write(json.dumps({"runtime": "flower", **row}) + "\n")
        metrics_fh.flush()

    try:
        wire.round = 0
        probes = fit_probes(nodes, cfg, ckpt, initial, len(labels), num_examples, say, wire, metric)
        # LP-FT: the federation starts from the federated probe's head, as `borderless run` starts it
        begin = Start(init, {"federated": probes["start"]} if cfg.method.probe_init else None).state("federated")
        if cfg.privacy.secagg:
            from borderless.flower.secagg import secagg_fit_many

            fit_many = secagg_fit_many(grid, nodes.by_lang, init, cfg, max(num_examples.values()))
        else:
            fit_many = plain_fit_many(nodes, init, cfg)
        fed = federated(nodes, wire, cfg, ckpt, fit_many, begin, distances, num_examples, sink, say)
        personal = (federated_personal(nodes, wire, cfg, ckpt, fed, sink, say)
                    if "federated_personal" in cfg.run.paradigms else None)
    finally:
        metrics_fh.close()
    summary = write_results(output, cfg, fed, personal, probes, found, wire, time.perf_counter() - t_start,
                            initial, list(labels), metric)
    say(f"done: mean test {metric_name(metric)} {summary['paradigms']['federated'][f'mean_{metric}']:.3f}; "
        f"results in {output}")
    return summary


def fit_probes(nodes: Nodes, cfg: Config, ckpt, initial, num_labels: int, num_examples: dict[str, int], say,
               wire: WireLog, metric: str = "accuracy") -> dict:
    """The federated probe on the nodes' frozen features (the floor), its personalised form (the floor
    of federated + personal), and under LP-FT the head the federation starts from (for a soft prompt,
    fitted on the untrained prompt's features). Saved in the checkpoint once fitted."""
    from borderless.flower import federated_probe as fp

    done = ckpt.finished("probes")
    if done is not None:
        return {k: fp.from_record(v) for k, v in done.items()}
    t0 = time.perf_counter()
    kinds = ["frozen"] + (["start"] if cfg.method.probe_init and initial.changes_features_at_start else [])
    fitted = fp.fit(nodes, cfg, kinds, num_labels, initial.hidden, num_examples, metric)
    probes = {"federated": fitted["frozen"]}
    if "federated_personal" in cfg.run.paradigms:
        probes["federated_personal"] = fp.personalised(nodes, cfg, probes["federated"])
    if cfg.method.probe_init:  # LP-FT: on the untrained prompt's features, or the frozen ones (LoRA, full)
        probes["start"] = fitted.get("start", fitted["frozen"])
    measured = fp.measured_bytes(wire, list(cfg.data.languages))
    for p in probes.values():
        p.bytes_per_client = measured
    say(f"federated probe: mean test {metric_name(metric)} {100 * probes['federated'].mean_test:.1f} "
        f"(weight decay {probes['federated'].weight_decay['all']:g}), {time.perf_counter() - t0:.1f} s")
    ckpt.finish("probes", {k: fp.to_record(v) for k, v in probes.items()})
    return probes


@dataclass
class Federated:
    """What the federated paradigm kept: the chosen round (the best on dev, or the last), its test
    scores, and the facts results.json reports."""

    chosen: object  # RoundResult (or the untrained start under dev stopping)
    test: dict[str, dict]
    stopper: dict  # DevStopper.record() plus its facts
    trained: dict[str, int]  # rounds each client trained
    round_s: list[float]
    rejected: list[dict]
    participation: list[dict]


def federated(nodes: Nodes, wire: WireLog, cfg: Config, ckpt, fit_many, begin: State, distances,
              num_examples: dict[str, int], sink, say) -> Federated:
    """borderless's own round loop over Flower, with `borderless run`'s stopping rule: the nodes'
    dev accuracies of the global state every ``federated.eval_every`` rounds (and before round 1),
    their mean kept by a DevStopper, the best state restored at the end. Checkpointed every round."""
    from borderless.paradigms import DevStopper, _Initial, round_from_record

    done = ckpt.finished("federated")
    if done is not None:
        return Federated(round_from_record(done["chosen"]), done["test"], done["stopper"], done["trained"],
                         done["round_s"], done["rejected"], done["participation"])
    langs = list(cfg.data.languages)
    stopper = DevStopper(cfg)

    def mean_dev(rnd: int, state_for: Callable[[str], State]) -> float:
        """The nodes' dev accuracies of the state after round ``rnd``, logged; their mean is the criterion."""
        dev = evaluate_all(nodes, state_for, "dev", cfg)
        for lang, m in dev.items():
            sink({"paradigm": "federated", "round": rnd, "lang": lang, "split": "dev", **m})
        return statistics.fmean(dev[l]["score"] for l in langs if l in dev)

    result, round_s, rejected, stop, carry = None, [], [], False, None
    saved = ckpt.resumed("federated")
    if saved is not None:
        round_s, rejected, nodes.log = list(saved["round_s"]), list(saved["rejected"]), list(saved["participation"])
        drop_saved_updates(saved)  # before anything decodes them
        stopper.restore(saved["stopper"], round_from_record)
        stop, carry, result = saved["stopped"], saved["carry"], round_from_record(saved["result"])
        say(f"resuming after round {carry['round']} of {cfg.federated.rounds}")
    elif stopper.active:  # round 0: the untrained start is a stopping candidate, as in `borderless run`
        initial = _Initial(0, begin)
        stopper.update(0, mean_dev(0, lambda lang: begin), lambda: initial)
    if not stop and (carry is None or carry["round"] < cfg.federated.rounds):
        rounds = federate(langs, fit_many, begin, cfg.train, cfg.federated, cfg.run.seed, distances, num_examples,
                          resume=carry, privacy=server_privacy(cfg, len(langs), None))  # client-level DP: OS noise
        t_round = time.perf_counter()
        while True:
            wire.round = (result.round + 1) if result else 1
            try:
                result = next(rounds)
            except StopIteration:
                break
            round_s.append(time.perf_counter() - t_round)
            for u in result.updates:
                sink({"paradigm": "federated", "round": result.round, "client": u.client_id,
                      "num_examples": u.num_examples, **u.metrics})
            for r in result.rejected:
                rejected.append(r.as_dict())
                say(f"round {r.round}: refused the update of {r.client_id}: {r.reason}")
                sink({"paradigm": "federated", "rejected": True, **r.as_dict()})
            for lang in result.absent:
                sink({"paradigm": "federated", "round": result.round, "client": lang,
                      "absent": nodes.absent.get(lang, "no reply")})
            say(f"round {result.round}/{cfg.federated.rounds}: {round_s[-1]:.1f} s, "
                f"{len(result.updates)} of {len(result.updates) + len(result.absent)} sampled clients answered, "
                f"{sum(r['bytes'] for r in wire.rows if r['round'] == result.round)} bytes on the wire")
            result = without_updates(result)  # nothing reads a round's updates after this
            stopper.last_round = result.round
            if dev_eval_due(cfg, result.round):
                stop = stopper.update(result.round, mean_dev(result.round, _state_for(result)), lambda r=result: r)
            carry = result.carry
            ckpt.save("federated", {"carry": carry, "result": round_record(result), "round_s": round_s,
                                    "rejected": rejected, "participation": nodes.log,
                                    "stopper": stopper.record(round_record), "stopped": stop})
            if stop:
                say(f"stopping after round {result.round}: no dev gain in {cfg.train.patience} evaluations; "
                    f"keeping round {stopper.best_round}")
                break
            t_round = time.perf_counter()
        rounds.close()
    chosen = stopper.best if (stopper.active and stopper.best is not None) else result
    wire.round = cfg.federated.rounds + 1  # the final evaluation
    test = evaluate_all(nodes, _state_for(chosen), "test", cfg)
    for lang, m in test.items():
        sink({"paradigm": "federated", "round": chosen.round, "lang": lang, "split": "test", **m})
    facts = {k: v for k, v in stopper.record().items() if k != "best"}
    out = Federated(chosen, test, {**facts, **stopper.facts(), "active": stopper.active},
                    dict(carry["trained"]) if carry else {}, round_s, rejected, nodes.log)
    ckpt.finish("federated", {"chosen": round_record(chosen), "test": test, "stopper": out.stopper,
                              "trained": out.trained, "round_s": round_s, "rejected": rejected,
                              "participation": nodes.log})
    return out


@dataclass
class PersonalScores:
    """Federated + personal: each node's scores (its state stays on the node)."""

    test: dict[str, dict]
    dev: dict[str, float]
    steps: dict[str, dict[str, int]]  # language → personal_steps (kept), personal_trained
    saved_on_node: dict[str, bool]


def federated_personal(nodes: Nodes, wire: WireLog, cfg: Config, ckpt, fed: Federated, sink, say) -> PersonalScores:
    """Each node adapts the federation's chosen state on its own data, where federated training left
    its batch stream, and keeps the best state on its own dev split (borderless.paradigms.personalise).
    All nodes adapt at once; only scores come back."""
    done = ckpt.finished("federated_personal")
    if done is not None:
        return PersonalScores(**done)
    wire.round = cfg.federated.rounds + 2
    state_for = _state_for(fed.chosen)
    msgs, sent = [], {}
    for lang, nid in nodes.by_lang.items():
        sent[nid] = lang
        before = fed.trained.get(lang, 0) * cfg.train.local_steps
        settings = records.round_settings(cfg.federated.rounds + 1, cfg.run.seed, before)
        msgs.append(Message(records.train_instruction(state_for(lang), settings), dst_node_id=nid,
                            message_type="train.personal", ttl=cfg.deploy.round_timeout_s))
    by_node = nodes.exchange(msgs, sent, "personal adaptation", cfg.federated.min_clients or None)
    out = PersonalScores({}, {}, {}, {})
    for nid, reply in by_node.items():
        lang, m = sent[nid], records.read_metrics(reply.content)
        out.test[lang] = {k[5:]: v for k, v in m.items() if k.startswith("test.")}
        out.dev[lang] = m["dev_score"]
        out.steps[lang] = {"personal_steps": int(m["personal_steps"]), "personal_trained": int(m["personal_trained"])}
        out.saved_on_node[lang] = bool(m["saved_on_node"])
        for k, v in m.items():
            if k.startswith("dev_at."):
                sink({"paradigm": "federated_personal", "client": lang, "personal_step": int(k[7:]), "lang": lang,
                      "split": "dev", "score": v})
        sink({"paradigm": "federated_personal", "lang": lang, "split": "test", **out.test[lang]})
    say("personal adaptation: " + ", ".join(f"{l} {100 * out.test[l]['score']:.1f} "
                                             f"({out.steps[l]['personal_steps']} steps)" for l in out.test))
    ckpt.finish("federated_personal", dataclasses.asdict(out))
    return out


def _state_for(result) -> Callable[[str], State]:
    if result.personal is None:
        return lambda lang: result.state
    return lambda lang: result.personal.get(lang, result.state)

