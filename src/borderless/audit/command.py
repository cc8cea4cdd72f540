"""``borderless audit CONFIG -o DIR``: train the configured paradigms on half the sentence ids (the
members), then attack each paradigm's released model with the loss threshold, members against as
many never-trained sentences of the same splits. Usable on a user's own data: the config is any run
config. Threat model: (a) whoever gets the released model (every paradigm).

With ``canaries`` (``--canaries 1 4 16``), the run also trains on canaries: for each count, a few
sentences of each language relabelled at random and inserted that many times (``audit.canaries``);
each paradigm's model is then scored for their exposure against never-inserted reference canaries.
The audit folder's setup.json records the canaries, and a folder whose run trained with others is
refused by name (the run is reused, so it must be the same run).

With ``lira_shadows`` N (``--lira 8``), N shadow runs (DIR/shadows/shadow<k>/, ordinary results
folders, resumable, each with its sentences' confidences cached) train the same paradigms on random
halves of the members and non-members, and each paradigm is attacked with offline LiRA
(``audit.lira``) beside the loss threshold.

With ``server_view`` (``--server-view``), threat model (b): the honest-but-curious server of the
federated paradigm, SecAgg+ off, which sees each client's returned state every round. The run keeps
them (``run.keep_updates``) and each pool sentence of a language is scored by how much its client's
updates lowered its loss, summed over the rounds the client took part in: loss under the round's
start minus loss under the client's update (the update-difference attack; members should drop more).

DIR/run/ is the ordinary results folder of the audited run (resumable: a killed audit continues its
run from the checkpoint); DIR/audit.json and DIR/audit.md hold, per paradigm, AUC and TPR at 1 %
FPR with bootstrap 95 % intervals and the empirical ε lower bound, pooled over languages and per
language; DIR/scores.npz every attack's scores of members and non-members (a metric can be
recomputed from them without the models); DIR/plots/roc.png the ROC curves.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from borderless.atomic_files import replace_atomically, write_text
from borderless.audit import canaries as canary
from borderless.audit import lira, membership
from borderless.audit.loss_attack import losses_and_hits, scores
from borderless.audit.metrics import auc, roc, summarise
from borderless.config import Config, ConfigError, refuse_token_task, token_task


def audit(cfg: Config, output: Path, backbone=None, progress: bool = True, bootstrap_rounds: int = 1000,
          canaries: tuple[int, ...] = (), canaries_per_count: int = 2, canary_references: int = 100,
          lira_shadows: int = 0, server_view: bool = False) -> dict:
    from borderless.backbones.resolve import load_configured
    from borderless.report import metric_name
    from borderless.runner import load_data, run_or_resume
    from borderless.trained_model import load

    if canaries:
        refuse_token_task(cfg, "audit --canaries", "a canary relabels a whole sentence; audit a tagger without "
                          "--canaries (the loss attack, --lira and --server-view score each tagged sentence)")
    if cfg.data.dev_from_train:
        raise ConfigError("audit: data.dev_from_train: the audit's non-members are the training rows no member id "
                          "holds, so none may join dev; set data.dev_from_train = 0 (--set data.dev_from_train=0)")
    output = Path(output)
    setup = {"canaries": sorted(set(canaries)), "canaries_per_count": canaries_per_count if canaries else 0,
             "canary_references": canary_references if canaries else 0}
    _check_setup(output, setup)
    data = load_data(cfg)
    langs = list(cfg.data.languages)
    sp = membership.split(data, langs, cfg.data.max_train_per_language, cfg.run.seed)
    trained, run_cfg, drawn = membership.with_members_only(data, sp.members), cfg, None
    # canary copies and LiRA's shadow halves are not capped: the members are capped already, and the
    # run's own cap would drop canary copies or shadow rows
    uncapped = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, max_train_per_language=0))
    if canaries:
        try:
            drawn = canary.draw(data, langs, sp, tuple(setup["canaries"]), canaries_per_count, canary_references,
                                cfg.run.seed)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        trained, run_cfg = canary.with_canaries(trained, drawn), uncapped
    if server_view:
        if "federated" not in cfg.run.paradigms or cfg.data.partition != "language":
            raise ConfigError("audit --server-view attacks the federated paradigm's updates, one client a language: "
                              "list \"federated\" in run.paradigms and keep data.partition = \"language\"")
        run_cfg = dataclasses.replace(run_cfg, run=dataclasses.replace(run_cfg.run, keep_updates=True))
    _check_same_run(output / "run", run_cfg)
    output.mkdir(parents=True, exist_ok=True)
    write_text(output / "setup.json", json.dumps(setup, indent=2))
    if backbone is None:
        backbone = load_configured(cfg.backbone)
    did = run_or_resume(run_cfg, output / "run", backbone, trained)
    if progress:
        print(f"audited run: {did}", flush=True)
    results = json.loads((output / "run" / "results.json").read_text())
    out = {"config": cfg.to_dict(), "attack": "loss threshold (score = −loss of the true label)"
           if not token_task(cfg.data) else "loss threshold (score = −mean loss of the sentence's true tags)",
           "threat_model": "the released model (borderless.load of each paradigm's kept state)",
           "split": "by parallel sentence id: an id is a member in every language or in none",
           "delta": cfg.privacy.delta if cfg.privacy.mechanism != "none" else 1e-5,
           "members_per_language": {l: len(sp.members[l]) for l in langs}, "paradigms": {}}
    if drawn is not None:
        out["canaries"] = {"inserted_times": setup["canaries"], "per_count_per_language": canaries_per_count,
                           "references_per_language": {l: len(drawn.references[l]) for l in langs},
                           "copies_trained_per_language": {l: sum(r for _, r in drawn.inserted[l]) for l in langs}}
    metric = results.get("metric", "accuracy")  # a tagger's entity F1 (NER) or token accuracy (POS)
    out["test_metric_name"] = metric_name(results, metric)
    curves, attacked, kept = {}, {}, {}
    for paradigm in results["paradigms"]:
        model = load(output / "run", paradigm, backbone=backbone)
        try:
            per = {l: (scores(model, sp.members[l], l), scores(model, sp.outsiders[l], l)) for l in langs}
            exposed = _canary_scores(model, drawn, langs) if drawn is not None else None
        finally:
            model.close()
        m = np.concatenate([a for a, _ in per.values()])
        o = np.concatenate([b for _, b in per.values()])
        row = summarise(m, o, out["delta"], bootstrap_rounds)
        row["per_language_auc"] = {l: auc(a, b) for l, (a, b) in per.items()}
        row["test_accuracy"] = results["paradigms"][paradigm]["mean_accuracy"]
        row["test_metric"], row["test_score"] = metric, results["paradigms"][paradigm].get(f"mean_{metric}",
                                                                                            row["test_accuracy"])
        row["privacy_epsilon"] = (results["paradigms"][paradigm].get("privacy") or {}).get("epsilon")
        if exposed is not None:
            row["canaries"] = canary.summarise(exposed)
        out["paradigms"][paradigm] = row
        curves[paradigm] = roc(m, o)
        kept[f"{paradigm}.loss.members"], kept[f"{paradigm}.loss.non_members"] = m, o
        attacked[paradigm] = per
    if lira_shadows:
        pool = {l: sp.members[l] + sp.outsiders[l] for l in langs}
        shadow_data = lambda k: membership.with_members_only(data, lira.half(pool, k, cfg.run.seed))  # noqa: E731
        add = (lambda d: canary.with_canaries(d, drawn)) if drawn is not None else (lambda d: d)
        phis = []
        for k in range(lira_shadows):
            folder = output / "shadows" / f"shadow{k}"
            did = run_or_resume(uncapped, folder, backbone, add(shadow_data(k)))
            if progress:
                print(f"LiRA shadow {k}: {did}", flush=True)
            phis.append(_confidences(folder, list(attacked), pool, backbone))
        sids = [membership.sentence_id(ex) for l in langs for ex in pool[l]]
        was_in = np.array([[lira.in_half(sid, k, cfg.run.seed) for sid in sids] for k in range(lira_shadows)])
        is_member = np.concatenate([[True] * len(sp.members[l]) + [False] * len(sp.outsiders[l]) for l in langs])
        for paradigm, per in attacked.items():
            target = lira.confidence(np.concatenate([-np.concatenate(per[l]) for l in langs]))
            shadows = np.array([np.concatenate([phi[paradigm][l] for l in langs]) for phi in phis])
            sc, info = lira.scores(target, shadows, was_in)
            row = summarise(sc[is_member], sc[~is_member], out["delta"], bootstrap_rounds)
            out["paradigms"][paradigm]["lira"] = {**row, **info}
            kept[f"{paradigm}.lira.members"], kept[f"{paradigm}.lira.non_members"] = sc[is_member], sc[~is_member]
        out["lira"] = {"shadows": lira_shadows, "statistic": "logit-scaled confidence of the true label",
                       "variance": "global (pooled over sentences)", "pool": "the members and scored non-members"}
    if server_view:
        out["server_view"], server = _server_view(output / "run", sp, langs, backbone, out["delta"], bootstrap_rounds)
        kept["federated.server_view.members"], kept["federated.server_view.non_members"] = server
    _keep_scores(output, kept)
    write_text(output / "audit.json", json.dumps(out, indent=2))
    _plot(output, curves)
    write_text(output / "audit.md", report(out))
    return out


def _keep_scores(output: Path, kept: dict) -> None:
    """Every attack's scores, members and non-members (DIR/scores.npz, keys PARADIGM.ATTACK.members and
    .non_members, in audit.json's order), so any metric can be recomputed without the models."""
    arrays = {k: np.asarray(v, dtype=np.float64) for k, v in kept.items()}

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:  # a file object: np.savez would add ".npz" to the temporary name
            np.savez_compressed(fh, **arrays)

    replace_atomically(output / "scores.npz", write)


