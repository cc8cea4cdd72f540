"""scripts/heldout_draws.py: draws that never touch a committed config's language, stable as draws are
added, and a summary whose margins, gains and worst cases are the runs' own numbers."""

import json

import pytest

from conftest import script_module

h = script_module("heldout_draws")


def test_draws_avoid_every_committed_language_and_do_not_move_when_more_are_added():
    used = h.committed_languages()
    assert {"eng_Latn", "hau_Latn", "yor_Latn", "ibo_Latn", "kaz_Cyrl"} <= used  # demo, languages_v2 zero-shot
    pool = [f"l{i:03d}_Latn" for i in range(40)] + sorted(used)
    free = sorted(set(pool) - used)
    five, seven = h.draws(free, 5), h.draws(free, 7)
    assert seven[:5] == five
    assert all(len(d) == 6 == len(set(d)) and not set(d) & used for d in seven)
    assert len({tuple(d) for d in seven}) == 7


def _summary(langs, mono, fed, central, probes):
    acc = lambda vals: {l: v for l, v in zip(langs, vals)}  # noqa: E731
    mean = lambda vals: sum(vals) / len(vals)  # noqa: E731
    p = {}
    for name, vals in (("monolingual", mono), ("federated", fed), ("centralized", central)):
        p[name] = {"test_accuracy": acc(vals), "mean_accuracy": mean(vals), "probe_mean_accuracy": probes[name],
                   "wall_s": 1.0}
    return {"languages": langs, "majority_class_accuracy": acc([0.25] * len(langs)), "paradigms": p,
            "tokenization": {l: {"tokens_per_word": 1.5 + i, "unk_percent": float(i)} for i, l in enumerate(langs)}}


def test_the_summary_reports_margins_gains_and_the_worst_draw(tmp_path, monkeypatch):
    langs = ["aaa_Latn", "bbb_Latn", "ccc_Latn"]
    a = h.draw_row(_summary(langs, [0.5, 0.6, 0.7], [0.6, 0.6, 0.9], [0.7, 0.7, 0.7],
                            {"monolingual": 0.62, "federated": 0.65, "centralized": 0.66}))
    b = h.draw_row(_summary(langs, [0.7, 0.7, 0.7], [0.6, 0.7, 0.8], [0.7, 0.7, 0.7],
                            {"monolingual": 0.69, "federated": 0.72, "centralized": 0.69}))
    assert a["monolingual"]["margin"] == pytest.approx(-0.02)  # 0.60 mean against 0.62: flagged
    assert a["fed_minus_mono"] == pytest.approx(0.1) and b["fed_minus_mono"] == pytest.approx(0.0)
    assert a["per_language"]["ccc_Latn"]["fed_minus_mono"] == pytest.approx(0.2)
    for row in (a, b):
        for i, l in enumerate(langs):
            row["per_language"][l]["distance_to_draw"] = 0.1 * (i + 1)
    h.write_summary(tmp_path, {"draw0/seed0": a, "draw1/seed0": b}, {"draw0/seed0": 600.0})
    text = (tmp_path / "summary.md").read_text()
    assert "| monolingual − its probe | -0.5 | -2.0 | +1.0 |" in text  # mean of −2.0 and +1.0, worst, best
    assert "| fed − mono | +5.0 | +0.0 | +10.0 |" in text
    assert "60.0 (62.0) -2.0 ⚠" in text and "70.0 (69.0) +1.0 |" in text  # only the first is flagged
    assert "| 10.0 |" in text  # the 600 s the first draw cost, in minutes
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["runs"]["draw1/seed0"]["federated"]["margin"] == pytest.approx(-0.02)


