"""`borderless audit` end to end on a tiny run: trains on the members only, attacks every paradigm's
released model, writes the report; a killed audit's run continues instead of starting over."""

import json

import numpy as np

from borderless.audit import membership
from borderless.audit.command import audit
from borderless.audit.metrics import auc, epsilon_lower_bound
from borderless.config import load_config
from borderless.runner import load_data
from conftest import tiny_config_text


def test_audit_trains_on_members_and_reports_every_paradigm(sib200_dir, tmp_path, tiny_backbone):
    p = tmp_path / "c.toml"
    p.write_text(tiny_config_text(sib200_dir, extra='[run]\nparadigms = ["monolingual", "federated"]\n'))
    cfg = load_config(p)
    out = audit(cfg, tmp_path / "audit", backbone=tiny_backbone, progress=False, bootstrap_rounds=50)
    assert set(out["paradigms"]) == {"monolingual", "federated"}
    for r in out["paradigms"].values():
        assert 0 <= r["auc"] <= 1 and r["auc_ci95"][0] <= r["auc"] <= r["auc_ci95"][1]
        assert r["epsilon_lower_bound"] >= 0 and set(r["per_language_auc"]) == set(cfg.data.languages)
    sp = membership.split(load_data(cfg), list(cfg.data.languages), cfg.data.max_train_per_language, cfg.run.seed)
    results = json.loads((tmp_path / "audit" / "run" / "results.json").read_text())
    for lang in cfg.data.languages:  # the audited run trained on exactly the members
        assert results["examples"][lang]["train"] == len(sp.members[lang]) == out["members_per_language"][lang]
    text = (tmp_path / "audit" / "audit.md").read_text()
    assert "| monolingual |" in text and "TPR @ 1 % FPR" in text
    assert (tmp_path / "audit" / "plots" / "roc.png").exists()
    kept = np.load(tmp_path / "audit" / "scores.npz")  # the scores recompute the report without the models
    for paradigm, r in out["paradigms"].items():
        m, o = kept[f"{paradigm}.loss.members"], kept[f"{paradigm}.loss.non_members"]
        assert len(m) == r["members"] and len(o) == r["non_members"]
        assert auc(m, o) == r["auc"] and epsilon_lower_bound(m, o, out["delta"]) == r["epsilon_lower_bound"]
    again = audit(cfg, tmp_path / "audit", backbone=tiny_backbone, progress=False, bootstrap_rounds=50)
    assert again["paradigms"]["federated"]["auc"] == out["paradigms"]["federated"]["auc"]  # the run was reused