def _server_view(run: Path, sp, langs: list[str], backbone, delta: float,
                 bootstrap_rounds: int) -> tuple[dict, tuple[np.ndarray, np.ndarray]]:
    """Threat model (b): per pool sentence, the drop in its loss from each round's start to its client's
    update, summed over the rounds its client took part in; members against non-members. Returns the
    summary and the (members, non-members) scores."""
    from borderless.kept_states import ROUND_START, kept_updates
    from borderless.trained_model import load

    rounds = kept_updates(run)
    if not rounds:
        raise ConfigError(f"audit --server-view: {run} kept no federated updates; audit into a new folder (-o)")
    pool = {l: sp.members[l] + sp.outsiders[l] for l in langs}
    total = {l: np.zeros(len(pool[l])) for l in langs}
    per_round, joined = {}, {l: 0 for l in langs}
    model = load(run, "federated", backbone=backbone)
    try:
        for rnd, files in rounds.items():
            model.serve_kept_file(files[ROUND_START])
            before = {l: -scores(model, pool[l], l) for l in langs if l in files}
            drops = {}
            for l in before:
                model.serve_kept_file(files[l])
                drops[l] = before[l] + scores(model, pool[l], l)
                total[l] += drops[l]
                joined[l] += 1
            per_round[rnd] = auc(*_members_and_outsiders(drops, sp))  # the languages that took part
    finally:
        model.close()
    pooled = _members_and_outsiders(total, sp)
    row = summarise(*pooled, delta, bootstrap_rounds)
    row["per_language_auc"] = {l: auc(*_members_and_outsiders({l: total[l]}, sp)) for l in langs}
    row["per_round_auc"] = per_round
    row["rounds_seen"] = joined
    row["attack"] = ("the drop in a sentence's loss from each round's start to its client's update, summed over the "
                     "rounds the client took part in")
    row["threat_model"] = "the honest-but-curious server of the federated paradigm (SecAgg+ off): every client's update"
    return row, pooled


