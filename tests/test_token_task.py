"""Token tasks end to end on tiny random backbones: a user's own CoNLL folder runs by config alone through
every paradigm; NER selects and reports entity F1 with its floors (most frequent tag, per-word probes);
POS reports token accuracy; per-word features are cached; sentence tasks carry macro-F1."""

import json
import random

import pytest

from borderless.config import load_config
from borderless.runner import build_workload, run
from tests.conftest import tiny_config_text

PEOPLE = ["Musa", "Ade", "Kofi", "Amina", "Bola", "Chidi"]
PLACES = ["Kano", "Lagos", "Accra", "Dakar"]
WORDS = ["ya", "je", "ce", "da", "na", "ta", "ga", "ba", "wa", "za"]


def sentences(seed: int, n: int):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        s = [(w, "O") for w in rng.sample(WORDS, 3)]
        s.insert(rng.randrange(4), (rng.choice(PEOPLE), "B-PER"))
        if rng.random() < 0.5:
            s.append((rng.choice(PLACES), "B-LOC"))
        out.append(s)
    return out


def write_conll_folder(root, langs=("aaa", "bbb"), pos=False):
    for k, lang in enumerate(langs):
        (root / lang).mkdir(parents=True, exist_ok=True)
        for j, (split, n) in enumerate((("train", 24), ("dev", 8), ("test", 10))):
            rows = sentences(10 * k + j, n)
            if pos:
                rows = [[(w, "PROPN" if t != "O" else "VERB") for w, t in s] for s in rows]
            (root / lang / f"{split}.txt").write_text("\n\n".join("\n".join(f"{w} {t}" for w, t in s) for s in rows) + "\n")
    return root


def token_config(tmp_path, method="prompt", backbone="tiny-random", pos=False, extra="", overrides=()):
    data = write_conll_folder(tmp_path / "conll", pos=pos)
    text = tiny_config_text(data, ("aaa", "bbb"), f"""
[run]
paradigms = ["monolingual", "centralized", "federated", "federated_personal"]
{extra}""")
    text = text.replace("[data]\n", '[data]\ndataset = "folder"\nformat = "conll"\n'
                        'splits = { train = "{lang}/train.txt", dev = "{lang}/dev.txt", test = "{lang}/test.txt" }\n', 1)
    text = text.replace('name = "tiny-random"', f'name = "{backbone}"').replace("lr = 0.01", "lr = 0.05")
    (tmp_path / "c.toml").write_text(text)
    return load_config(tmp_path / "c.toml", [f'method.name="{method}"', *overrides])


@pytest.mark.parametrize("method", ["prompt", "lora", "full"])
def test_ner_runs_every_paradigm_on_a_users_conll_folder(tmp_path, method):
    cfg = token_config(tmp_path, method)
    out = run(cfg, tmp_path / "out", progress=False)
    r = out.results
    assert r["metric"] == "f1" and r["data"]["task"] == "token"
    assert r["labels"] == ["B-LOC", "B-PER", "O"]
    for p, entry in r["paradigms"].items():
        assert set(entry["test_f1"]) == {"aaa", "bbb"} and 0 <= entry["mean_f1"] <= 1
        assert "test_accuracy" in entry and "test_precision" in entry and "test_recall" in entry
        assert entry["probe_mean_f1"] == r["probes"][p]["mean_f1"]
        assert entry["below_probe"] == (entry["mean_f1"] < entry["probe_mean_f1"] - 1e-9)
    # the floors: the most frequent tag per word knows every name seen in training
    assert r["majority_baseline"]["aaa"]["f1"] > 0.5
    report = (out.folder / "report.md").read_text()
    assert "## Test entity F1 (seqeval, strict IOB2) (%) per language" in report
    assert "### Test token accuracy (%) per language" in report and "most frequent tag" in report
    rows = [json.loads(l) for l in (out.folder / "metrics.jsonl").read_text().splitlines()]
    dev = [row for row in rows if row.get("split") == "dev"]
    assert dev and all(row["score"] == row["f1"] for row in dev)  # selection reads entity F1


def test_an_identity_start_equals_its_probe_in_f1(tmp_path):
    """LoRA starts as the identity with the probe's head: round 0's dev F1 is the probe's own, exactly."""
    cfg = token_config(tmp_path, "lora")
    out = run(cfg, tmp_path / "out", progress=False)
    rows = [json.loads(l) for l in (out.folder / "metrics.jsonl").read_text().splitlines()]
    for paradigm in ("monolingual", "centralized", "federated"):
        round0 = {r["lang"]: r["f1"] for r in rows if r["paradigm"] == paradigm and r.get("round") == 0
                  and r.get("split") == "dev"}
        assert round0 and round0 == pytest.approx({l: out.results["probes"][paradigm]["dev_score"][l] for l in round0})


