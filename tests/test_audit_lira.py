"""Offline LiRA: shadow halves by parallel sentence id, the logit-scaled confidence, the score against
the OUT shadows, and `borderless audit --lira` end to end on a tiny run (shadows resumable and cached)."""

import json
import math

import numpy as np
import pytest

from borderless.audit import lira
from borderless.audit.command import audit
from borderless.audit.metrics import auc
from borderless.cli import main
from borderless.config import ConfigError, load_config
from borderless.data.types import Example
from conftest import tiny_config_text


def test_a_shadow_half_holds_an_id_in_every_language_or_in_none_and_shadows_differ():
    pool = {l: [Example(f"{l}/{i}", "t", 0, l) for i in range(200)] for l in ("eng_Latn", "hau_Latn")}
    h0, h1 = lira.half(pool, 0, 0), lira.half(pool, 1, 0)
    ids = lambda h, l: {ex.uid.split("/")[1] for ex in h[l]}  # noqa: E731
    assert ids(h0, "eng_Latn") == ids(h0, "hau_Latn") and 70 < len(h0["eng_Latn"]) < 130
    assert ids(h0, "eng_Latn") != ids(h1, "eng_Latn")


def test_confidence_is_the_log_odds_of_the_true_label():
    p = np.array([0.5, 0.9, 0.01])
    assert lira.confidence(-np.log(p)) == pytest.approx(np.log(p / (1 - p)))
    assert np.isfinite(lira.confidence(np.array([0.0, 50.0]))).all()  # certain either way: finite


def test_the_score_is_how_far_above_the_out_shadows_a_sentence_sits():
    rng = np.random.default_rng(0)
    n, k = 400, 8
    was_in = rng.random((k, n)) < 0.5
    base = rng.normal(0, 2, n)  # each sentence's own difficulty, the same for every model
    member = np.arange(n) < n // 2
    shadows = base + rng.normal(0, 0.3, (k, n)) + 1.5 * was_in  # a model that trained on x is more confident
    target = base + rng.normal(0, 0.3, n) + 1.5 * member
    s, info = lira.scores(target, shadows, was_in)
    assert info["shadows"] == k and info["mean_out_shadows_per_sentence"] == pytest.approx((~was_in).sum(0).mean())
    assert s[member].mean() > 0.8 and s[~member].mean() < 0.7  # members stand out once difficulty is removed
    # a raw confidence threshold cannot separate them this well: difficulty dominates
    from borderless.audit.metrics import auc
    assert auc(s[member], s[~member]) > auc(target[member], target[~member]) + 0.2
    never_out = np.ones((k, n), dtype=bool)
    s2, info2 = lira.scores(target, shadows, never_out)
    assert (s2 == 0.5).all() and info2["sentences_without_an_out_shadow"] == n and math.isfinite(info2["sigma"])


@pytest.mark.slow  # a tiny audit and its reruns: about 5 s here
def test_an_audit_with_lira_trains_shadows_once_and_reports_both_attacks(sib200_dir, tmp_path, tiny_backbone):
    p = tmp_path / "c.toml"
    p.write_text(tiny_config_text(sib200_dir, extra='[run]\nparadigms = ["monolingual", "federated"]\n'))
    cfg = load_config(p, ["data.max_train_per_language=8"])
    out = audit(cfg, tmp_path / "a", backbone=tiny_backbone, progress=False, bootstrap_rounds=20, lira_shadows=2)
    assert out["lira"]["shadows"] == 2
    for r in out["paradigms"].values():
        q = r["lira"]
        assert 0 <= q["auc"] <= 1 and q["shadows"] == 2 and 0 < q["mean_out_shadows_per_sentence"] < 2
    for k in (0, 1):  # each shadow trained its own half of the pool, every paradigm
        res = json.loads((tmp_path / "a" / "shadows" / f"shadow{k}" / "results.json").read_text())
        assert set(res["paradigms"]) == {"monolingual", "federated"}
        assert (tmp_path / "a" / "shadows" / f"shadow{k}" / "lira_confidences.json").exists()
    assert "## LiRA (offline, 2 shadow runs" in (tmp_path / "a" / "audit.md").read_text()
    kept = np.load(tmp_path / "a" / "scores.npz")  # LiRA's scores are kept beside the loss attack's
    for paradigm, r in out["paradigms"].items():
        assert auc(kept[f"{paradigm}.lira.members"], kept[f"{paradigm}.lira.non_members"]) == r["lira"]["auc"]
    cached = (tmp_path / "a" / "shadows" / "shadow0" / "results.json").stat().st_mtime
    again = audit(cfg, tmp_path / "a", backbone=tiny_backbone, progress=False, bootstrap_rounds=20, lira_shadows=2)
    assert again["paradigms"]["federated"]["lira"]["auc"] == out["paradigms"]["federated"]["lira"]["auc"]
    assert (tmp_path / "a" / "shadows" / "shadow0" / "results.json").stat().st_mtime == cached  # not retrained
    with pytest.raises(ConfigError, match=r"ran with another config \(train.lr differ"):  # shadows copy the run's recipe
        audit(load_config(p, ["data.max_train_per_language=8", "train.lr=0.5"]), tmp_path / "a", backbone=tiny_backbone,
              progress=False, lira_shadows=2)


def test_the_command_refuses_a_single_shadow(tmp_path, capsys):
    assert main(["audit", "configs/demo.toml", "-o", str(tmp_path / "x"), "--lira", "1"]) == 2
    assert "--lira takes how many shadow runs" in capsys.readouterr().err


def test_lira_alone_means_eight_shadows_and_a_number_overrides_it():
    from borderless.cli import build_parser

    parse = lambda *extra: build_parser().parse_args(["audit", "configs/demo.toml", "-o", "x", *extra])  # noqa: E731
    assert parse().lira == 0
    assert parse("--lira").lira == 8
    assert parse("--lira", "4").lira == 4
    assert parse("--lira", "--server-view").lira == 8