def _members_and_outsiders(scores_by_lang: dict, sp) -> tuple[np.ndarray, np.ndarray]:
    """Pool scores (each language's members, then its non-members) split into members and non-members,
    pooled over the languages given."""
    m = np.concatenate([v[:len(sp.members[l])] for l, v in scores_by_lang.items()])
    o = np.concatenate([v[len(sp.members[l]):] for l, v in scores_by_lang.items()])
    return m, o


def _check_setup(output: Path, setup: dict) -> None:
    """An audit folder's run is reused: refuse, by name, canaries other than those it trained with (a
    folder written before setup.json existed trained without any)."""
    path = output / "setup.json"
    if path.exists():
        was = json.loads(path.read_text())
    elif (output / "run" / "config.toml").exists():
        was = {"canaries": [], "canaries_per_count": 0, "canary_references": 0}
    else:
        return
    if was != setup:
        raise ConfigError(f"audit: {output} holds a run trained with canaries {was['canaries'] or 'none'} "
                          f"({was['canaries_per_count']} per count, {was['canary_references']} references); this call "
                          f"asks for {setup['canaries'] or 'none'} ({setup['canaries_per_count']} per count, "
                          f"{setup['canary_references']} references). Repeat its options, or audit into another "
                          "folder (-o)")


def _confidences(folder: Path, paradigms: list[str], pool: dict, backbone) -> dict:
    """φ of every pool sentence under each paradigm's model of a shadow run, cached in its folder
    (keyed by the sentences' uids, so a changed pool is scored afresh)."""
    from borderless.trained_model import load

    cache = folder / "lira_confidences.json"
    uids = {l: [ex.uid for ex in exs] for l, exs in pool.items()}
    if cache.exists():
        saved = json.loads(cache.read_text())
        if saved.get("uids") == uids and set(paradigms) <= set(saved["phi"]):
            return {p: {l: np.array(v) for l, v in saved["phi"][p].items()} for p in paradigms}
    phi = {}
    for paradigm in paradigms:
        model = load(folder, paradigm, backbone=backbone)
        try:
            phi[paradigm] = {l: lira.confidence(-scores(model, exs, l)) for l, exs in pool.items()}
        finally:
            model.close()
    write_text(cache, json.dumps({"uids": uids, "phi": {p: {l: v.tolist() for l, v in d.items()} for p, d in phi.items()}}))
    return phi


