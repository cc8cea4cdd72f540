"""Every dataset preset on its real files (a few sentences of two languages, one round, the tiny
model), and a user-described folder in another format through `borderless run`."""

import json

import pytest

from borderless.cli import main
from borderless.config import ConfigError, load_config
from borderless.data.presets import SHARED_DATA, dataset_path
from borderless.runner import run

SMALL = ["data.max_train_per_language=8", "data.max_dev_per_language=4", "data.max_test_per_language=6",
         'backbone.name="tiny-random"', "method.num_virtual_tokens=2", "train.batch_size=4", "train.local_steps=1",
         "federated.rounds=1", "federated.personal_steps=1", "federated.personal_eval_every=1",
         'run.paradigms=["monolingual", "centralized", "federated"]', "probe.federated_rounds=2"]

CASES = {
    "masakhanews": (["hau", "yor"], []),
    "xnli": (["sw", "en"], ['data.zero_shot=["quy"]', 'data.zero_shot_dataset="americasnli"']),
    "nusax": (["javanese", "english"], []),
}


@pytest.mark.slow
@pytest.mark.parametrize("dataset", sorted(CASES))
def test_preset_runs_on_its_real_files(dataset, tmp_path, tiny_backbone):
    langs, extra = CASES[dataset]
    cfg = load_config(None, SMALL + [f'data.dataset="{dataset}"', f"data.languages={json.dumps(langs)}"] + extra)
    if not dataset_path(cfg.data).exists():
        pytest.skip(f"{dataset} not beside the repo ({SHARED_DATA})")
    r = run(cfg, tmp_path / "out", progress=False, backbone=tiny_backbone).results
    assert r["languages"] == langs and r["data"]["dataset"] == dataset
    for p in ("monolingual", "centralized", "federated"):
        acc = r["paradigms"][p]["test_accuracy"]
        assert set(acc) == set(langs) and all(0.0 <= a <= 1.0 for a in acc.values())
    assert set(r["majority_class_accuracy"]) >= set(langs)
    report = (tmp_path / "out" / "report.md").read_text()
    assert f"Dataset **{dataset}**" in report
    if dataset == "masakhanews":  # Hausa has 7 labels, Yoruba 5: Yoruba's logits are masked to its own
        assert len(r["labels"]) == 7 and len(r["data"]["label_sets"]["yor"]) == 5
        assert "religion" in r["data"]["label_sets"]["yor"] and "business" not in r["data"]["label_sets"]["yor"]
        assert any("few_shot_50/hau/train.tsv" in n for n in r["data"]["notes"])
    if dataset == "xnli":
        assert r["labels"] == ["contradiction", "entailment", "neutral"]
        assert r["zero_shot"] == ["quy"] and "quy" in r["paradigms"]["federated"]["zero_shot_accuracy"]
        assert any("carved" in n for n in r["data"]["notes"])


@pytest.mark.slow
def test_user_described_jsonl_folder_through_the_cli(tmp_path, capsys):
    root = tmp_path / "mine"
    for lang in ("aaa", "bbb"):
        for split in ("train", "dev", "test"):
            (root / split).mkdir(parents=True, exist_ok=True)
            rows = [{"sent": f"{lang} {'good' if i % 2 else 'bad'} thing {i}", "y": "pos" if i % 2 else "neg",
                     "n": i} for i in range(8)]
            (root / split / f"{lang}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"""
[data]
dataset = "folder"
path = "{root}"
languages = ["aaa", "bbb"]
format = "jsonl"
splits = {{ train = "train/{{lang}}.jsonl", dev = "dev/{{lang}}.jsonl", test = "test/{{lang}}.jsonl" }}
text_columns = ["sent"]
label_column = "y"
id_column = "n"
[backbone]
name = "tiny-random"
[method]
num_virtual_tokens = 2
[train]
batch_size = 4
local_steps = 1
[federated]
rounds = 1
[run]
paradigms = ["monolingual", "federated"]
""")
    assert main(["run", str(cfg), "-o", str(tmp_path / "o"), "--quiet"]) == 0
    r = json.loads((tmp_path / "o" / "results.json").read_text())
    assert r["labels"] == ["neg", "pos"] and r["examples"]["aaa"] == {"train": 8, "dev": 8, "test": 8}
    # the same folder with a wrong label column: one clear line, exit 2, nothing written
    assert main(["run", str(cfg), "-o", str(tmp_path / "p"), "--quiet", "--set", 'data.label_column="label"']) == 2
    err = capsys.readouterr().err
    assert "train/aaa.jsonl:1: no key 'label'" in err and not (tmp_path / "p").exists()


@pytest.mark.parametrize("override, message", [
    ('data.dataset="masakanews"', "did you mean 'masakhanews'"),
    ('data.dataset="americasnli"', "zero_shot_dataset"),
    ('data.dataset="folder"', "needs data.path"),
    ('data.splits={train = "train.tsv"}', "must contain {lang}"),
    ('data.format="xlsx"', "data.format: unknown value 'xlsx'; one of '', 'tsv', 'csv', 'jsonl'"),
])
def test_dataset_config_errors_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_every_committed_config_loads_and_its_languages_exist():
    """A study config with a typo in a key or a language fails here, not an hour into the study."""
    from pathlib import Path

    from borderless.data.folder import available_languages
    from borderless.data.presets import dataset_format

    for path in sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.toml")):
        cfg = load_config(path)
        root = dataset_path(cfg.data)
        if not root.exists():
            continue
        known = available_languages(root, dataset_format(cfg.data))
        assert all(l in known or any(k.split("_")[0] == l for k in known) for l in cfg.data.languages), path
