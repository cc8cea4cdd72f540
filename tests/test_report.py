"""Reports: the seeds report (mean ± std over runs of one config) and its refusal of mixed configs."""

import json

import pytest

from borderless.cli import main
from borderless.config import load_config
from borderless.runner import run
from conftest import tiny_config_text


def test_seeds_report_is_mean_and_std_of_the_runs(tmp_path, sib200_dir, tiny_backbone, capsys):
    p = tmp_path / "c.toml"
    p.write_text(tiny_config_text(sib200_dir, ("eng_Latn", "hau_Latn", "amh_Ethi")))
    runs = []
    for seed in (0, 1):
        cfg = load_config(p, [f"run.seed={seed}", "federated.rounds=1", 'run.paradigms=["monolingual", "federated"]'])
        runs.append(run(cfg, tmp_path / f"s{seed}", progress=False, backbone=tiny_backbone))
    assert main(["report", str(tmp_path / "s0"), str(tmp_path / "s1"), "-o", str(tmp_path / "seeds")]) == 0
    summary = json.loads((tmp_path / "seeds" / "results.json").read_text())
    means = [r.results["paradigms"]["federated"]["mean_accuracy"] for r in runs]
    assert summary["paradigms"]["federated"]["mean_accuracy"][0] == pytest.approx(sum(means) / 2)
    gains = [r.results["paradigms"]["federated"]["mean_accuracy"] - r.results["paradigms"]["monolingual"]["mean_accuracy"]
             for r in runs]
    assert summary["gains"]["federated − monolingual"][0] == pytest.approx(sum(gains) / 2)
    margins = [r.results["paradigms"]["federated"]["mean_accuracy"] - r.results["probes"]["federated"]["mean_accuracy"]
               for r in runs]
    assert summary["paradigms"]["federated"]["margin_over_probe_per_seed"] == pytest.approx(margins)
    assert summary["paradigms"]["federated"]["margin_over_probe"][0] == pytest.approx(sum(margins) / 2)
    report = (tmp_path / "seeds" / "report.md").read_text()
    assert "probe: fed" in report and "federated − monolingual" in report
    assert ", ".join(f"{100 * m:+.1f}" for m in margins) in report  # the margin of each seed, in points
    # a run written before a config key existed compares equal when the key has its default
    old = json.loads((tmp_path / "s1" / "results.json").read_text())
    del old["config"]["data"]["zero_shot_dataset"], old["config"]["train"]["patience"]
    (tmp_path / "s1" / "results.json").write_text(json.dumps(old))
    assert main(["report", str(tmp_path / "s0"), str(tmp_path / "s1"), "-o", str(tmp_path / "seeds2")]) == 0
    # runs of different configs are refused, naming them
    other = run(load_config(p, ["federated.rounds=2", 'run.paradigms=["monolingual", "federated"]']), tmp_path / "x",
                progress=False, backbone=tiny_backbone)
    assert main(["report", str(tmp_path / "s0"), str(other.folder), "-o", str(tmp_path / "bad")]) == 2
    assert "differ in more than run.seed" in capsys.readouterr().err


@pytest.mark.parametrize("method, part", [("lora", "LoRA adapter"), ("prompt", "prompt")])
def test_the_report_names_what_the_learning_rate_moves(tmp_path, sib200_dir, tiny_backbone, method, part):
    p = tmp_path / "c.toml"
    p.write_text(tiny_config_text(sib200_dir, ("eng_Latn", "hau_Latn")))
    cfg = load_config(p, [f'method.name="{method}"', "federated.rounds=1", 'run.paradigms=["federated"]'])
    report = (run(cfg, tmp_path / "r", progress=False, backbone=tiny_backbone).folder / "report.md").read_text()
    assert f"lr {cfg.train.lr:g} ({part})," in report and f"start from the same initial {part};" in report


def _stopped(stop: str, **steps: int) -> dict:
    return {"config": {"train": {"stop": stop}}, "paradigms": {p: {"optimizer_steps": n} for p, n in steps.items()}}


def test_the_report_notes_paradigms_that_stopped_at_unequal_steps():
    from borderless.report import step_gap_note

    # the decoder PAWS-X LoRA cell: alone, four of five languages ran out of patience within 80 steps
    (note,) = step_gap_note(_stopped("dev", monolingual=380, federated=1600))
    assert "monolingual 380, federated 1,600" in note and "monolingual took under half of federated's" in note
    assert step_gap_note(_stopped("dev", monolingual=900, federated=1600)) == []  # over half: no note
    assert step_gap_note(_stopped("budget", monolingual=380, federated=1600)) == []  # not stopped on dev
    assert step_gap_note(_stopped("dev", federated=1600)) == []  # nothing to compare
