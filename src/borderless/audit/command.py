"""``borderless audit CONFIG -o DIR``: train the configured paradigms on half the sentence ids (the
members), then attack each paradigm's released model with the loss threshold, members against as
many never-trained sentences of the same splits. Usable on a user's own data: the config is any run
config. Threat model: (a) whoever gets the released model (every paradigm).

DIR/run/ is the ordinary results folder of the audited run (resumable: a killed audit continues its
run from the checkpoint); DIR/audit.json and DIR/audit.md hold, per paradigm, AUC and TPR at 1 %
FPR with bootstrap 95 % intervals and the empirical ε lower bound, pooled over languages and per
language; DIR/plots/roc.png the ROC curves.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from borderless.atomic_files import write_text
from borderless.audit import membership
from borderless.audit.loss_attack import scores
from borderless.audit.metrics import auc, roc, summarise
from borderless.config import Config, ConfigError, refuse_token_task


def audit(cfg: Config, output: Path, backbone=None, progress: bool = True, bootstrap_rounds: int = 1000) -> dict:
    from borderless.backbones.resolve import load_configured
    from borderless.runner import load_data, run_or_resume
    from borderless.trained_model import load

    refuse_token_task(cfg, "audit", "its attacks score one label per sentence")
    if cfg.data.dev_from_train:
        raise ConfigError("audit: data.dev_from_train: the audit's non-members are the training rows no member id "
                          "holds, so none may join dev; set data.dev_from_train = 0 (--set data.dev_from_train=0)")
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    data = load_data(cfg)
    langs = list(cfg.data.languages)
    sp = membership.split(data, langs, cfg.data.max_train_per_language, cfg.run.seed)
    if backbone is None:
        backbone = load_configured(cfg.backbone)
    did = run_or_resume(cfg, output / "run", backbone, membership.with_members_only(data, sp.members))
    if progress:
        print(f"audited run: {did}", flush=True)
    results = json.loads((output / "run" / "results.json").read_text())
    out = {"config": cfg.to_dict(), "attack": "loss threshold (score = −loss of the true label)",
           "threat_model": "the released model (borderless.load of each paradigm's kept state)",
           "split": "by parallel sentence id: an id is a member in every language or in none",
           "delta": cfg.privacy.delta if cfg.privacy.mechanism != "none" else 1e-5,
           "members_per_language": {l: len(sp.members[l]) for l in langs}, "paradigms": {}}
    curves = {}
    for paradigm in results["paradigms"]:
        model = load(output / "run", paradigm, backbone=backbone)
        try:
            per = {l: (scores(model, sp.members[l], l), scores(model, sp.outsiders[l], l)) for l in langs}
        finally:
            model.close()
        m = np.concatenate([a for a, _ in per.values()])
        o = np.concatenate([b for _, b in per.values()])
        row = summarise(m, o, out["delta"], bootstrap_rounds)
        row["per_language_auc"] = {l: auc(a, b) for l, (a, b) in per.items()}
        row["test_accuracy"] = results["paradigms"][paradigm]["mean_accuracy"]
        row["privacy_epsilon"] = (results["paradigms"][paradigm].get("privacy") or {}).get("epsilon")
        out["paradigms"][paradigm] = row
        curves[paradigm] = roc(m, o)
    write_text(output / "audit.json", json.dumps(out, indent=2))
    _plot(output, curves)
    write_text(output / "audit.md", report(out))
    return out


def _ci(pair) -> str:
    return f"[{pair[0]:.3f}, {pair[1]:.3f}]"


def report(a: dict) -> str:
    c = a["config"]
    lines = ["# Membership-inference audit", "",
             f"Method **{c['method']['name']}** on {c['backbone']['name']}, {len(a['members_per_language'])} languages, "
             f"{sum(a['members_per_language'].values())} member sentences and as many non-members; privacy mechanism "
             f"{c['privacy']['mechanism']}. Attack: {a['attack']}; threat model: {a['threat_model']}; split {a['split']}.",
             "", "| paradigm | test acc. | DP ε (accountant) | AUC [95 % CI] | TPR @ 1 % FPR [95 % CI] | empirical ε lower bound |",
             "|---|---|---|---|---|---|"]
    for p, r in a["paradigms"].items():
        eps = r.get("privacy_epsilon")
        lines.append(f"| {p} | {100 * r['test_accuracy']:.1f} | {'—' if eps is None else f'{eps:.2f}'} | "
                     f"{r['auc']:.3f} {_ci(r['auc_ci95'])} | {r['tpr_at_1pct_fpr']:.3f} {_ci(r['tpr_at_1pct_fpr_ci95'])} | "
                     f"{r['epsilon_lower_bound']:.2f} |")
    lines += ["", "AUC 0.5 and TPR 0.01 at 1 % FPR are what guessing gives. The ε lower bound is what this attack "
              "proves with 95 % confidence (Clopper–Pearson); a DP run's accountant ε must be at least it.", "",
              "![ROC](plots/roc.png)", ""]
    return "\n".join(lines)


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
