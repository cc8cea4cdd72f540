"""data.dev_from_train: a larger dev split from the training rows the cap leaves unused, never trained on."""

from collections import Counter

import pytest

from borderless.config import ConfigError, load_config
from borderless.data.sampling import stratified_cap
from borderless.data.types import Example
from borderless.runner import build_workload, dev_from_train
from conftest import tiny_config_text


def rows(n, labels=4):
    return [Example(f"r{i}", f"t{i}", i % labels, "eng") for i in range(n)]


def test_takes_only_unused_rows_stratified_and_seeded():
    train = rows(40)
    kept = stratified_cap(train, 12, seed=0)
    extra = dev_from_train(train, kept, 16, seed=0, lang="eng")
    assert len(extra) == 16
    assert not {ex.uid for ex in extra} & {ex.uid for ex in kept}  # never a training row
    assert sorted(Counter(ex.label for ex in extra).values()) == [4, 4, 4, 4]
    assert dev_from_train(train, kept, 16, seed=0, lang="eng") == extra
    assert dev_from_train(train, kept, 16, seed=1, lang="eng") != extra
    assert len(dev_from_train(train, kept, 100, seed=0, lang="eng")) == 28  # all that is left
    assert dev_from_train(train, kept, 0, seed=0, lang="eng") == []


def test_no_unused_row_is_refused_naming_the_language():
    train = rows(10)
    with pytest.raises(ConfigError, match="data.dev_from_train = 5: eng has 10 training rows"):
        dev_from_train(train, train, 5, seed=0, lang="eng")


def test_workload_dev_grows_and_training_rows_stay_out(tmp_path, sib200_dir, tiny_backbone):
    p = tmp_path / "c.toml"
    p.write_text(tiny_config_text(sib200_dir, ("eng_Latn", "hau_Latn")))
    cap = ["data.max_train_per_language=21", "data.max_dev_per_language=7"]
    plain, _ = build_workload(load_config(p, cap), tiny_backbone, 64)
    more, _ = build_workload(load_config(p, cap + ["data.dev_from_train=10"]), tiny_backbone, 64)
    for lang in ("eng_Latn", "hau_Latn"):
        assert len(plain.dev[lang]) == 7 and len(more.dev[lang]) == 17
        assert more.train[lang].labels == plain.train[lang].labels  # training unchanged
        train_ids = {tuple(x) for x in more.train[lang].input_ids}
        extra = [tuple(x) for x in more.dev[lang].input_ids[7:]]
        assert extra and not set(extra) & train_ids


def test_refused_without_a_training_cap(tmp_path, sib200_dir):
    p = tmp_path / "c.toml"
    p.write_text(tiny_config_text(sib200_dir, ("eng_Latn",)))
    with pytest.raises(ConfigError, match="data.dev_from_train.*max_train_per_language"):
        load_config(p, ["data.dev_from_train=10", "data.max_train_per_language=0"])


def test_audit_refuses_it(tmp_path, sib200_dir):
    from borderless.audit.command import audit

    p = tmp_path / "c.toml"
    p.write_text(tiny_config_text(sib200_dir, ("eng_Latn",)))
    cfg = load_config(p, ["data.dev_from_train=10", "data.max_train_per_language=10"])
    with pytest.raises(ConfigError, match="audit: data.dev_from_train"):
        audit(cfg, tmp_path / "out", progress=False)
