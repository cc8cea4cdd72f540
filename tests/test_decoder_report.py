import json

import pytest

from borderless.config import load_config
from borderless.runner import load_data
from borderless.language.tokenization import stats_by_language
from conftest import script_module, tiny_config_text

report = script_module("decoder_report").report
PARADIGMS = ("monolingual", "centralized", "federated")


def write_run(folder, seed, backbone, langs, mono, fed, tokenization):
    folder.mkdir(parents=True)
    acc = {"monolingual": mono, "centralized": mono, "federated": fed}
    run = {"config": {"run": {"seed": seed}}, "languages": langs, "backbone": {"name": backbone},
           "method": {"description": "soft prompt", "trainable_parameters": 5120},
           "communication": {"bytes_per_client_per_round_up": 20480}, "tokenization": tokenization,
           "majority_class_accuracy": {l: 1 / 3 for l in langs}, "features": {"seconds": 60.0},
           "paradigms": {p: {"test_accuracy": acc[p], "wall_s": 60.0} for p in PARADIGMS},
           "probes": {p: {"test_accuracy": {l: 0.4 for l in langs}} for p in PARADIGMS}}
    (folder / "results.json").write_text(json.dumps(run))


def tok(per_word, per_sentence):
    return {"tokens_per_word": per_word, "unk_percent": 0.0, "single_char_percent": 0.0, "byte_percent": 0.0,
            "tokens_per_sentence": per_sentence, "sentences": 10.0}


def test_gain_against_parity_where_tokens_per_word_cannot_rank(tmp_path):
    langs = ["en", "sw", "th", "zh"]
    # th and zh write no spaces: their tokens per word are huge while their sentences cost less than sw's
    gemma = {"en": tok(1.3, 20.0), "sw": tok(2.1, 60.0), "th": tok(8.5, 30.0), "zh": tok(16.9, 40.0)}
    e5 = {l: tok(1.0, 20.0) for l in langs}
    mono = {l: 0.4 for l in langs}
    for seed, shift in ((0, 0.0), (1, 0.02)):
        fed = {"en": 0.40 + shift, "sw": 0.46 + shift, "th": 0.42 + shift, "zh": 0.44 + shift}  # gain follows parity
        write_run(tmp_path / "xnli" / "gemma-head" / f"seed{seed}", seed, "gemma3-270m", langs, mono, fed, gemma)
        write_run(tmp_path / "xnli" / "e5-head" / f"seed{seed}", seed, "e5-small", langs, mono, mono, e5)
    # a second Gemma cell (one seed) whose lead over e5-small shrinks as Gemma's parity grows
    lora_fed = {"en": 0.50, "sw": 0.40, "th": 0.48, "zh": 0.45}
    # ... and whose monolingual and centralized means (38.0) sit under their probes (40.0)
    write_run(tmp_path / "xnli" / "gemma-lora-verbalizer" / "seed0", 0, "gemma3-270m", langs, {l: 0.38 for l in langs},
              lora_fed, gemma)
    out = report(tmp_path / "xnli")
    rho = out["spearman"]
    assert rho["gemma-head: federated gain vs parity"]["rho"] == pytest.approx(1.0)
    # exact p over the 24 pairings of four languages: only the two perfect orders are as extreme, not
    # the t approximation's ~0 (scipy's spearmanr p for rho = 1)
    assert rho["gemma-head: federated gain vs parity"]["p"] == pytest.approx(2 / 24)
    assert rho["gemma-head: federated gain vs tokens/word"]["rho"] == pytest.approx(0.4)
    assert rho["gemma-head − e5-head (federated) vs Gemma parity"]["rho"] == pytest.approx(1.0)
    assert rho["gemma-lora-verbalizer − e5-head (federated) vs Gemma parity"]["rho"] == pytest.approx(-1.0)
    assert rho["gemma-head − e5-head (federated) vs Gemma parity"]["n"] == 4
    assert list(out["cells"]) == ["gemma-lora-verbalizer", "gemma-head", "e5-head"]
    assert out["cells"]["gemma-head"]["tokenization"]["sw"]["parity"] == pytest.approx(3.0)
    text = (tmp_path / "xnli" / "summary.md").read_text()
    assert "| Gemma parity |" in text
    assert "| gemma-head: federated gain vs parity | +1.00 | 0.083 | 4 |" in text
    assert "| 38.0 ⚠ (40.0) | 38.0 ⚠ (40.0) | 45.8 (40.0) |" in text  # flagged under its probe
    assert "| 40.0 ± 0.0 (40.0 ± 0.0) | 40.0 ± 0.0 (40.0 ± 0.0) | 44.0 ± 1.4 (40.0 ± 0.0) |" in text  # equal: not
    assert "| sw | 38.0 → 40.0 (2.0) | 40.0 ± 0.0 → 47.0 ± 1.4 (7.0 ± 1.4) | 40.0 ± 0.0 → 40.0 ± 0.0 (0.0 ± 0.0) | 2.10 | 0.0 | 3.00 | 1.00 | 1.00 |" in text
    assert (tmp_path / "xnli" / "summary.png").stat().st_size > 1000


def test_old_runs_get_their_statistics_recomputed_from_their_config(tmp_path, sib200_dir, tiny_backbone):
    langs = ["eng_Latn", "hau_Latn"]
    cfg_path = tmp_path / "run.toml"
    cfg_path.write_text(tiny_config_text(sib200_dir, langs))
    cfg = load_config(cfg_path)
    stats = stats_by_language(tiny_backbone.tokenizer, load_data(cfg), langs)
    recorded = {l: {k: v for k, v in s.items() if k != "tokens_per_sentence"} for l, s in stats.items()}
    run = tmp_path / "sib200" / "gemma-head" / "seed0"
    write_run(run, 0, "gemma3-270m", langs, {l: 0.5 for l in langs}, {l: 0.6 for l in langs}, recorded)
    cfg_path.rename(run / "config.toml")
    out = report(tmp_path / "sib200")
    got = out["cells"]["gemma-head"]["tokenization"]
    assert got["hau_Latn"]["parity"] == pytest.approx(stats["hau_Latn"]["tokens_per_sentence"]
                                                      / stats["eng_Latn"]["tokens_per_sentence"])
    assert got["eng_Latn"]["parity"] == 1.0

    # a run whose data changed since it ran is refused, naming its results.json
    recorded["hau_Latn"]["tokens_per_word"] += 0.5
    write_run(tmp_path / "x" / "gemma-head" / "seed0", 0, "gemma3-270m", langs, {l: 0.5 for l in langs},
              {l: 0.6 for l in langs}, recorded)
    (run / "config.toml").rename(tmp_path / "x" / "gemma-head" / "seed0" / "config.toml")
    with pytest.raises(ValueError, match=r"seed0/results.json.*'hau_Latn'.*rerun"):
        report(tmp_path / "x")