def test_pos_reports_token_accuracy_and_macro_f1(tmp_path):
    cfg = token_config(tmp_path, pos=True)
    r = run(cfg, tmp_path / "out", progress=False).results
    assert r["metric"] == "accuracy" and r["labels"] == ["PROPN", "VERB"]
    assert "test_f1" not in r["paradigms"]["federated"] and "mean_macro_f1" in r["paradigms"]["federated"]
    report = (tmp_path / "out" / "report.md").read_text()
    assert "## Test token accuracy (%) per language" in report and "### Test macro-F1 (%) per language" in report


def test_decoder_reads_words_in_left_context(tmp_path):
    cfg = token_config(tmp_path, backbone="tiny-random-decoder")
    r = run(cfg, tmp_path / "out", progress=False).results
    assert r["metric"] == "f1" and set(r["paradigms"]["federated"]["test_f1"]) == {"aaa", "bbb"}


def test_per_word_features_are_cached(tmp_path, tiny_backbone):
    from borderless.features import feature_store

    cfg = token_config(tmp_path)
    work, labels = build_workload(cfg, tiny_backbone, 64)
    store = feature_store(tmp_path / "cache", "tiny-random", tiny_backbone.model, 8, "token")
    x = store.get(work.train["aaa"])
    assert x.shape == (sum(len(t) for t in work.train["aaa"].tags), tiny_backbone.hidden_size)
    again = feature_store(tmp_path / "cache", "tiny-random", tiny_backbone.model, 8, "token")
    assert (again.get(work.train["aaa"]) == x).all() and again.computed == 0 and store.computed == len(work.train["aaa"])


def test_sentence_tasks_carry_macro_f1_beside_accuracy(tmp_path, sib200_dir):
    (tmp_path / "c.toml").write_text(tiny_config_text(sib200_dir))
    r = run(load_config(tmp_path / "c.toml"), tmp_path / "out", progress=False).results
    assert r["metric"] == "accuracy"
    for p, entry in r["paradigms"].items():
        assert set(entry["test_macro_f1"]) == set(r["languages"]) and "mean_weighted_f1" in entry
        assert "mean_macro_f1" in r["probes"][p]
    maj = r["majority_baseline"][r["languages"][0]]
    assert maj["macro_f1"] < maj["accuracy"]
    assert "### Test macro-F1 (%) per language" in (tmp_path / "out" / "report.md").read_text()


def test_commands_not_built_for_token_tasks_refuse_by_name(tmp_path):
    from borderless.audit.command import audit
    from borderless.compare import run_compare
    from borderless.config import ConfigError

    cfg = token_config(tmp_path)
    with pytest.raises(ConfigError, match="`borderless compare` does not handle token tasks"):
        run_compare(cfg, tmp_path / "cmp")
    with pytest.raises(ConfigError, match="`borderless audit --canaries` does not handle token tasks"):
        audit(cfg, tmp_path / "audit", canaries=(1, 4))
    with pytest.raises(ConfigError, match="federated.attack"):
        load_config(tmp_path / "c.toml", ['federated.attack="label_flip"', 'federated.attack_clients=["aaa"]'])


def test_seeds_report_leads_with_entity_f1_and_names_the_worst_language(tmp_path):
    from borderless.report import write_seeds_report

    folders = []
    for seed in (0, 1):
        cfg = token_config(tmp_path, overrides=[f"run.seed={seed}", 'run.paradigms=["monolingual", "federated"]'])
        folders.append(run(cfg, tmp_path / f"seed{seed}", progress=False).folder)
    path = write_seeds_report(folders, tmp_path / "seeds")
    text = path.read_text()
    s = json.loads((tmp_path / "seeds" / "results.json").read_text())
    assert s["metric"] == "f1" and "accuracy" in s["metrics"]
    assert "Test entity F1 (seqeval, strict IOB2) in %" in text and "Test token accuracy in %" in text
    worst = s["paradigms"]["federated"]["worst_f1"]
    assert worst["language"] in ("aaa", "bbb") and f"({worst['language']})" in text
    assert "| federated − monolingual |" in text


def test_dev_curves_plot_the_score_early_stopping_compared(monkeypatch):
    """A NER run stops on dev entity F1; its dev curve plots that, not token accuracy."""
    import borderless.report as report

    captured = {}

    class Axes:
        def plot(self, xs, ys, **kw):
            captured[kw["label"]] = ys

        def __getattr__(self, name):
            return lambda *a, **k: captured.setdefault(name, a)

    monkeypatch.setattr(report, "pyplot", lambda: type("P", (), {"subplots": staticmethod(lambda **k: (None, Axes()))}))
    monkeypatch.setattr(report, "save_figure", lambda fig, path: None)
    rows = [{"paradigm": "federated", "round": 0, "split": "dev", "accuracy": 0.9, "score": 0.4},
            {"paradigm": "federated", "round": 0, "split": "dev", "accuracy": 0.8, "score": 0.2}]
    assert report.plot_dev_curves(rows, None, "entity F1")
    assert captured["federated"] == pytest.approx([30.0]) and captured["set_ylabel"] == ("mean dev entity F1 (%)",)
