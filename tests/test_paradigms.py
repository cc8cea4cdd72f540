import json

import pytest
import torch

from borderless.config import load_config
from borderless.paradigms import RUNNERS, make_clients
from borderless.runner import build_workload, run
from borderless.tuning.prompt import build_prompt_classifier
from borderless.tuning.state import trainable_state
from conftest import tiny_config_text


def cfg_for(tmp_path, sib200_dir, extra="", overrides=()):
    p = tmp_path / "c.toml"
    p.write_text(tiny_config_text(sib200_dir, ("eng_Latn", "hau_Latn", "amh_Ethi"), extra))
    return load_config(p, list(overrides))


def test_paradigms_see_the_same_examples_and_budget(tmp_path, sib200_dir, tiny_backbone, monkeypatch):
    cfg = cfg_for(tmp_path, sib200_dir, overrides=["data.max_train_per_language=14"])
    work, labels = build_workload(cfg, tiny_backbone, 64)
    assert {l: len(work.train[l]) for l in work.languages} == {"eng_Latn": 14, "hau_Latn": 14, "amh_Ethi": 14}
    model = build_prompt_classifier(tiny_backbone.model, tiny_backbone.hidden_size, len(labels), cfg.method, 0)
    init = trainable_state(model)

    seen: dict[str, list[str]] = {}
    import borderless.train as train_mod
    original = train_mod.TokenizedSet.collate

    current = {"p": None}

    def spy(self, idx):
        seen.setdefault(current["p"], []).extend(self.uids[i] for i in idx)
        return original(self, idx)

    monkeypatch.setattr(train_mod.TokenizedSet, "collate", spy)
    sink_rows = []
    for paradigm, runner in RUNNERS.items():
        current["p"] = paradigm
        result = runner(model, init, work, cfg, model.head_parameter_names(), sink_rows.append, lambda _: None)
        assert set(result.test) == set(work.languages)  # every language's test split
        assert result.train_examples == cfg.federated.rounds * cfg.train.local_steps * cfg.train.batch_size * 3

    # training uids come only from the training sets, and every paradigm drew from the same pool
    train_uids = {u for l in work.languages for u in work.train[l].uids}
    test_uids = {u for l in work.languages for u in work.test[l].uids}
    for p in RUNNERS:
        drawn = set(seen[p]) - test_uids - {u for l in work.languages for u in work.dev[l].uids}
        assert drawn <= train_uids
    # monolingual clients see exactly the batches their federated counterparts see
    def train_batches(p):
        return [u for u in seen[p] if u in train_uids]
    assert sorted(train_batches("monolingual")) == sorted(train_batches("federated"))


def test_run_writes_results_folder_and_is_reproducible(tmp_path, sib200_dir, tiny_backbone):
    cfg = cfg_for(tmp_path, sib200_dir)
    a = run(cfg, tmp_path / "a", progress=False, backbone=tiny_backbone)
    b = run(cfg, tmp_path / "b", progress=False, backbone=tiny_backbone)
    for name in ("config.toml", "metrics.jsonl", "results.json", "report.md", "plots/accuracy_by_language.png",
                 "plots/dev_accuracy_by_round.png"):
        assert (a.folder / name).exists(), name
    assert a.results["paradigms"] == {k: {**v, "wall_s": a.results["paradigms"][k]["wall_s"]}
                                      for k, v in b.results["paradigms"].items()}
    rows = [json.loads(l) for l in (a.folder / "metrics.jsonl").read_text().splitlines()]
    fed = [r for r in rows if r["paradigm"] == "federated" and "client" in r]
    assert len(fed) == cfg.federated.rounds * 3
    assert all(r["bytes_up"] == a.results["communication"]["bytes_per_client_per_round_up"] for r in fed)
    report = (a.folder / "report.md").read_text()
    for lang in ("eng_Latn", "hau_Latn", "amh_Ethi"):
        assert f"| {lang} |" in report
    assert "Trainable parameters" in report and "Bytes sent per client per round" in report
    # the resolved config reloads to the same config
    assert load_config(a.folder / "config.toml") == cfg


def test_run_refuses_non_empty_output(tmp_path, sib200_dir, tiny_backbone):
    from borderless.runner import OutputExistsError

    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    with pytest.raises(OutputExistsError, match="nothing was touched"):
        run(cfg_for(tmp_path, sib200_dir), out, progress=False, backbone=tiny_backbone)
    assert (out / "keep.txt").read_text() == "precious" and len(list(out.iterdir())) == 1


def test_federated_learns_on_separable_data(tiny_backbone):
    """Three clients, each with a different 'script' for the same 4 labels: the federated global
    prompt+head must learn all of them (chance is 25 %)."""
    from borderless.config import FederatedConfig, MethodConfig, TrainConfig
    from borderless.data.types import Example
    from borderless.federated.simulation import Client, run_rounds
    from borderless.train import BatchStream, evaluate, tokenize

    cues = {"a": ["aa", "bb", "cc", "dd"], "b": ["кк", "лл", "мм", "нн"], "c": ["ሀሀ", "ለለ", "ሐሐ", "መመ"]}
    clients, tests = [], []
    for lang, words in cues.items():
        exs = [Example(f"{lang}/{i}", " ".join([words[i % 4]] * (2 + i % 3)), i % 4, lang) for i in range(40)]
        data = tokenize(exs, tiny_backbone.tokenizer, 32)
        clients.append(Client(lang, BatchStream(data, 8, seed=len(clients))))
        tests.append(data)
    model = build_prompt_classifier(tiny_backbone.model, tiny_backbone.hidden_size, 4, MethodConfig(num_virtual_tokens=2), 0)
    before = [evaluate(model, t, 64)["accuracy"] for t in tests]
    list(run_rounds(model, clients, trainable_state(model), TrainConfig(local_steps=5, lr=0.05),
                    FederatedConfig(rounds=15), model.head_parameter_names(), seed=0))
    after = [evaluate(model, t, 64)["accuracy"] for t in tests]
    assert min(after) >= 0.75, (before, after)
    assert sum(after) > sum(before) + 0.5


def test_iid_federation_runs_with_non_language_clients(tmp_path, sib200_dir, tiny_backbone):
    cfg = cfg_for(tmp_path, sib200_dir, overrides=['data.partition="iid"', "data.num_clients=2",
                                                    'run.paradigms=["federated"]'])
    out = run(cfg, tmp_path / "iid", progress=False, backbone=tiny_backbone)
    assert out.results["partition"] == {"kind": "iid", "client_sizes": {"iid-0": 53, "iid-1": 52}}
    rows = [json.loads(l) for l in (out.folder / "metrics.jsonl").read_text().splitlines()]
    assert {r["client"] for r in rows if "client" in r} == {"iid-0", "iid-1"}
    assert set(out.results["paradigms"]["federated"]["test_accuracy"]) == {"eng_Latn", "hau_Latn", "amh_Ethi"}
    assert "iid-0" in (out.folder / "partition.txt").read_text()
