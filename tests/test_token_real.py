"""Token tasks on the real e5-small and real MasakhaNER: the alignment on the real tokenizer, and one
small run whose tuned LoRA tagger clears its frozen probe on dev-selected entity F1."""

import pytest

from borderless.config import load_config
from borderless.data.presets import SHARED_DATA
from borderless.runner import build_workload, run

pytestmark = [pytest.mark.real, pytest.mark.slow,
              pytest.mark.skipif(not (SHARED_DATA / "masakhaner").is_dir(), reason="needs ../shared/data/masakhaner")]


def small_ner(tmp_path, *overrides):
    return load_config(None, ['data.dataset="masakhaner"', 'data.languages=["hau", "swa"]',
                              "data.max_train_per_language=80", "data.max_dev_per_language=40",
                              "data.max_test_per_language=80", 'method.name="lora"', "train.lr=1e-3",
                              "train.head_lr=0.01", "train.batch_size=8", "train.local_steps=10",
                              "federated.rounds=4", "federated.eval_every=1", 'run.paradigms=["centralized"]',
                              "run.language_analysis=false", *overrides])


def test_real_tokenizer_puts_each_tag_on_a_word_start(e5_backbone, tmp_path):
    work, labels = build_workload(small_ner(tmp_path), e5_backbone, 128)
    data = work.train["hau"]
    tok = e5_backbone.tokenizer
    for ids, starts in zip(data.input_ids[:20], data.word_starts[:20]):
        pieces = tok.convert_ids_to_tokens([int(i) for i in ids])
        # after "passage:" every word begins a new SentencePiece word ("▁..."), or is punctuation split off
        assert all(pieces[p].startswith("▁") or not pieces[p - 1].isalnum() or not pieces[p][0].isalnum()
                   for p in starts), pieces
        assert pieces[starts[0] - 1] == ":" and len(set(starts.tolist())) == len(starts)


def test_real_lora_tagger_beats_its_probe(e5_backbone, tmp_path):
    r = run(small_ner(tmp_path), tmp_path / "out", progress=False, backbone=e5_backbone).results
    central = r["paradigms"]["centralized"]
    assert r["metric"] == "f1" and 0.2 < r["probes"]["centralized"]["mean_f1"] < 0.9
    assert central["mean_f1"] > central["probe_mean_f1"]  # 40 steps of LoRA move past the frozen probe
    assert r["majority_baseline"]["swa"]["f1"] > 0.3