def _check_same_run(folder: Path, cfg: Config) -> None:
    """A finished or killed audited run is reused, and shadows copy its recipe: refuse, naming the keys,
    a config that differs from the one it ran with."""
    from borderless.checkpoint import config_differences
    from borderless.config import load_config

    if not (folder / "config.toml").exists():
        return
    diff = config_differences(load_config(folder / "config.toml").to_dict(), cfg.to_dict())
    if diff:
        raise ConfigError(f"audit: {folder} ran with another config ({', '.join(diff[:6])} differ"
                          f"{', …' if len(diff) > 6 else ''}); pass the config and --set it ran with "
                          f"({folder / 'config.toml'} is it), or audit into another folder (-o)")


def _canary_scores(model, drawn, langs: list[str]) -> dict:
    """Per language: each inserted canary's (loss, predicted as its label?, times inserted), the
    references' losses and hits, all under the inserted (wrong) labels."""
    per = {}
    for lang in langs:
        items = drawn.inserted[lang]
        loss, hit = losses_and_hits(model, [ex for ex, _ in items], lang)
        ref_loss, ref_hit = losses_and_hits(model, drawn.references[lang], lang)
        per[lang] = ([(float(lo), bool(h), r) for lo, h, (_, r) in zip(loss, hit, items)], ref_loss, ref_hit)
    return per


def _ci(pair) -> str:
    return f"[{pair[0]:.3f}, {pair[1]:.3f}]"


