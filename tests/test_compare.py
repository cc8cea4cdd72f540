"""`borderless compare` on a tiny random model: a real 2 × 2 matrix (methods × paradigms) with two
seeds, cell reuse after an interruption, stale cells refused, the data-efficiency sweep, sharding."""

import json
import shutil

import pytest

from borderless.cli import main
from borderless.compare import Cell, StaleCellError, cell_config, plan_cells, run_compare
from borderless.compare_report import bytes_to_final
from borderless.config import ConfigError, load_config
from borderless.runner import run
from tests.conftest import tiny_config_text

MATRIX = """
[compare]
methods = ["prompt", "head"]
paradigms = ["monolingual", "federated_non_iid"]
seeds = [0, 1]
"""


def _cfg(tmp_path, sib200_dir, extra=MATRIX):
    path = tmp_path / "study.toml"
    path.write_text(tiny_config_text(sib200_dir) + extra)
    return load_config(path)


def test_plan_and_cell_configs(tmp_path, sib200_dir):
    cfg = _cfg(tmp_path, sib200_dir, MATRIX.replace("seeds = [0, 1]", "seeds = [0, 1]\nfractions = [0.5, 1.0]\n"
                                                   "overrides = { head = [\"train.lr=0.2\"] }"))
    cells = plan_cells(cfg)
    # 2 methods × 2 paradigms × 2 seeds at 100 %, plus prompt × 2 paradigms × 2 seeds at 50 %
    assert len(cells) == 8 + 4
    assert cells[0] == Cell("prompt", "monolingual", 0, 1.0)
    assert {c.method for c in cells if c.fraction == 0.5} == {"prompt"}
    head = cell_config(cfg, Cell("head", "federated_non_iid", 1, 1.0))
    assert (head.method.name, head.run.seed, head.run.paradigms, head.data.partition, head.train.lr) == \
        ("head", 1, ("federated",), "language", 0.2)
    iid = cell_config(cfg, Cell("prompt", "federated_iid", 0, 0.5))
    assert (iid.data.partition, iid.data.train_fraction, iid.train.lr) == ("iid", 0.5, 0.01)


