"""backbone.dtype = "bfloat16": the frozen weights stored in bfloat16 and run under autocast, while
everything that trains (and crosses the wire) stays float32; the backbone is left as it was."""

import json

import pytest
import torch

from borderless.backbones.resolve import load_backbone
from borderless.config import ConfigError, MethodConfig, TrainConfig, load_config
from borderless.data.types import Example
from borderless.features import feature_store
from borderless.train import BatchStream, make_optimizer, tokenize, train_steps
from borderless.tuning.factory import build_for
from borderless.tuning.state import trainable_state

LABELS = ["a", "b", "c"]
METHODS = {
    "prompt": MethodConfig(name="prompt", num_virtual_tokens=3),
    "p_tuning": MethodConfig(name="p_tuning", num_virtual_tokens=3, encoder_hidden_size=16),
    "prefix": MethodConfig(name="prefix", num_virtual_tokens=3),
    "lora": MethodConfig(name="lora", lora_r=2, lora_alpha=4),
    "head": MethodConfig(name="head"),
    "verbalizer": MethodConfig(name="prompt", num_virtual_tokens=3, classifier="verbalizer",
                               verbalizer={"a": "x", "b": "y", "c": "z"}),
}


def data(backbone, n=12):
    exs = [Example(f"x/{i}", f"words {i} " * (1 + i % 3), i % 3, "x") for i in range(n)]
    return tokenize(exs, backbone.tokenizer, 32)


@pytest.mark.parametrize("name", ["tiny-random", "tiny-random-decoder"])
def test_a_bfloat16_backbone_is_stored_in_bfloat16_and_its_lm_head_stays_tied(tmp_path, name):
    b = load_backbone(name, tmp_path, dtype="bfloat16")
    assert b.dtype == torch.bfloat16
    assert all(p.dtype == torch.bfloat16 for p in b.model.parameters())
    assert not any(p.requires_grad for p in b.model.parameters())
    if b.lm_head is not None:
        assert b.lm_head.weight.dtype == torch.bfloat16
        assert b.lm_head.weight is b.model.get_input_embeddings().weight  # tied, not a second copy


@pytest.mark.parametrize("backbone_name, key", [(b, k) for b in ("tiny-random", "tiny-random-decoder") for k in METHODS
                                                 if not (k == "verbalizer" and b == "tiny-random")])
def test_every_method_trains_in_float32_on_a_bfloat16_backbone_and_leaves_it_unchanged(tmp_path, backbone_name, key):
    b = load_backbone(backbone_name, tmp_path, dtype="bfloat16")
    before = {k: v.clone() for k, v in b.model.state_dict().items()}
    cfg = METHODS[key]
    if key == "lora" and b.kind == "decoder":
        cfg = MethodConfig(name="lora", lora_r=2, lora_alpha=4, lora_targets=("q_proj", "v_proj"))
    model = build_for(b, LABELS, cfg, seed=0)
    state = trainable_state(model)
    assert state and all(v.dtype == torch.float32 for v in state.values()), {k: v.dtype for k, v in state.items()}
    opt = make_optimizer(model, TrainConfig(lr=0.05), model.head_parameter_names())
    metrics = train_steps(model, BatchStream(data(b), 4, 0), 2, opt)
    assert metrics["train_examples"] == 8 and 0 < metrics["train_loss"] < 10
    after = trainable_state(model)
    assert all(v.dtype == torch.float32 for v in after.values())
    assert any(not torch.equal(after[k], state[k]) for k in state)
    ids, mask, _ = data(b).collate([0, 1])
    model.eval()
    with torch.no_grad():
        logits = model(ids, mask)
    assert logits.dtype == torch.float32 and torch.isfinite(logits).all()
    model.release()
    now = b.model.state_dict()
    assert set(now) == set(before) and all(torch.equal(now[k], v) for k, v in before.items())


def test_bfloat16_outputs_stay_close_to_float32(tmp_path):
    """The same weights, rounded to bfloat16: the pooled features move by bfloat16's rounding, not more."""
    f32 = load_backbone("tiny-random-decoder", tmp_path)
    b16 = load_backbone("tiny-random-decoder", tmp_path, dtype="bfloat16")
    cfg = MethodConfig(name="head", pooling="last")
    ids, mask, _ = data(f32).collate([0, 1, 2, 3])
    with torch.no_grad():
        a = build_for(f32, LABELS, cfg, seed=0).pooled(ids, mask)
        b = build_for(b16, LABELS, cfg, seed=0).pooled(ids, mask)
    assert b.dtype == torch.float32
    rel = (a - b).norm() / a.norm()
    assert 0 < rel < 0.05, rel


def test_bfloat16_features_are_cached_apart_from_float32(tmp_path):
    f32 = load_backbone("tiny-random", tmp_path)
    b16 = load_backbone("tiny-random", tmp_path, dtype="bfloat16")
    s32 = feature_store(tmp_path / "cache", f32.name, f32.model)
    s16 = feature_store(tmp_path / "cache", b16.name, b16.model)
    assert s32.folder != s16.folder and s16.folder.name.endswith("-bfloat16")
    x = data(f32)
    assert s16.get(x).dtype == torch.float32 and s16.computed == len(x)


@pytest.mark.parametrize("overrides, key", [
    (['backbone.dtype="float16"'], "backbone.dtype"),
    (['backbone.dtype="bfloat16"', 'method.name="full"'], "backbone.dtype"),
])
def test_bad_dtypes_name_their_key(sib200_dir, tmp_path, overrides, key):
    from tests.conftest import tiny_config_text

    (tmp_path / "c.toml").write_text(tiny_config_text(sib200_dir))
    with pytest.raises(ConfigError, match=key):
        load_config(tmp_path / "c.toml", overrides)


def test_a_bfloat16_run_records_its_dtype_and_learns(sib200_dir, tmp_path):
    from tests.conftest import tiny_config_text
    from borderless.runner import run

    (tmp_path / "c.toml").write_text(tiny_config_text(sib200_dir, extra='[run]\nparadigms = ["federated"]\n'))
    cfg = load_config(tmp_path / "c.toml", [f'backbone.cache_dir="{tmp_path / "cache"}"', 'backbone.dtype="bfloat16"'])
    out = run(cfg, tmp_path / "out", progress=False)
    assert 'dtype = "bfloat16"' in (out.folder / "config.toml").read_text()
    summary = json.loads((out.folder / "results.json").read_text())
    acc = summary["paradigms"]["federated"]["test_accuracy"]
    assert acc and all(0 <= v <= 1 for v in acc.values())
