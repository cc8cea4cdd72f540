from collections import Counter

import pytest

from borderless.data.partition import PartitionSpec, by_language, dirichlet, histogram, iid, partition, size_skew
from borderless.data.types import Example

LABELS = ("a", "b", "c", "d")


def data(sizes=None):
    sizes = sizes or {"eng": 40, "hau": 40, "yor": 20}
    return {l: [Example(f"{l}/{i}", f"t{i}", i % 4, l) for i in range(n)] for l, n in sizes.items()}


def labels_of(train, items):
    return Counter(train[l][i].label for l, i in items)


def test_by_language_is_the_natural_split():
    train = data()
    out = by_language(train)
    assert list(out) == ["eng", "hau", "yor"]
    assert {c: len(v) for c, v in out.items()} == {"eng": 40, "hau": 40, "yor": 20}
    assert all(l == c for c, items in out.items() for l, _ in items)


def test_iid_deals_everything_evenly_and_mixes_languages():
    train = data()
    out = iid(train, 3, seed=0)
    sizes = sorted(len(v) for v in out.values())
    assert sizes == [33, 33, 34]
    everything = sorted(x for v in out.values() for x in v)
    assert everything == sorted((l, i) for l, exs in train.items() for i in range(len(exs)))  # each once
    assert all(len({l for l, _ in items}) == 3 for items in out.values())
    assert iid(train, 3, seed=0) == out and iid(train, 3, seed=1) != out


def test_dirichlet_small_alpha_skews_labels_large_alpha_does_not():
    train = data({"eng": 200, "hau": 200})
    def skew(alpha):
        out = dirichlet(train, 4, alpha, seed=0)
        assert sum(len(v) for v in out.values()) == 400
        # the largest label share per client, averaged: 0.25 is perfectly balanced
        return sum(max(labels_of(train, items).values()) / len(items) for items in out.values()) / 4
    assert skew(0.1) > 0.6
    assert skew(100.0) < 0.35


def test_dirichlet_refuses_empty_clients():
    with pytest.raises(ValueError, match="without examples; raise data.dirichlet_alpha"):
        dirichlet(data({"eng": 8}), 6, 0.01, seed=0)


def test_size_skew_shrinks_only_listed_languages_stratified():
    train = data({"eng": 40, "hau": 40})
    out = size_skew(train, ("hau",), 0.25, seed=0)
    assert len(out["eng"]) == 40 and len(out["hau"]) == 10
    assert sorted(labels_of(train, out["hau"]).values()) == [2, 2, 3, 3]
    with pytest.raises(ValueError, match="not in data.languages"):
        size_skew(train, ("amh",), 0.5, seed=0)


def test_partition_dispatch_and_histogram():
    train = data()
    out = partition(train, PartitionSpec("iid"), seed=0)
    assert len(out) == 3  # num_clients 0 → one per language
    table = histogram(out, train, LABELS)
    lines = table.splitlines()
    assert lines[0].split()[:2] == ["client", "size"] and len(lines) == 4
    assert "eng:" in lines[1] and "hau:" in lines[1]


def test_size_skew_applies_to_every_paradigm(tmp_path, sib200_dir, tiny_backbone):
    from borderless.config import load_config
    from borderless.runner import build_workload
    from conftest import tiny_config_text

    p = tmp_path / "c.toml"
    p.write_text(tiny_config_text(sib200_dir, ("eng_Latn", "hau_Latn")))
    cfg = load_config(p, ['data.partition="size_skew"', 'data.low_resource=["hau_Latn"]', "data.low_resource_fraction=0.2"])
    work, _ = build_workload(cfg, tiny_backbone, 64)
    assert len(work.train["eng_Latn"]) == 35 and len(work.train["hau_Latn"]) == 7
    assert {c: len(v) for c, v in work.clients.items()} == {"eng_Latn": 35, "hau_Latn": 7}

    cfg = load_config(p, ['data.partition="iid"', 'run.paradigms=["federated"]'])
    work, _ = build_workload(cfg, tiny_backbone, 64)
    assert len(work.train["hau_Latn"]) == 35 and sorted(len(v) for v in work.clients.values()) == [35, 35]
