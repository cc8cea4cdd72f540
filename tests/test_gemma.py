"""The real Gemma-3-270m decoder from the GGUF wheels (dequantised once into the cache): one
training step moves only the trainable state, the backbone stays bit-identical, the verbalizer
scores every label with the model's own LM head, and a one-round run on real SIB-200 completes."""

import hashlib

import pytest
import torch

from borderless.backbones import gemma
from borderless.backbones.resolve import load_backbone
from borderless.config import BackboneConfig, MethodConfig, TrainConfig, load_config, resolve_cache_dir
from borderless.data.sib200 import load_sib200
from borderless.train import BatchStream, make_optimizer, tokenize, train_steps
from borderless.tuning.factory import build_for
from borderless.tuning.state import trainable_state
from conftest import LABELS, REAL_SIB200

TEMPLATE = "{text}\nTopic:"


@pytest.fixture(scope="module")
def gemma_backbone():
    return load_backbone(gemma.NAME, resolve_cache_dir(BackboneConfig()))


def fingerprint(module: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().contiguous().view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def real_examples(n: int):
    if not REAL_SIB200.exists():
        pytest.skip("real SIB-200 not beside the repo")
    return load_sib200(REAL_SIB200, ["hau_Latn"])["hau_Latn"].train[:n]


@pytest.mark.real
def test_gemma_loads_from_the_wheels_as_a_frozen_decoder(gemma_backbone):
    b = gemma_backbone
    assert b.kind == "decoder" and type(b.model).__name__ == "Gemma3TextModel"
    assert b.num_parameters() == 268_098_176 and b.hidden_size == 640
    assert not any(p.requires_grad for p in b.model.parameters())
    assert b.lm_head.weight.data_ptr() == b.model.embed_tokens.weight.data_ptr()  # tied, stored once
    folder = gemma.cache_folder(resolve_cache_dir(BackboneConfig()))
    assert (folder / "model.safetensors").exists() and not (folder / "gguf").exists()


@pytest.mark.real
@pytest.mark.parametrize("classifier", ["head", "verbalizer"])
def test_one_step_changes_only_the_trainable_state(gemma_backbone, classifier):
    b = gemma_backbone
    cfg = MethodConfig(name="prompt", num_virtual_tokens=4, classifier=classifier)
    before = fingerprint(b.model)
    model = build_for(b, LABELS, cfg, seed=0)
    start = trainable_state(model)
    expected = {"encoder.prompt_encoder.default.embedding.weight"} | (
        {"head.weight", "head.bias"} if classifier == "head" else set())
    assert set(start) == expected
    data = tokenize(real_examples(4), b.tokenizer, 64, template=TEMPLATE)
    opt = make_optimizer(model, TrainConfig(lr=0.01), model.head_parameter_names())
    train_steps(model, BatchStream(data, 4, 0), 1, opt)
    after = trainable_state(model)
    assert all(not torch.equal(after[k], start[k]) for k in start)  # every trainable tensor moved
    model.release()
    assert fingerprint(b.model) == before  # the frozen backbone is bit-identical


@pytest.mark.real
def test_the_verbalizer_scores_every_label_with_the_lm_head(gemma_backbone):
    b = gemma_backbone
    cfg = MethodConfig(name="prompt", num_virtual_tokens=4, classifier="verbalizer")
    model = build_for(b, LABELS, cfg, seed=0)
    data = tokenize(real_examples(3), b.tokenizer, 64, template=TEMPLATE)
    ids, mask, _ = data.collate([0, 1, 2])
    model.eval()
    with torch.no_grad():
        scores = model(ids, mask)
        hidden = model.encoder(input_ids=ids, attention_mask=mask).last_hidden_state[:, 4:]
        logits = b.lm_head(hidden[torch.arange(3), mask.sum(1) - 1])
    tokens = [b.tokenizer(" " + label, add_special_tokens=False)["input_ids"][0] for label in LABELS]
    assert len(set(tokens)) == len(LABELS)  # every label has a word of its own
    assert scores.shape == (3, len(LABELS)) and torch.isfinite(scores).all()
    assert torch.allclose(scores, logits[:, tokens], atol=1e-4)
    model.release()


@pytest.mark.real
def test_a_one_round_gemma_run_on_real_sib200(tmp_path, gemma_backbone):
    from borderless.runner import run

    if not REAL_SIB200.exists():
        pytest.skip("real SIB-200 not beside the repo")
    cfg = load_config(None, [
        f'data.path="{REAL_SIB200}"', 'data.languages=["eng_Latn", "hau_Latn"]', f'backbone.name="{gemma.NAME}"',
        "data.max_train_per_language=8", "data.max_dev_per_language=7", "data.max_test_per_language=7",
        "method.num_virtual_tokens=2", 'method.classifier="verbalizer"', 'method.template="{text}\\nTopic:"',
        "train.batch_size=4", "train.local_steps=1", "federated.rounds=1",
        'run.paradigms=["monolingual", "federated"]',
    ])
    r = run(cfg, tmp_path / "gemma", progress=False, backbone=gemma_backbone).results
    assert r["backbone"]["name"] == gemma.NAME and r["method"]["trainable_parameters"] == 2 * 640
    assert r["communication"]["bytes_per_client_per_round_up"] == 4 * 2 * 640  # the prompt alone crosses
    for paradigm in ("monolingual", "federated"):
        accs = r["paradigms"][paradigm]["test_accuracy"]
        assert set(accs) == {"eng_Latn", "hau_Latn"} and all(0.0 <= a <= 1.0 for a in accs.values())
        assert 0.0 <= r["probes"][paradigm]["mean_accuracy"] <= 1.0
    assert r["tokenization"]["hau_Latn"]["tokens_per_word"] > r["tokenization"]["eng_Latn"]["tokens_per_word"]