def test_the_summary_says_where_the_probe_candidate_kept_the_probe(tmp_path):
    langs = ["aaa_Latn", "bbb_Latn", "ccc_Latn"]
    s = _summary(langs, [0.6, 0.6, 0.6], [0.7, 0.7, 0.7], [0.7, 0.7, 0.7],
                 {"monolingual": 0.6, "federated": 0.65, "centralized": 0.66})
    s["paradigms"]["monolingual"]["chosen_on_dev"] = {"aaa_Latn": "probe", "bbb_Latn": "tuned", "ccc_Latn": "probe"}
    s["paradigms"]["federated"]["chosen_on_dev"] = {"all": "tuned"}
    row = h.draw_row(s)
    assert (row["monolingual"]["probe_kept"], row["monolingual"]["choices"]) == (2, 3)
    assert "probe_kept" not in row["centralized"]  # no probe candidate in that run
    h.write_summary(tmp_path, {"draw0/seed0": row}, {})
    text = (tmp_path / "summary.md").read_text()
    assert "60.0 (60.0) +0.0 · probe 2/3 |" in text and "70.0 (65.0) +5.0 · probe 0/1 |" in text
    assert "70.0 (66.0) +4.0 |" in text


def test_summary_only_rewrites_the_summary_from_finished_runs_without_a_backbone(tmp_path, monkeypatch):
    langs = ["aaa_Latn", "bbb_Latn", "ccc_Latn", "ddd_Latn", "eee_Latn", "fff_Latn", "ggg_Latn"]
    monkeypatch.setattr(h, "_sib200_languages", lambda: langs)
    monkeypatch.setattr(h, "committed_languages", lambda: set())
    monkeypatch.setattr(h, "add_distances", lambda row: None)
    drawn = h.draws(langs, 1)[0]
    run = tmp_path / "draw0" / "seed0"
    run.mkdir(parents=True)
    (run / "results.json").write_text(json.dumps(_summary(drawn, [0.5] * 6, [0.6] * 6, [0.7] * 6,
                                                          {"monolingual": 0.5, "federated": 0.5, "centralized": 0.5})))
    monkeypatch.chdir(h.REPO)  # a --base relative to the working folder, as the docstring shows it
    assert h.main(["--draws", "1", "--summary-only", "--base", "configs/demo.toml", "-o", str(tmp_path)]) == 0
    assert "| fed − mono | +10.0 | +10.0 | +10.0 |" in (tmp_path / "summary.md").read_text()
    assert json.loads((tmp_path / "draws.json").read_text())["base"] == "configs/demo.toml"


def test_set_changes_the_recipe_of_every_run(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr("borderless.runner.run_or_resume", lambda cfg, folder, backbone: seen.append(cfg) or "done")
    h.run_one(h.REPO / "configs" / "demo.toml", ["bel_Cyrl", "vie_Latn"], 3, tmp_path, None,
              ("data.dev_from_train=300", "federated.rounds=4"))
    (cfg,) = seen
    assert cfg.data.dev_from_train == 300 and cfg.federated.rounds == 4
    assert cfg.data.languages == ("bel_Cyrl", "vie_Latn") and cfg.run.seed == 3  # the draw's own keys win


def test_a_folder_run_with_another_recipe_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    monkeypatch.setattr(h, "_sib200_languages", lambda: [f"{c * 3}_Latn" for c in "abcdefg"])
    monkeypatch.setattr(h, "committed_languages", lambda: set())
    recorded = {"pool_size": 7, "base": "configs/demo_prompt.toml", "set": [], "draws": {}}
    (tmp_path / "draws.json").write_text(json.dumps(recorded))
    monkeypatch.chdir(h.REPO)
    with pytest.raises(SystemExit, match="demo_prompt.toml.*Pass --base configs/demo_prompt.toml"):
        h.main(["--draws", "1", "--summary-only", "--base", "configs/demo.toml", "-o", str(tmp_path)])
    with pytest.raises(SystemExit, match=r"Pass --base configs/demo_prompt.toml --set 'train.lr=0.1'"):
        recorded["set"] = ["train.lr=0.1"]
        (tmp_path / "draws.json").write_text(json.dumps(recorded))
        h.main(["--draws", "1", "--summary-only", "--base", "configs/demo_prompt.toml", "-o", str(tmp_path)])
    assert json.loads((tmp_path / "draws.json").read_text()) == recorded  # nothing rewritten
    assert h.main(["--draws", "1", "--summary-only", "--base", "configs/demo_prompt.toml", "--set", "train.lr=0.1",
                   "-o", str(tmp_path)]) == 0
