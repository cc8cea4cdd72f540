"""The run report's privacy section: each paradigm's (ε, δ) and the parameters that give it."""

from __future__ import annotations


def _fmt_eps(e: float) -> str:
    return "∞" if e == float("inf") else f"{e:.2f}"


def privacy_section(summary: dict) -> list[str]:
    rows = [(p, r["privacy"]) for p, r in summary["paradigms"].items() if r.get("privacy")]
    if not rows:
        return []
    first = rows[0][1]
    what = next(iter(first["parties"].values()))["protects"] if first["parties"] else ""
    lines = [
        "## Privacy",
        "",
        f"Mechanism **{first['mechanism']}** (borderless.privacy): the protected record is {what}; "
        f"δ = {first['delta']:g}, accountant {first['accountant']} (dp-accounting), clip norm {first['clip_norm']:g}"
        + (f", noise calibrated to ε = {first['target_epsilon']:g}." if first.get("target_epsilon") else "."),
        "Each paradigm's ε is that of its own released model(s); a run that releases several paradigms' "
        "models trained on the same sentences composes them. The frozen-feature probes beside the scores "
        "are fitted without noise: a non-private reference, not a floor a DP run must clear.",
        "",
    ]
    dp_floors = [(p, r) for p, r in summary["paradigms"].items() if "dp_probe_mean_accuracy" in r]
    if dp_floors:
        lines += ["LP-FT under DP: each paradigm's head starts from its probe fitted with DP-SGD (privacy.probe_*, the "
                  "party's own noise, its steps counted below), and that DP probe is the floor: "
                  + ", ".join(f"{p} {100 * r['mean_accuracy']:.1f} vs DP probe {100 * r['dp_probe_mean_accuracy']:.1f}"
                              for p, r in dp_floors) + ".", ""]
    lines += ["| paradigm | party | ε | noise multiplier | sampling rate | steps or rounds | DP probe steps (rate) |",
              "|---|---|---|---|---|---|---|"]
    for p, rec in rows:
        for who, g in rec["parties"].items():
            probe = f"{g['probe_steps']} ({g['probe_sampling_rate']:.3f})" if g.get("probe_steps") else "—"
            lines.append(f"| {p} | {who} | {_fmt_eps(g['epsilon'])} | {g['noise_multiplier']:.3f} | "
                         f"{g['sampling_rate']:.4f} | {g['steps']} | {probe} |")
        lines.append(f"| **{p}** | **run (largest)** | **{_fmt_eps(rec['epsilon'])}** | | | | |")
        if rec.get("note"):
            lines.append(f"| {p} | note: {rec['note']} | | | | | |")
    return lines + [""]