def report(a: dict) -> str:
    c = a["config"]
    lines = ["# Membership-inference audit", "",
             f"Method **{c['method']['name']}** on {c['backbone']['name']}, {len(a['members_per_language'])} languages, "
             f"{sum(a['members_per_language'].values())} member sentences and as many non-members; privacy mechanism "
             f"{c['privacy']['mechanism']}. Attack: {a['attack']}; threat model: {a['threat_model']}; split {a['split']}.",
             "", f"| paradigm | test {a['test_metric_name']} | DP ε (accountant) | AUC [95 % CI] | "
             "TPR @ 1 % FPR [95 % CI] | empirical ε lower bound |",
             "|---|---|---|---|---|---|"]
    for p, r in a["paradigms"].items():
        eps = r.get("privacy_epsilon")
        lines.append(f"| {p} | {100 * r['test_score']:.1f} | {'—' if eps is None else f'{eps:.2f}'} | "
                     f"{r['auc']:.3f} {_ci(r['auc_ci95'])} | {r['tpr_at_1pct_fpr']:.3f} {_ci(r['tpr_at_1pct_fpr_ci95'])} | "
                     f"{r['epsilon_lower_bound']:.2f} |")
    if "lira" in a:
        lines += ["", f"## LiRA (offline, {a['lira']['shadows']} shadow runs on random halves of the pool)", "",
                  "| paradigm | AUC [95 % CI] | TPR @ 1 % FPR [95 % CI] | empirical ε lower bound | OUT shadows a sentence |",
                  "|---|---|---|---|---|"]
        for p, r in a["paradigms"].items():
            q = r["lira"]
            lines.append(f"| {p} | {q['auc']:.3f} {_ci(q['auc_ci95'])} | {q['tpr_at_1pct_fpr']:.3f} "
                         f"{_ci(q['tpr_at_1pct_fpr_ci95'])} | {q['epsilon_lower_bound']:.2f} | "
                         f"{q['mean_out_shadows_per_sentence']:.1f} |")
    if "canaries" in a:
        lines += _canary_lines(a)
    if "server_view" in a:
        v = a["server_view"]
        rounds = ", ".join(f"{r}: {x:.3f}" for r, x in v["per_round_auc"].items())
        lines += ["", "## Threat model (b): the server's view of each update", "",
                  f"What an honest-but-curious server learns from the federated clients' updates (SecAgg+ off). Score: "
                  f"{v['attack']}.", "",
                  "| attack | AUC [95 % CI] | TPR @ 1 % FPR [95 % CI] | empirical ε lower bound |", "|---|---|---|---|",
                  f"| server view, all rounds | {v['auc']:.3f} {_ci(v['auc_ci95'])} | {v['tpr_at_1pct_fpr']:.3f} "
                  f"{_ci(v['tpr_at_1pct_fpr_ci95'])} | {v['epsilon_lower_bound']:.2f} |", "",
                  f"AUC of each round's update alone: {rounds}."]
    lines += ["", "AUC 0.5 and TPR 0.01 at 1 % FPR are what guessing gives. The ε lower bound is what this attack "
              "proves with 95 % confidence over all its thresholds at once (Clopper–Pearson, Bonferroni-corrected); "
              "a DP run's accountant ε must be at least it.", "",
              "![ROC](plots/roc.png)", ""]
    return "\n".join(lines)


def _canary_lines(a: dict) -> list[str]:
    c = a["canaries"]
    first = next(iter(a["paradigms"].values()))["canaries"]
    lines = ["", "## Canaries", "",
             f"{c['per_count_per_language']} sentences a language for each count, relabelled at random and inserted "
             f"{', '.join(map(str, c['inserted_times']))} times; exposure against {first['references_per_language']} "
             f"or more never-inserted reference canaries a language (ceiling {first['exposure_ceiling']:.2f} bits; "
             "a canary the model did not memorise has about 1 bit). 'Wrong label predicted': the share of canaries "
             "the model classifies with their inserted label; the references' share is chance.", "",
             "| paradigm | inserted | canaries | mean exposure (bits) | largest | wrong label predicted | references: wrong label predicted |",
             "|---|---|---|---|---|---|---|"]
    for p, r in a["paradigms"].items():
        k = r["canaries"]
        for count, g in k["by_count"].items():
            lines.append(f"| {p} | {count}× | {g['canaries']} | {g['mean_exposure']:.2f} | {g['max_exposure']:.2f} | "
                         f"{100 * g['predicted_as_inserted']:.0f} % | {100 * k['references_predicted_as_wrong_label']:.0f} % |")
    return lines


def _plot(output: Path, curves: dict) -> None:
    from borderless.plotting import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    for p, (f, t) in curves.items():
        ax.plot(np.maximum(f, 1e-4), np.maximum(t, 1e-4), label=p)
    ax.plot([1e-4, 1], [1e-4, 1], color="grey", linestyle=":")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.legend(fontsize=7)
    (output / "plots").mkdir(exist_ok=True)
    save_figure(fig, output / "plots" / "roc.png")
