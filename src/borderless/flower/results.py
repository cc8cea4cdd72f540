"""The results folder of a Flower deployment: the same kinds of files as ``borderless run``
(resolved config, per-round metrics JSONL, results JSON, Markdown report, plots) plus the measured
wire traffic (``wire.jsonl``) and the final global state (``final_state.safetensors``)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import tomli_w
from safetensors.torch import save_file

from borderless.config import Config, token_task
from borderless.plotting import pyplot, save_figure
from borderless.probe import metric_fields
from borderless.tuning.state import State, state_num_bytes, state_num_params


@dataclass
class Initial:
    """The seeded initial trainable state, built exactly as every node and `borderless run` build it,
    and the facts about the model the server needs (it loads the public backbone; it never sees a
    node's data)."""

    state: State
    backbone_params: int
    hidden: int
    changes_features_at_start: bool  # an untrained prompt moves the features: the LP-FT head is fitted on them


def initial_state(cfg: Config, labels: list[str]) -> Initial:
    from borderless.backbones.resolve import load_configured
    from borderless.tuning.factory import build_for
    from borderless.tuning.state import trainable_state

    backbone = load_configured(cfg.backbone)
    model = build_for(backbone, labels, cfg.method, cfg.run.seed, token_task(cfg.data))
    out = Initial(trainable_state(model), backbone.num_parameters(), backbone.hidden_size,
                  model.changes_features_at_start())
    model.release()
    return out


def privacy_record(cfg: Config, found: dict, participated: dict[str, int], rounds_run: int,
                   personal: dict[str, int] | None = None) -> dict:
    """Each node's (ε, δ) from the same plan its node applied (borderless.privacy): DP-SGD steps
    (rounds it trained × local steps, plus its personal steps), rounds it took part in (local), or
    every round run (client)."""
    from borderless.privacy.plan import paradigm_record, steps_taken

    if cfg.privacy.mechanism == "none":
        return {"enabled": False}
    parties = {l: (int(found[l][1]["num_examples"]),
                   steps_taken(cfg, participated[l], rounds_run, (personal or {}).get(l, 0)))
               for l in cfg.data.languages}
    return {"enabled": True, **paradigm_record(cfg, "federated", parties, len(cfg.data.languages))}


NOT_DEPLOYED = ("monolingual and centralized have no deployment form (one model per language on its own, or "
                "every language's text pooled in one place); run them with `borderless run CONFIG` on the same "
                "config and data")


def _entry(cfg: Config, langs: list[str], test: dict, probe, stopping: dict, dev_score: dict, extra: dict,
           metric: str) -> dict:
    """One paradigm as `borderless run` reports it (runner.paradigm_summary), from the nodes' scores:
    every test metric, the worst language and the floor (``probe``, its probe) in the run's ``metric``."""
    acc = {l: test[l]["accuracy"] for l in langs if l in test}
    score = {l: test[l][metric] for l in langs if l in test}
    mean = sum(score.values()) / len(score)
    floor = probe.summary([l for l in langs if l in probe.test_accuracy])
    out = {"metric": metric, "test_accuracy": acc, "mean_accuracy": sum(acc.values()) / len(acc),
           "worst_language": min(score, key=score.get), "worst_accuracy": min(acc.values()),
           "zero_shot_accuracy": {}, "stopping": stopping, "probe_mean_accuracy": floor["mean_accuracy"],
           "below_probe": cfg.privacy.mechanism == "none" and mean < floor[f"mean_{metric}"] - 1e-9, **extra}
    out.update(metric_fields(test, langs))  # macro-F1 and weighted-F1 beside accuracy; entity F1 for NER
    if metric != "accuracy":
        out[f"probe_mean_{metric}"] = floor[f"mean_{metric}"]
    if dev_score and cfg.train.probe_candidate and len(acc) == len(langs):
        out["dev_score"] = dev_score  # the dev criterion of the kept state: the probe competes on it (probe_selection)
    return out


def write_results(folder: Path, cfg: Config, fed, personal, probes: dict, found: dict, wire, wall_s: float,
                  initial: Initial, labels: list[str], metric: str = "accuracy") -> dict:
    from borderless import probe_selection
    from borderless.flower.federated_probe import summary as probe_summary

    langs = list(cfg.data.languages)
    (folder / "plots").mkdir(parents=True, exist_ok=True)
    (folder / "config.toml").write_text(tomli_w.dumps(cfg.to_dict()))
    save_file({k: v.contiguous() for k, v in fed.chosen.state.items()}, str(folder / "final_state.safetensors"))
    participated = {l: len({r["round"] for r in wire.rows if r["direction"] == "up" and r["type"] == "train"
                            and r["language"] == l and not r.get("error")}) for l in langs}
    per_round = wire.totals()
    up = [b for l in langs for b in wire.train_bytes(l, "up")]
    down = [b for l in langs for b in wire.train_bytes(l, "down")]
    init = initial.state
    rounds_run = fed.stopper["last_round"]
    probe_bytes = probes["federated"].bytes_per_client
    state_bytes = state_num_bytes(init)
    paradigms = {"federated": _entry(cfg, langs, fed.test, probes["federated"],
                                     {"all": {"trained_rounds": fed.stopper["trained_rounds"],
                                              "best_round": fed.stopper["best_round"]}},
                                     {"all": fed.stopper["best_acc"]} if fed.stopper["active"] else {},
                                     {"rounds_taken": rounds_run, "rejected_updates": list(fed.rejected),
                                      "bytes_per_client_total": 2 * state_bytes * rounds_run + probe_bytes},
                                     metric)}
    personal_steps = {}
    if personal is not None and personal.test:
        personal_steps = {l: s["personal_trained"] for l, s in personal.steps.items()}
        paradigms["federated_personal"] = _entry(
            cfg, langs, personal.test, probes["federated_personal"],
            {**paradigms["federated"]["stopping"], **{l: {"personal_steps": s["personal_steps"]}
                                                      for l, s in personal.steps.items()}},
            personal.dev if cfg.train.stop == "dev" else {},
            {"rounds_taken": rounds_run, "personal_saved_on_node": personal.saved_on_node,
             "bytes_per_client_total": paradigms["federated"]["bytes_per_client_total"]}, metric)
    majority = {l: float(found[l][1]["test_majority"]) for l in langs}
    baseline = {l: dict(found[l][1].get("majority") or {"accuracy": majority[l]}) for l in langs}
    summary = {
        "runtime": "flower deployment (SuperLink + one SuperNode per language)",
        "config": cfg.to_dict(),
        "languages": langs,
        "labels": labels,
        "data": {"dataset": cfg.data.dataset, "task": "token" if token_task(cfg.data) else "sentence"},
        "metric": metric,  # what dev selection and the probes compared (train.select_metric, resolved)
        "nodes": {l: {"num_examples": int(found[l][1]["num_examples"])} for l in langs},
        "method": {"name": cfg.method.name, "trainable_parameters": state_num_params(init),
                   "trainable_percent_of_backbone": 100.0 * state_num_params(init) / initial.backbone_params},
        "majority_class_accuracy": majority,  # a token task's: the most frequent tag per word type
        "majority_baseline": baseline,  # every test metric of it, from each node
        "probes": {k: probe_summary(v, langs) for k, v in probes.items() if k != "start"},
        "head_init": ({"kind": "probe", "fitted_on": "the untrained prompt's features" if initial.changes_features_at_start
                       else "frozen features (the method starts as the identity)",
                       "weight_decay": probes["start"].weight_decay["all"],
                       "dev_score": probes["start"].dev_score} if "start" in probes else {"kind": "random"}),
        "paradigms": paradigms,
        "not_deployed": NOT_DEPLOYED,
        "round_wall_s": [round(x, 2) for x in fed.round_s],
        "rounds_taken": rounds_run,
        "rejected_updates": list(fed.rejected),  # refused by the server before aggregation, with why
        # per round: the clients whose update arrived, and the absent ones with why (federated.min_clients)
        "participation": list(fed.participation),
        "absent_at_test": [l for l in langs if l not in fed.test],
        "wall_s": round(wall_s, 1),
        "communication": {
            "state_bytes": state_bytes,
            "measured": "protobuf-serialised message content, per client per round, as sent by Flower "
                        "(TLS and HTTP framing not included); train messages only, averaged over the client-rounds",
            "bytes_per_client_per_round_up": sum(up) / max(len(up), 1),
            "bytes_per_client_per_round_down": sum(down) / max(len(down), 1),
            "probe_bytes_per_client": probe_bytes,  # measured: every probe message, up and down, per node
            "bytes_total": sum(r["bytes"] for r in wire.rows),
            "messages": len(wire.rows),
            "per_round": per_round,
        },
        "privacy": {"dp": privacy_record(cfg, found, participated, rounds_run, personal_steps),
                    "secagg": ({"enabled": True, "protocol": "SecAgg+ (Flower SecAggPlusWorkflow + secaggplus_mod)",
                                "server_sees": "only the example-weighted sum of the updates"}
                               if cfg.privacy.secagg else {"enabled": False})},
    }
    complete = all(len(e["test_accuracy"]) == len(langs) for e in paradigms.values()) and \
        all(not p["absent"] for p in summary["probes"].values())
    if complete:  # the frozen probe competes on dev, as in `borderless run` (train.probe_candidate)
        probe_selection.select(summary)
    elif cfg.train.probe_candidate:
        summary["probe_candidate_skipped"] = "a node was absent: the probe and the tuned state are not scored on the same languages"
    top = summary["paradigms"]["federated"]
    summary.update({"test_accuracy": top["test_accuracy"], "mean_accuracy": top["mean_accuracy"],
                    "worst_language": top["worst_language"]})
    (folder / "results.json").write_text(json.dumps(summary, indent=2))
    _plots(folder, summary, langs)
    (folder / "report.md").write_text(report_markdown(summary))
    return summary


def _plots(folder: Path, s: dict, langs: list[str]) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(4, 0.8 * len(langs) + 2), 3.2))
    metric = s.get("metric", "accuracy")
    top = per_language(s["paradigms"]["federated"], metric)
    ax.bar(langs, [100 * top.get(l, float("nan")) for l in langs], color="#3b7dd8")
    ax.set_ylabel(f"test {_name(s, metric)} (%)")
    ax.set_title(f"Flower deployment: federated {_name(s, metric)} per language")
    ax.tick_params(axis="x", rotation=45)
    save_figure(fig, folder / "plots" / "accuracy.png")
    per_round = s["communication"]["per_round"]
    rounds = [r for r in range(1, s["config"]["federated"]["rounds"] + 1) if str(r) in per_round]
    fig, ax = plt.subplots(figsize=(max(4, 0.5 * len(rounds) * len(langs) + 2), 3.2))
    width = 0.8 / len(langs)
    for i, l in enumerate(langs):
        xs = [r - 0.4 + width * (i + 0.5) for r in rounds]
        ax.bar(xs, [per_round[str(r)].get(l, {}).get("up", 0) / 1024 for r in rounds], width, label=f"{l} up")
    ax.axhline(s["communication"]["state_bytes"] / 1024, color="black", lw=1, ls="--", label="raw trainable state")
    ax.set_xticks(rounds)
    ax.set_xlabel("round")
    ax.set_ylabel("kB sent by the client (measured)")
    ax.legend(fontsize=7, loc="lower right")
    save_figure(fig, folder / "plots" / "bytes_per_round.png")


