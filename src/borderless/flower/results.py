"""The results folder of a Flower deployment: the same kinds of files as ``borderless run``
(resolved config, per-round metrics JSONL, results JSON, Markdown report, plots) plus the measured
wire traffic (``wire.jsonl``) and the final global state (``final_state.safetensors``)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import tomli_w
from safetensors.torch import save_file

from borderless.config import Config
from borderless.plotting import pyplot, save_figure
from borderless.tuning.state import State, state_num_bytes, state_num_params


def initial_state(cfg: Config, labels: list[str]) -> tuple[State, int]:
    """The seeded initial trainable state, built exactly as every node and `borderless run` build it.
    The server loads the public backbone for this; it never sees a node's data."""
    from borderless.backbones.resolve import load_configured
    from borderless.tuning.factory import build_for
    from borderless.tuning.state import trainable_state

    backbone = load_configured(cfg.backbone)
    model = build_for(backbone, labels, cfg.method, cfg.run.seed)
    return trainable_state(model), backbone.num_parameters()


def privacy_record(cfg: Config, found: dict, participated: dict[str, int], rounds_run: int) -> dict:
    """Each node's (ε, δ) from the same plan its node applied (borderless.privacy): DP-SGD steps
    (rounds it trained × local steps), rounds it took part in (local), or every round run (client)."""
    from borderless.privacy.plan import paradigm_record, steps_taken

    if cfg.privacy.mechanism == "none":
        return {"enabled": False}
    parties = {l: (int(found[l][1]["num_examples"]), steps_taken(cfg, participated[l], rounds_run))
               for l in cfg.data.languages}
    return {"enabled": True, **paradigm_record(cfg, "federated", parties, len(cfg.data.languages))}


def write_results(folder: Path, cfg: Config, result, test: dict, found: dict, wire, round_s: list[float],
                  wall_s: float, init: State, backbone_params: int, labels: list[str],
                  rejected: list[dict] = (), participation: list[dict] = ()) -> dict:
    langs = list(cfg.data.languages)
    (folder / "plots").mkdir(parents=True, exist_ok=True)
    (folder / "config.toml").write_text(tomli_w.dumps(cfg.to_dict()))
    save_file({k: v.contiguous() for k, v in result.state.items()}, str(folder / "final_state.safetensors"))
    participated = {l: len({r["round"] for r in wire.rows if r["direction"] == "up" and r["type"] == "train"
                            and r["language"] == l and not r.get("error")}) for l in langs}
    per_round = wire.totals()
    up = [b for l in langs for b in wire.train_bytes(l, "up")]
    down = [b for l in langs for b in wire.train_bytes(l, "down")]
    acc = {l: test[l]["accuracy"] for l in langs if l in test}  # a node absent at the end has no test score
    summary = {
        "runtime": "flower deployment (SuperLink + one SuperNode per language)",
        "config": cfg.to_dict(),
        "languages": langs,
        "labels": labels,
        "nodes": {l: {"num_examples": int(found[l][1]["num_examples"])} for l in langs},
        "method": {"name": cfg.method.name, "trainable_parameters": state_num_params(init),
                   "trainable_percent_of_backbone": 100.0 * state_num_params(init) / backbone_params},
        "test_accuracy": acc,
        "mean_accuracy": sum(acc.values()) / len(acc),
        "worst_language": min(acc, key=acc.get),
        "round_wall_s": [round(s, 2) for s in round_s],
        "rejected_updates": list(rejected),  # refused by the server before aggregation, with why
        # per round: the clients whose update arrived, and the absent ones with why (federated.min_clients)
        "participation": list(participation),
        "absent_at_test": [l for l in langs if l not in test],
        "wall_s": round(wall_s, 1),
        "communication": {
            "state_bytes": state_num_bytes(init),
            "measured": "protobuf-serialised message content, per client per round, as sent by Flower "
                        "(TLS and HTTP framing not included); train messages only, averaged over the client-rounds",
            "bytes_per_client_per_round_up": sum(up) / max(len(up), 1),
            "bytes_per_client_per_round_down": sum(down) / max(len(down), 1),
            "bytes_total": sum(r["bytes"] for r in wire.rows),
            "messages": len(wire.rows),
            "per_round": per_round,
        },
        "privacy": {"dp": privacy_record(cfg, found, participated, getattr(result, "round", len(round_s))),
                    "secagg": ({"enabled": True, "protocol": "SecAgg+ (Flower SecAggPlusWorkflow + secaggplus_mod)",
                                "server_sees": "only the example-weighted sum of the updates"}
                               if cfg.privacy.secagg else {"enabled": False})},
    }
    (folder / "results.json").write_text(json.dumps(summary, indent=2))
    _plots(folder, summary, langs)
    (folder / "report.md").write_text(report_markdown(summary))
    return summary


def _plots(folder: Path, s: dict, langs: list[str]) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(4, 0.8 * len(langs) + 2), 3.2))
    ax.bar(langs, [100 * s["test_accuracy"].get(l, float("nan")) for l in langs], color="#3b7dd8")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Flower deployment: accuracy per language")
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
    c, f = s["communication"], s["config"]["federated"]
    lines = [
        "# Flower deployment", "",
        f"{s['runtime']}: {len(s['languages'])} languages, method `{s['method']['name']}` "
        f"({s['method']['trainable_parameters']:,} trainable parameters, "
        f"{s['method']['trainable_percent_of_backbone']:.4f} % of the backbone), {f['rounds']} rounds, "
        f"aggregator `{f['aggregator']}`.", "",
        "| language | training examples (on its node) | test accuracy |", "|---|---:|---:|",
    ]
    for l in s["languages"]:
        score = f"{100 * s['test_accuracy'][l]:.1f}" if l in s["test_accuracy"] else "absent"
        lines.append(f"| {l} | {s['nodes'][l]['num_examples']} | {score} |")
    lines += ["", f"Mean test accuracy **{100 * s['mean_accuracy']:.1f} %**, worst {s['worst_language']}.", "",
              "## Wire", "",
              f"Measured from Flower's messages ({c['measured']}): **{c['bytes_per_client_per_round_up']:,.0f} bytes "
              f"up and {c['bytes_per_client_per_round_down']:,.0f} bytes down per client per round**; the raw "
              f"trainable state is {c['state_bytes']:,} bytes. {c['messages']} messages, {c['bytes_total']:,} bytes "
              "in all (including the node queries and evaluations).", "",
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
