import json

import pytest
import torch

from borderless.config import load_config
from borderless.paradigms import RUNNERS
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
        budget = cfg.federated.rounds * cfg.train.local_steps * cfg.train.batch_size * 3
        if paradigm == "federated_personal":  # the federation's budget, then each client's personal steps
            budget += cfg.federated.personal_steps * cfg.train.batch_size * 3
        assert result.train_examples == budget, paradigm

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


@pytest.mark.slow
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
    list(run_rounds(model, clients, trainable_state(model), TrainConfig(local_steps=5, lr=0.05, schedule="constant"),
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


def test_stopping_on_dev_keeps_the_best_round_and_reports_it(tmp_path, sib200_dir, tiny_backbone, monkeypatch):
    """Dev accuracy 0.5 before training, 0.6 after round 1, then worse: with patience 2 the language
    stops after round 3 and round 1's state is the one evaluated on test."""
    import borderless.paradigms as par

    cfg = cfg_for(tmp_path, sib200_dir, overrides=["federated.rounds=6", "train.patience=2", 'train.stop="dev"',
                                                    "data.languages=[\"eng_Latn\"]"])
    work, labels = build_workload(cfg, tiny_backbone, 64)
    model = build_prompt_classifier(tiny_backbone.model, tiny_backbone.hidden_size, len(labels), cfg.method, 0)
    snapshots, script = [], iter([0.5, 0.6, 0.4, 0.3, 0.2, 0.1, 0.0])
    real_eval = par.evaluate

    def scripted(m, data, bs):
        out = real_eval(m, data, bs)
        if data is work.dev["eng_Latn"]:
            snapshots.append(trainable_state(m))
            out["accuracy"] = out["score"] = next(script)
        return out

    monkeypatch.setattr(par, "evaluate", scripted)
    monkeypatch.setattr("borderless.train.evaluate", scripted)  # dev evaluations go through train.evaluate_many
    result = par.run_monolingual(model, trainable_state(model), work, cfg, model.head_parameter_names(),
                                 lambda row: None, lambda _: None)
    assert result.stopped["eng_Latn"] == {"trained_rounds": 3, "best_round": 1}
    assert result.steps == 3 * cfg.train.local_steps
    after = trainable_state(model)
    assert all(torch.equal(after[k], snapshots[1][k]) for k in after)  # round 1's state, restored


def test_lp_ft_starts_each_paradigm_from_its_own_probe(tmp_path, sib200_dir, tiny_backbone):
    """LoRA starts as the identity, so with head_init = probe the round-0 dev accuracy of every
    paradigm is exactly its probe's dev accuracy."""
    cfg = cfg_for(tmp_path, sib200_dir, overrides=['method.name="lora"', "federated.rounds=1",
                                                    'run.paradigms=["monolingual", "centralized", "federated"]'])
    out = run(cfg, tmp_path / "o", progress=False, backbone=tiny_backbone)
    rows = [json.loads(l) for l in (out.folder / "metrics.jsonl").read_text().splitlines()]
    probes = out.results["probes"]
    for paradigm in ("monolingual", "centralized", "federated"):
        round0 = {r["lang"]: r["accuracy"] for r in rows if r["paradigm"] == paradigm and r.get("round") == 0
                  and r.get("split") == "dev"}
        assert round0 == pytest.approx({l: probes[paradigm]["dev_score"][l] for l in round0}), paradigm
        assert set(round0) == set(cfg.data.languages)
    assert out.results["communication"]["probe_bytes_per_client"] == probes["federated"]["bytes_per_client"] > 0
    fed = out.results["paradigms"]["federated"]
    assert fed["bytes_per_client_total"] == (probes["federated"]["bytes_per_client"]
                                             + 2 * out.results["communication"]["bytes_per_client_per_round_up"])


@pytest.mark.slow
def test_head_method_is_the_probe_and_every_report_shows_the_floors(tmp_path, sib200_dir, tiny_backbone):
    cfg = cfg_for(tmp_path, sib200_dir, overrides=['method.name="head"'])
    out = run(cfg, tmp_path / "h", progress=False, backbone=tiny_backbone)
    for p in ("monolingual", "centralized", "federated", "federated_personal"):
        assert out.results["paradigms"][p]["test_accuracy"] == out.results["probes"][p]["test_accuracy"]
    assert (out.folder / "metrics.jsonl").read_text() == ""  # no backbone training at all
    tuned = run(cfg_for(tmp_path, sib200_dir, overrides=["federated.rounds=1"]), tmp_path / "t", progress=False,
                backbone=tiny_backbone)
    report = (tuned.folder / "report.md").read_text()
    assert "probe: mono" in report and "probe: fed" in report and "majority class" in report
    below = [p for p, r in tuned.results["paradigms"].items() if r["below_probe"]]
    for p in below:  # a random tiny model is usually below its probe: the report must say so
        assert f"{p} (" in report and "below its own frozen-feature probe" in report
    assert all(r["below_probe"] == (r["mean_accuracy"] < r["probe_mean_accuracy"])
               for r in tuned.results["paradigms"].values())


@pytest.mark.slow
def test_federated_personal_is_chosen_on_each_clients_dev(tmp_path, sib200_dir, tiny_backbone):
    cfg = cfg_for(tmp_path, sib200_dir, overrides=["federated.rounds=2", "federated.personal_steps=4",
                                                    "federated.personal_eval_every=2"])
    out = run(cfg, tmp_path / "p", progress=False, backbone=tiny_backbone)
    rows = [json.loads(l) for l in (out.folder / "metrics.jsonl").read_text().splitlines()]
    personal = out.results["paradigms"]["federated_personal"]
    for lang in cfg.data.languages:
        dev = {r["personal_step"]: r["accuracy"] for r in rows if r["paradigm"] == "federated_personal"
               and r.get("client") == lang}
        assert set(dev) == {0, 2, 4}
        chosen = personal["stopping"][lang]["personal_steps"]
        assert dev[chosen] == max(dev.values()) and all(dev[s] < dev[chosen] for s in dev if s < chosen)
        if chosen == 0:  # kept the global model: same test accuracy as federated
            assert personal["test_accuracy"][lang] == out.results["paradigms"]["federated"]["test_accuracy"][lang]


@pytest.mark.slow
def test_a_soft_prompts_head_is_fitted_on_the_prompted_start(tmp_path, sib200_dir, tiny_backbone):
    """The untrained prompt moves the features, so LP-FT fits each paradigm's head on the features the
    prompted model starts from: the round-0 dev accuracy is that probe's dev accuracy."""
    cfg = cfg_for(tmp_path, sib200_dir, overrides=["federated.rounds=1",
                                                    'run.paradigms=["monolingual", "centralized", "federated"]'])
    out = run(cfg, tmp_path / "o", progress=False, backbone=tiny_backbone)
    rows = [json.loads(l) for l in (out.folder / "metrics.jsonl").read_text().splitlines()]
    init = out.results["head_init"]
    assert init["fitted_on"].startswith("the starting model's features")
    for paradigm in ("monolingual", "centralized", "federated"):
        round0 = {r["lang"]: r["accuracy"] for r in rows if r["paradigm"] == paradigm and r.get("round") == 0
                  and r.get("split") == "dev"}
        assert round0 == pytest.approx({l: init["dev_score"][paradigm][l] for l in round0}), paradigm


def test_a_rounds_client_updates_are_kept_only_where_they_are_read_again():
    """Under the distance-aware rule with a shared head a language outside the federation is mixed
    from the round's updates; everywhere else nothing reads them after the round."""
    from borderless.config import Config, FederatedConfig
    from borderless.federated.simulation import ClientUpdate, RoundResult
    from borderless.paradigms import updates_read_again, without_updates

    def cfg(**fed):
        return Config(federated=FederatedConfig(**fed))

    assert not updates_read_again(cfg())
    assert updates_read_again(cfg(aggregator="distance"))
    assert not updates_read_again(cfg(aggregator="distance", local_head=True))
    w = {"w": torch.ones(2)}
    r = RoundResult(3, w, [ClientUpdate("a", {"w": torch.zeros(2)}, 5, {})], None, [], {"round": 3})
    lean = without_updates(r)
    assert lean.updates == [] and lean.state is w and lean.round == 3 and lean.carry == {"round": 3}
    assert r.updates and without_updates(lean) is lean  # the round itself is left as it was