def per_language(entry: dict, metric: str) -> dict[str, float]:
    """A paradigm's (or probe's) test scores per language in ``metric``."""
    return entry["test_accuracy"] if metric == "accuracy" else entry.get(f"test_{metric}", {})


def mean_of(entry: dict, metric: str) -> float | None:
    return entry["mean_accuracy"] if metric == "accuracy" else entry.get(f"mean_{metric}")


def _name(s: dict, metric: str) -> str:
    from borderless.report import metric_name

    return metric_name(s, metric)


def participation_lines(s: dict) -> list[str]:
    """Who took part in which round (only when some node was absent)."""
    rows = s.get("participation", [])
    if not any(r["absent"] for r in rows) and not s.get("absent_at_test"):
        return []
    out = ["", "## Who took part", "", "| round | took part | absent (why) |", "|---:|---|---|"]
    for r in rows:
        absent = "; ".join(f"{l} ({why})" for l, why in r["absent"].items()) or "—"
        out.append(f"| {r['round']} | {', '.join(r['took_part'])} | {absent} |")
    if s.get("absent_at_test"):
        out += ["", f"Absent at the final test evaluation (no score): {', '.join(s['absent_at_test'])}."]
    return out


def report_markdown(s: dict) -> str:
    from borderless import probe_selection

    c, f = s["communication"], s["config"]["federated"]
    lines = [
        "# Flower deployment", "",
        f"{s['runtime']}: {len(s['languages'])} languages, method `{s['method']['name']}` "
        f"({s['method']['trainable_parameters']:,} trainable parameters, "
        f"{s['method']['trainable_percent_of_backbone']:.4f} % of the backbone), {f['rounds']} rounds, "
        f"aggregator `{f['aggregator']}`.", "",
    ]
    names = [n for n in ("federated", "federated_personal") if n in s["paradigms"]]
    label = {"federated": "federated", "federated_personal": "federated + personal"}
    metric = s.get("metric", "accuracy")
    what = _name(s, metric)
    token = s.get("data", {}).get("task") == "token"
    probes = s["probes"]
    majority = {l: b.get(metric, float("nan")) for l, b in (s.get("majority_baseline") or {
        l: {"accuracy": a} for l, a in s["majority_class_accuracy"].items()}).items()}
    lines += [f"Test {what} (%) per language; the frozen-feature probe of the same paradigm in brackets.", "",
              f"| language | training {'sentences' if token else 'examples'} (on its node) | "
              f"{'most frequent tag per word' if token else 'majority class'} | "
              + " | ".join(f"{label[n]} (probe)" for n in names) + " |",
              "|---|---:|---:|" + "---:|" * len(names)]

    def cell(n: str, l: str) -> str:
        got = per_language(s["paradigms"][n], metric)
        score = f"{100 * got[l]:.1f}" if l in got else "absent"
        floor = per_language(probes[n], metric) if n in probes else {}
        return f"{score} ({100 * floor[l]:.1f})" if l in floor else score

    for l in s["languages"]:
        lines.append(f"| {l} | {s['nodes'][l]['num_examples']} | {100 * majority[l]:.1f} | "
                     + " | ".join(cell(n, l) for n in names) + " |")
    lines.append(f"| **mean** | | {100 * sum(majority.values()) / len(majority):.1f} | " + " | ".join(
        f"**{100 * mean_of(s['paradigms'][n], metric):.1f}** ({100 * mean_of(probes[n], metric):.1f})" for n in names) + " |")
    lines.append("")
    for n in names:
        e = s["paradigms"][n]
        kept = probe_selection.describe(e)
        flag = " ⚠ below its frozen-feature probe" if e.get("below_probe") else ""
        lines.append(f"- {label[n]}: {what} {100 * mean_of(e, metric):.1f}{flag}"
                     + (f"; dev selection kept {kept}" if kept else "")
                     + (f"; stopped after round {e['stopping']['all']['trained_rounds']}, kept round "
                        f"{e['stopping']['all']['best_round']}" if n == "federated" else "")
                     + ("; each node's personal state stays on that node" if n == "federated_personal" else ""))
    head = s.get("head_init") or {}
    if head.get("kind") == "probe":
        lines.append(f"- Heads start from the federated probe (LP-FT), fitted on {head['fitted_on']} over Flower "
                     f"(weight decay {head['weight_decay']:g}).")
    for m in ("accuracy", "macro_f1"):  # beside the run's metric
        got = {n: mean_of(s["paradigms"][n], m) for n in names}
        if m != metric and None not in got.values():
            note = " (the majority class scores one class's F1 here, not its share)" if m == "macro_f1" else ""
            lines.append(f"- Test {_name(s, m)}{note}: "
                         + ", ".join(f"{label[n]} {100 * v:.1f}" for n, v in got.items()) + ".")
    lines += [f"- {s['not_deployed'][0].upper()}{s['not_deployed'][1:]}.", "",
              f"Mean test {what} **{100 * mean_of(s['paradigms']['federated'], metric):.1f} %** (federated), worst "
              f"{s['worst_language']}.", "",
              "## Wire", "",
              f"Measured from Flower's messages ({c['measured']}): **{c['bytes_per_client_per_round_up']:,.0f} bytes "
              f"up and {c['bytes_per_client_per_round_down']:,.0f} bytes down per client per round**; the raw "
              f"trainable state is {c['state_bytes']:,} bytes. The federated probe cost each node "
              f"{c.get('probe_bytes_per_client', 0):,} bytes (heads only). {c['messages']} messages, "
              f"{c['bytes_total']:,} bytes in all (including the node queries, probes and evaluations).", "",
              f"Wall time per round: {', '.join(f'{x:.1f}' for x in s['round_wall_s'])} s; whole run {s['wall_s']} s.",
              *participation_lines(s),
              "", "## Privacy", ""]
    dp, sa = s["privacy"]["dp"], s["privacy"]["secagg"]
    if dp["enabled"]:
        worst = max(dp["parties"], key=lambda l: dp["parties"][l]["epsilon"])
        g = dp["parties"][worst]
        lines.append(f"Differential privacy, mechanism **{dp['mechanism']}** (borderless.privacy, the same layer as "
                     f"`borderless run`): the record is {g['protects']}; noise multiplier {g['noise_multiplier']:.3f}, "
                     f"clip norm {dp['clip_norm']:g}; **ε = {dp['epsilon']:.2f} at δ = {dp['delta']:g}** "
                     f"({dp['accountant']} accountant, dp-accounting; largest for {worst}).")
    else:
        lines.append("Differential privacy: off.")
    lines.append("")
    lines.append(f"Secure aggregation: {'on, ' + sa['server_sees'] if sa['enabled'] else 'off'}.")
    lines += ["", "![accuracy](plots/accuracy.png)", "", "![bytes](plots/bytes_per_round.png)", ""]
    if not math.isfinite(s["mean_accuracy"]):
        lines.append("Warning: the mean accuracy is not a number.")
    return "\n".join(lines)
