"""The frozen-feature probe as the last candidate of dev selection.

With ``train.stop = "dev"`` every tuned paradigm ends on its best dev state. That state can still be
worse on dev than the paradigm's own frozen-feature probe: an untrained soft prompt already moves the
features (its start sits ~2 points below the probe), and a small dev split may stop the run before
tuning recovers. With ``train.probe_candidate = true`` (off by default, see below) the probe competes with the
tuned state on the *same* dev criterion the paradigm stopped on, and the better one is kept (LP versus
LP-FT, chosen on dev as usual; test accuracies are never looked at):

- monolingual: per language, that language's dev accuracy, against its own probe;
- centralized, federated: the mean dev accuracy over the training languages, against the pooled /
  federated probe (federated: the clients' own dev accuracies, no dev text moves);
- federated_personal: per client, its own dev accuracy, against its personalised probe.

**An untrained start counts as the probe.** Where dev selection kept the start itself (``best_round``
0, and for federated + personal also no personal step), nothing was learned: the kept model is a
linear head on the untrained soft prompt's features, a second frozen-feature probe that only a
99-sentence dev split preferred to the first. Such a state is replaced by the paradigm's own probe
without a dev comparison (``untrained`` in the result names who). Measured cause, not assumed: on held-out
draw 4 (docs/results/heldout_draws_prompt) centralized kept round 0, which led its probe on dev by 3.2 points
and trailed it on test by 1.0 (federated: round 0 too, +3.5 on dev, +0.3 on test).

The result keeps both: ``test_accuracy`` and ``mean_accuracy`` are what was chosen,
``tuned_test_accuracy`` and ``tuned_mean_accuracy`` the tuned state's, ``chosen_on_dev`` says which
was kept for whom (``"tuned"`` or ``"probe"``). Works on ``results.json`` summaries, so a committed run
can be re-selected from its own files (``scripts/reselect_with_probe.py``).

Measured on the committed SIB-200 runs (docs/results/probe_candidate.md): monolingual +0.4 points on
average (12 of 13 up), federated + personal -0.4, centralized and federated mostly unchanged but down
by 3.5 / 3.3 on one seed at 701 sentences, where the probe won on a 99-sentence dev split whose
weight decay it had been chosen on. So it is an option, not the default. The robust recipe
(``configs/demo.toml``, issue 42) turns it on together with whole dev splits (99 sentences a language):
measured on five held-out draws in docs/results/heldout_draws_prompt.
"""

from __future__ import annotations

import statistics

SHARED = ("centralized", "federated")  # one model for every language
PER_LANGUAGE = ("monolingual", "federated_personal")


def select(summary: dict) -> dict:
    """Apply the probe candidate to every tuned paradigm of ``summary`` that has ``dev_score``
    (the dev criterion of its chosen state; absent under ``train.stop = "budget"``). Returns ``summary``.
    The choice is made once on dev (the run's metric) and applied to every test metric alike."""
    langs = summary["languages"]
    probes, nearest = summary.get("probes") or {}, summary.get("zero_shot_nearest") or {}
    metric = summary.get("metric", "accuracy")
    for name in ("monolingual", "centralized", "federated", "federated_personal"):
        entry = summary["paradigms"].get(name)
        if entry is None or not entry.get("dev_score") or name not in probes or "chosen_on_dev" in entry:
            continue
        probe = probes[name]
        tuned_zs = dict(entry.get("zero_shot_accuracy") or {})
        final_zs, chosen = dict(tuned_zs), {}
        stopping, untrained = entry.get("stopping") or {}, []
        if name in SHARED:
            who, score = next(iter(entry["dev_score"].items()))
            use_probe = statistics.fmean(probe_dev(probe)[l] for l in langs) > score + 1e-9
            if _untrained(name, stopping, who, langs):
                use_probe = True
                untrained.append(who)
            chosen[who] = "probe" if use_probe else "tuned"
            from_probe = set(langs) if use_probe else set()
            if use_probe:
                final_zs = {z: probe["zero_shot_accuracy"][z] for z in tuned_zs}
        else:
            for lang in langs:
                use_probe = probe_dev(probe)[lang] > entry["dev_score"][lang] + 1e-9
                if _untrained(name, stopping, lang, langs):
                    use_probe = True
                    untrained.append(lang)
                chosen[lang] = "probe" if use_probe else "tuned"
            from_probe = {l for l in langs if chosen[l] == "probe"}
            if name == "monolingual":  # a zero-shot language takes its nearest language's choice
                for z in tuned_zs:
                    if chosen.get(nearest.get(z)) == "probe":
                        final_zs[z] = probe["zero_shot_accuracy"][z]
            elif "federated" in summary["paradigms"]:  # no data to adapt to: the federation's own model
                final_zs = {z: summary["paradigms"]["federated"]["zero_shot_accuracy"][z] for z in tuned_zs}
        update = {"chosen_on_dev": chosen, "untrained": untrained, "tuned_zero_shot_accuracy": tuned_zs,
                  "zero_shot_accuracy": final_zs}
        for m in [k[5:] for k in entry if k.startswith("test_") and f"test_{k[5:]}" in probe]:
            tuned = dict(entry[f"test_{m}"])
            final = {l: probe[f"test_{m}"][l] if l in from_probe else tuned[l] for l in langs}
            update |= {f"tuned_test_{m}": tuned, f"tuned_mean_{m}": entry[f"mean_{m}"], f"test_{m}": final,
                       f"mean_{m}": statistics.fmean(final[l] for l in langs), f"worst_{m}": min(final.values())}
            if m == metric:
                update["worst_language"] = min(langs, key=lambda l: final[l])
                update["below_probe"] = update[f"mean_{m}"] < probe[f"mean_{m}"] - 1e-9
        entry.update(update)
    return summary


def _untrained(name: str, stopping: dict, who: str, langs: list[str]) -> bool:
    """Did dev selection keep ``who``'s untrained start? Unknown (no ``stopping`` facts) counts as trained."""
    facts = stopping.get(who) or {}
    if name == "federated_personal":  # the global model's stopping sits under its own key ("all")
        glob = next((v for k, v in stopping.items() if k not in langs and isinstance(v, dict)), {})
        return facts.get("personal_steps") == 0 and glob.get("best_round") == 0
    return facts.get("best_round") == 0


def describe(entry: dict) -> str:
    """'tuned for 5 of 7, probe for hau, yor' — what dev selection kept, for reports."""
    chosen = entry.get("chosen_on_dev")
    if not chosen:
        return ""
    on_probe = [w for w, c in chosen.items() if c == "probe"]
    untrained = entry.get("untrained") or []
    if len(chosen) == 1:
        if not on_probe:
            return "the tuned state"
        return "the frozen probe (dev had kept the untrained start)" if untrained else "the frozen probe"
    if untrained:
        return f"{_describe_many(chosen, on_probe)}; {len(untrained)} had kept the untrained start"
    return _describe_many(chosen, on_probe)


def _describe_many(chosen: dict, on_probe: list) -> str:
    if not on_probe:
        return f"tuned for all {len(chosen)}"
    return (f"tuned for {len(chosen) - len(on_probe)} of {len(chosen)}, probe for " + ", ".join(on_probe)
            if len(on_probe) <= 4 else f"tuned for {len(chosen) - len(on_probe)} of {len(chosen)}")


def probe_dev(probe: dict) -> dict[str, float]:
    """A probe's dev scores (results written before issue 46 call them dev_accuracy)."""
    return probe["dev_score"] if "dev_score" in probe else probe["dev_accuracy"]
