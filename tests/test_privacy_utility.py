"""scripts/privacy_utility.py: every cell is the demo recipe with DP as the only difference between
cells, and the summary's rows are the runs' own numbers."""

import json
import math

from borderless.config import load_config
from conftest import script_module

u = script_module("privacy_utility")


def test_cells_differ_only_in_the_privacy_keys():
    base = u.REPO / "configs" / "demo_prompt.toml"
    none = load_config(base, u.overrides("prompt", math.inf, 0))
    eight = load_config(base, u.overrides("prompt", 8.0, 0))
    assert none.privacy.mechanism == "none" and not none.train.probe_candidate
    assert eight.privacy.mechanism == "example" and eight.privacy.target_epsilon == 8.0
    a, b = none.to_dict(), eight.to_dict()
    assert {s for s in a if a[s] != b[s]} == {"privacy"}
    assert a["method"]["head_init"] == "probe"  # LP-FT in both: the DP cell's probe is fitted with DP-SGD
    assert u.cell_folder(u.REPO, "prompt", math.inf, 2).parts[-2:] == ("epsinf", "seed2")


def test_a_recipe_change_acts_in_every_cell_and_needs_its_own_folder(tmp_path, capsys):
    import pytest

    cfg = load_config(u.REPO / "configs" / "demo_prompt.toml",
                      u.overrides("prompt", 8.0, 0, ["train.batch_size=32", "train.lr=0.3"]))
    assert cfg.train.batch_size == 32 and cfg.train.lr == 0.3 and cfg.privacy.target_epsilon == 8.0
    for argv, says in ((["--set", "train.lr=0.3"], "a folder of its own"),
                       (["--set", "privacy.target_epsilon=2", "-o", str(tmp_path)], "privacy keys are the grid's")):
        with pytest.raises(SystemExit) as info:
            u.main(argv)
        assert info.value.code == 2 and says in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # refused before anything was written


def test_the_summary_reports_each_cells_numbers(tmp_path):
    def cell(eps_name, acc, eps, dp_probe):
        folder = tmp_path / "prompt" / eps_name / "seed0"
        folder.mkdir(parents=True)
        paradigms = {p: {"mean_accuracy": acc, "probe_mean_accuracy": 0.7, "wall_s": 10.0,
                         **({"privacy": {"epsilon": eps}, "dp_probe_mean_accuracy": dp_probe} if eps else {})}
                     for p in u.PARADIGMS}
        (folder / "results.json").write_text(json.dumps({"languages": ["a", "b"], "paradigms": paradigms,
                                                         "majority_class_accuracy": {"a": 0.25, "b": 0.25}}))
    cell("eps8", 0.55, 7.99, 0.54)
    cell("epsinf", 0.72, None, None)
    u.write_summary(tmp_path)
    text = (tmp_path / "summary.md").read_text()
    assert "| prompt | 8 | 0 | monolingual | 55.0 | 54.0 | 70.0 | 25.0 | 7.99 |" in text
    assert "| prompt | ∞ | 0 | federated | 72.0 | — | 70.0 | 25.0 | ∞ (no DP) |" in text
    assert (tmp_path / "plots" / "accuracy_vs_epsilon.png").exists()


def test_across_seeds_is_the_mean_and_sd_of_each_seed_and_pairs_fed_minus_mono(tmp_path):
    def cell(seed, mono, fed):
        folder = tmp_path / "prompt" / "eps8" / f"seed{seed}"
        folder.mkdir(parents=True)
        accs = {"monolingual": mono, "centralized": 0.6, "federated": fed}
        paradigms = {p: {"mean_accuracy": a, "probe_mean_accuracy": 0.7, "wall_s": 1.0,
                         "privacy": {"epsilon": 8.0}, "dp_probe_mean_accuracy": a - 0.01}
                     for p, a in accs.items()}
        (folder / "results.json").write_text(json.dumps({"languages": ["a"], "paradigms": paradigms,
                                                         "majority_class_accuracy": {"a": 0.25}}))
    cell(0, 0.50, 0.60)
    cell(1, 0.60, 0.62)
    cell(2, 0.55, 0.64)
    u.write_summary(tmp_path)
    [c] = json.loads((tmp_path / "summary.json").read_text())["across_seeds"]
    assert c["seeds"] == [0, 1, 2] and c["monolingual"]["n"] == 3
    assert math.isclose(c["monolingual"]["mean"], 0.55) and math.isclose(c["monolingual"]["sd"], 0.05)
    assert math.isclose(c["federated"]["dp_probe_mean"], 0.61)
    # paired by seed: 0.10, 0.02, 0.09
    assert math.isclose(c["fed_minus_mono"]["mean"], 0.07) and c["fed_minus_mono"]["sd"] > 0.04
    text = (tmp_path / "summary.md").read_text()
    assert "| prompt | 8 | 0, 1, 2 | 55.0 ± 5.0 (54.0) | 60.0 ± 0.0 (59.0) | 62.0 ± 2.0 (61.0) | +7.0 ± 4.4 |" in text
