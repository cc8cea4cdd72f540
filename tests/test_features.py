"""Frozen features: computed once per sentence and backbone, reused from disk, equal to the model's pooling."""

import torch

from borderless.data.types import Example
from borderless.features import backbone_key, feature_store
from borderless.train import tokenize
from borderless.tuning.head import build_head_classifier
from borderless.config import MethodConfig


def sentences(tok, texts):
    return tokenize([Example(f"x/{i}", t, 0, "x") for i, t in enumerate(texts)], tok, 32)


def test_features_are_the_heads_pooling_and_are_cached_on_disk(tmp_path, tiny_backbone):
    data = sentences(tiny_backbone.tokenizer, ["a short one", "a much longer sentence than the other", "a short one"])
    store = feature_store(tmp_path, "tiny-random", tiny_backbone.model, batch_size=2)
    feats = store.get(data)
    assert store.computed == 2  # the repeated sentence is run once
    assert torch.equal(feats[0], feats[2])
    # the same numbers the classifier's head sees (mean of the real tokens of the last layer)
    clf = build_head_classifier(tiny_backbone.model, tiny_backbone.hidden_size, 3, MethodConfig(name="head"), 0)
    ids, mask, _ = data.collate([1])
    with torch.no_grad():
        clf.head.weight.copy_(torch.eye(3, tiny_backbone.hidden_size))
        clf.head.bias.zero_()
        logits = clf(ids, mask)
    assert torch.allclose(logits[0], feats[1][:3], atol=1e-5)
    # a new store (a new process) reads them back without running the model
    again = feature_store(tmp_path, "tiny-random", tiny_backbone.model)
    assert torch.equal(again.get(data), feats) and again.computed == 0
    assert len(list((tmp_path / "features").rglob("*.tmp"))) == 0


def test_another_backbone_or_max_length_never_reuses_features(tmp_path, tiny_backbone):
    from borderless.backbones import tiny_random

    other, _ = tiny_random.build(seed=1)
    assert backbone_key("tiny-random", tiny_backbone.model) != backbone_key("tiny-random", other)
    long = sentences(tiny_backbone.tokenizer, ["word " * 20])
    short = tokenize([Example("x/0", "word " * 20, 0, "x")], tiny_backbone.tokenizer, 8)
    store = feature_store(tmp_path, "tiny-random", tiny_backbone.model)
    store.get(long)
    store.get(short)
    assert store.computed == 2  # truncation changes the ids, hence the key


def test_opening_a_big_cache_holds_only_what_the_run_asks_for(tmp_path, tiny_backbone):
    tok = tiny_backbone.tokenizer
    first, second = sentences(tok, ["one run's sentence", "another"]), sentences(tok, ["a later run's sentence"])
    store = feature_store(tmp_path, "tiny-random", tiny_backbone.model)
    want = store.get(first)
    store.get(second)
    again = feature_store(tmp_path, "tiny-random", tiny_backbone.model)
    assert len(again._mem) == 0 and len(again._on_disk) == 3  # keys only, until asked
    assert torch.equal(again.get(first), want) and again.computed == 0
    assert len(again._mem) == 2  # the other run's feature stayed on disk
    for shard in (tmp_path / "features").rglob("shard-*.safetensors"):
        shard.write_bytes(b"damaged")
    third = feature_store(tmp_path, "tiny-random", tiny_backbone.model)
    assert torch.allclose(third.get(first), want, atol=1e-6) and third.computed == 2  # recomputed, no error