def test_bad_compare_section_names_the_key(tmp_path, sib200_dir):
    with pytest.raises(ConfigError, match=r"compare.methods.*'lora'"):
        _cfg(tmp_path, sib200_dir, MATRIX.replace('"head"]', '"lorra"]'))
    with pytest.raises(ConfigError, match="compare.paradigms"):
        _cfg(tmp_path, sib200_dir, MATRIX.replace('"monolingual"', '"federated"'))
    bad = _cfg(tmp_path, sib200_dir, MATRIX + 'overrides = { head = ["train.lrr=0.2"] }\n')
    with pytest.raises(ConfigError, match=r"compare.overrides.head.*lrr"):
        run_compare(bad, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()  # nothing written


@pytest.mark.slow
def test_compare_runs_matrix_reuses_cells_and_refuses_stale(tmp_path, sib200_dir, tiny_backbone):
    cfg = _cfg(tmp_path, sib200_dir)
    out = run_compare(cfg, tmp_path / "study", progress=False, backbone=tiny_backbone)
    assert len(out.ran) == 8 and not out.reused
    s = out.summary
    assert not s["cells_missing"]
    assert {(g["method"], g["paradigm"]) for g in s["groups"]} == {
        (m, p) for m in ("prompt", "head") for p in ("monolingual", "federated_non_iid")}
    for g in s["groups"]:
        # mean ± std really come from the two seeds' cells
        cells = [json.loads((tmp_path / "study" / "cells" / g["method"] / g["paradigm"] / "frac1" / f"seed{sd}"
                             / "results.json").read_text()) for sd in (0, 1)]
        accs = [next(iter(c["paradigms"].values()))["mean_accuracy"] for c in cells]
        assert g["mean_accuracy"]["mean"] == pytest.approx(sum(accs) / 2)
        assert g["mean_accuracy"]["std"] == pytest.approx(abs(accs[0] - accs[1]) / 2 ** 0.5)
        assert g["bytes_per_client_per_round"] == (0 if g["paradigm"] == "monolingual" else
                                                   4 * g["trainable_parameters"])
    head = next(g for g in s["groups"] if g["method"] == "head")
    prompt = next(g for g in s["groups"] if g["method"] == "prompt")
    assert head["trainable_parameters"] < prompt["trainable_parameters"]
    report = (tmp_path / "study" / "report.md").read_text()
    assert "prompt<br>fed-non-IID" in report and "Against the paper's claims" in report
    for name in ("accuracy_by_language", "accuracy_over_rounds", "accuracy_vs_parameters"):
        assert (tmp_path / "study" / "plots" / f"{name}.png").stat().st_size > 1000
    merged = (tmp_path / "study" / "metrics.jsonl").read_text().splitlines()
    assert {json.loads(line)["seed"] for line in merged} == {0, 1}

    # interrupted: one cell lost its results.json → only that cell runs again
    victim = tmp_path / "study" / "cells" / "head" / "monolingual" / "frac1" / "seed1"
    (victim / "results.json").unlink()
    again = run_compare(cfg, tmp_path / "study", progress=False, backbone=tiny_backbone)
    assert again.ran == ["head/monolingual/frac1/seed1"] and len(again.reused) == 7
    def numbers(summary):
        return [(g["method"], g["paradigm"], g["accuracy"], g["dev_curves"]) for g in summary["groups"]]

    assert numbers(again.summary) == numbers(out.summary)  # deterministic: the rerun cell gives the same numbers

    # adding a seed keeps the finished cells
    more = load_config(tmp_path / "study.toml", ["compare.seeds=[0, 1, 2]"])
    calls = []
    run_compare(more, tmp_path / "study", progress=False, backbone=tiny_backbone,
                run_cell=lambda c, folder, **kw: calls.append(folder) or run(c, folder, **kw))
    assert len(calls) == 4 and all(p.name == "seed2" for p in calls)

    # a changed setting is refused, naming a cell, and nothing is touched
    before = (victim / "results.json").read_text()
    changed = load_config(tmp_path / "study.toml", ["train.lr=0.05"])
    with pytest.raises(StaleCellError, match="different config"):
        run_compare(changed, tmp_path / "study", progress=False, backbone=tiny_backbone)
    assert (victim / "results.json").read_text() == before


@pytest.mark.slow
def test_data_efficiency_sweep_and_shards(tmp_path, sib200_dir, tiny_backbone):
    cfg = _cfg(tmp_path, sib200_dir, """
[compare]
methods = ["head"]
paradigms = ["centralized", "federated_iid"]
seeds = [0]
fractions = [0.25, 1.0]
fraction_methods = ["head"]
""")
    first = run_compare(cfg, tmp_path / "eff", progress=False, backbone=tiny_backbone, shard=(0, 2))
    assert len(first.ran) == 2 and first.summary["cells_missing"]
    assert "Incomplete" in (tmp_path / "eff" / "report.md").read_text()
    second = run_compare(cfg, tmp_path / "eff", progress=False, backbone=tiny_backbone, shard=(1, 2))
    assert len(second.ran) == 2 and not second.summary["cells_missing"]
    groups = {(g["paradigm"], g["fraction"]): g for g in second.summary["groups"]}
    for p in ("centralized", "federated_iid"):
        full, quarter = groups[(p, 1.0)], groups[(p, 0.25)]
        for lang, n in full["train_examples_per_language"].items():
            assert quarter["train_examples_per_language"][lang] == round(0.25 * n)
    assert "Data efficiency" in (tmp_path / "eff" / "report.md").read_text()
    assert (tmp_path / "eff" / "plots" / "data_efficiency.png").exists()


def test_bytes_to_final_accuracy():
    rows = [{"round": r, "client": c, "bytes_up": 10, "bytes_down": 10} for r in (1, 2, 3) for c in "ab"]
    rows += [{"round": 1, "split": "dev", "accuracy": 0.2}, {"round": 2, "split": "dev", "accuracy": 0.5},
             {"round": 3, "split": "dev", "accuracy": 0.5}]
    assert bytes_to_final(rows) == (2, 80)  # reached 0.5 at round 2: 2 rounds × 2 clients × 20 bytes
    assert bytes_to_final([r for r in rows if "split" in r]) == (None, None)


def test_cli_compare(tmp_path, sib200_dir, capsys):
    path = tmp_path / "study.toml"
    path.write_text(tiny_config_text(sib200_dir) + MATRIX.replace("seeds = [0, 1]", "seeds = [0]")
                    .replace('"prompt", "head"', '"head"'))
    assert main(["compare", str(path), "-o", str(tmp_path / "s"), "--quiet"]) == 0
    assert "2 cell(s) run, 0 reused" in capsys.readouterr().out
    assert main(["compare", str(path), "-o", str(tmp_path / "s"), "--quiet"]) == 0
    assert "0 cell(s) run, 2 reused" in capsys.readouterr().out
    assert main(["compare", str(path), "-o", str(tmp_path / "s"), "--shard", "3/2"]) == 2
    shutil.rmtree(tmp_path / "s")


@pytest.mark.slow
def test_compare_aggregators_zero_shot_and_report_rebuild(tmp_path, sib200_dir, tiny_backbone, capsys):
    text = tiny_config_text(sib200_dir).replace("[backbone]", 'zero_shot = ["amh_Ethi"]\n[backbone]') + """
[compare]
methods = ["prompt"]
paradigms = ["monolingual", "federated_non_iid"]
aggregators = ["fedavg", "distance"]
seeds = [0]
"""
    path = tmp_path / "agg.toml"
    path.write_text(text)
    cfg = load_config(path)
    assert [c.paradigm for c in plan_cells(cfg)] == ["monolingual", "federated_non_iid@fedavg",
                                                     "federated_non_iid@distance"]
    out = run_compare(cfg, tmp_path / "agg", progress=False, backbone=tiny_backbone)
    dist = cell_config(cfg, Cell("prompt", "federated_non_iid@distance", 0, 1.0))
    assert dist.federated.aggregator == "distance"
    report = (tmp_path / "agg" / "report.md").read_text()
    assert "Distance-aware aggregation vs FedAvg" in report and "amh_Ethi (zero-shot)" in report
    assert "fed-non-IID (distance)" in report
    g = {x["paradigm"]: x for x in out.summary["groups"]}
    assert set(g["monolingual"]["zero_shot_accuracy"]) == {"amh_Ethi"}
    (tmp_path / "agg" / "report.md").unlink()
    assert main(["report", str(tmp_path / "agg")]) == 0
    assert "Distance-aware aggregation vs FedAvg" in (tmp_path / "agg" / "report.md").read_text()
    assert main(["report", str(tmp_path)]) == 2  # not a results folder
    capsys.readouterr()
