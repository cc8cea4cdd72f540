"""CoNLL token-task files (MasakhaNER / MasakhaPOS shape) and the PAWS-X carve: reading, label sets,
BIO repair, bad input named by file and line, a user's own CoNLL folder by config alone."""

import pytest

from borderless.config import ConfigError, load_config
from borderless.data.conll import is_bio, read_conll, repair_bio
from borderless.data.folder import DataError, load_folder
from borderless.data.presets import PRESETS, SHARED_DATA, load_dataset

NER = [
    [("Musa", "B-PER"), ("ya", "O"), ("je", "O"), ("Kano", "B-LOC"), ("jiya", "B-DATE")],
    [("Bankin", "B-ORG"), ("Duniya", "I-ORG"), ("ya", "O")],
    [("Shugaba", "O"), ("Buhari", "I-PER"), ("ya", "O")],  # broken: I- without B-
]


def write_conll(root, lang, sentences=NER, splits=("train", "dev", "test"), extra=""):
    (root / lang).mkdir(parents=True, exist_ok=True)
    text = "\n\n".join("\n".join(f"{w} {t}" for w, t in s) for s in sentences) + "\n" + extra
    for split in splits:
        (root / lang / f"{split}.txt").write_text(text, encoding="utf-8")


def test_read_conll_sentences_lines_and_docstart():
    text = "-DOCSTART- O\n\nA B-PER\nb O\n\n\n\nC O\n"
    assert read_conll(text, "f") == [(3, ["A", "b"], ["B-PER", "O"]), (8, ["C"], ["O"])]
    assert read_conll("x y TAG\n", "f", tag_column=1) == [(1, ["x"], ["y"])]


def test_bio_repair_like_conlleval():
    assert repair_bio(["O", "I-PER", "I-PER", "B-LOC", "I-ORG"]) == (["O", "B-PER", "I-PER", "B-LOC", "B-ORG"], 2)
    assert repair_bio(["B-PER", "I-PER"]) == (["B-PER", "I-PER"], 0)
    assert is_bio(["O", "B-PER", "I-PER"]) and not is_bio(["NOUN", "VERB"]) and not is_bio(["O", "B-X", "NOUN"])


def test_folder_of_conll_files_reads_words_tags_and_repairs(tmp_path):
    write_conll(tmp_path, "hau")
    fmt = PRESETS["masakhaner"]
    data = load_folder(tmp_path, ["hau"], fmt)["hau"]
    assert data.token_task
    assert data.labels.names == ("B-DATE", "B-LOC", "B-ORG", "B-PER", "I-ORG", "O")
    first = data.train[0]
    assert first.words == ("Musa", "ya", "je", "Kano", "jiya") and first.text == "Musa ya je Kano jiya"
    assert [data.labels.names[t] for t in first.tags] == ["B-PER", "O", "O", "B-LOC", "B-DATE"]
    assert first.label == 0 and first.uid == "hau/1"
    broken = data.train[2]
    assert [data.labels.names[t] for t in broken.tags] == ["O", "B-PER", "O"]  # I-PER read as B-PER
    assert any("1 tag(s) in 1 sentence(s) of train.txt began an entity with I-" in n for n in data.notes)


def test_pos_tags_are_not_bio_repaired(tmp_path):
    write_conll(tmp_path, "wol", [[("a", "I-X"), ("b", "NOUN")]])  # not a BIO tag set: left alone
    data = load_folder(tmp_path, ["wol"], PRESETS["masakhapos"])["wol"]
    assert [data.labels.names[t] for t in data.train[0].tags] == ["I-X", "NOUN"] and not data.notes


def test_two_languages_share_one_tag_space_without_masks(tmp_path):
    write_conll(tmp_path, "hau")
    write_conll(tmp_path, "yor", [[("Ade", "B-PER"), ("lo", "O")]])  # fewer tags than hau
    data = load_folder(tmp_path, ["hau", "yor"], PRESETS["masakhaner"])
    assert data["yor"].labels == data["hau"].labels and data["yor"].allowed is None
    assert [data["yor"].labels.names[t] for t in data["yor"].train[0].tags] == ["B-PER", "O"]


def test_a_line_with_one_column_is_named(tmp_path):
    write_conll(tmp_path, "hau", extra="\nlonely\n")  # 13 lines of sentences, a blank, then the bad line
    with pytest.raises(DataError, match=r"train.txt:15: one column \('lonely'\); .* add the tag or remove the line"):
        load_folder(tmp_path, ["hau"], PRESETS["masakhaner"])


def test_tag_outside_the_labels_file_and_empty_file(tmp_path):
    write_conll(tmp_path, "hau")
    (tmp_path / "tags.txt").write_text("O\nB-PER\nI-PER\nB-LOC\nB-DATE\n")
    fmt = PRESETS["masakhaner"].__class__(**{**PRESETS["masakhaner"].__dict__, "labels_file": "tags.txt"})
    with pytest.raises(DataError, match=r"train.txt:7: tag 'B-ORG' is not in tags.txt"):
        load_folder(tmp_path, ["hau"], fmt)
    (tmp_path / "hau" / "dev.txt").write_text("\n\n")
    with pytest.raises(DataError, match=r"dev.txt: no sentences"):
        load_folder(tmp_path, ["hau"], PRESETS["masakhaner"])


def test_users_own_conll_folder_by_config_alone(tmp_path):
    write_conll(tmp_path / "data", "aaa", [[("x", "N"), ("y", "V"), ("z", "N")]] * 4)
    cfg_file = tmp_path / "c.toml"
    cfg_file.write_text(f"""
[data]
dataset = "folder"
path = "{tmp_path / 'data'}"
format = "conll"
languages = ["aaa"]
splits = {{ train = "{{lang}}/train.txt", dev = "{{lang}}/dev.txt", test = "{{lang}}/test.txt" }}
""")
    cfg = load_config(cfg_file)
    data = load_dataset(cfg.data)["aaa"]
    assert data.token_task and data.labels.names == ("N", "V") and len(data.train) == 4


@pytest.mark.parametrize("override, key", [
    ({"data.dataset": "masakhaner", "data.text_columns": ["x"]}, "data.text_columns"),
    ({"data.dataset": "masakhaner", "data.partition": "dirichlet"}, "data.partition"),
    ({"data.dataset": "sib200", "data.tag_column": 2}, "data.tag_column"),
])
def test_conll_config_refusals_name_the_key(override, key):
    with pytest.raises(ConfigError, match=key):
        load_config(None, overrides=[f"{k}={v!r}".replace("'", '"') if isinstance(v, str) else f"{k}={v}"
                                     for k, v in override.items()])


@pytest.mark.skipif(not (SHARED_DATA / "pawsx").is_dir(), reason="needs ../shared/data/pawsx")
def test_pawsx_carves_the_same_rows_in_every_language():
    data = load_folder(SHARED_DATA / "pawsx", ["en", "de", "ja"], PRESETS["pawsx"])
    ids = {l: [[ex.uid.split("/")[1] for ex in getattr(d, s)] for s in ("train", "dev", "test")] for l, d in data.items()}
    assert ids["en"] == ids["de"] == ids["ja"]
    assert [len(x) for x in ids["en"]] == [1200, 400, 400]
    assert not set(ids["en"][0]) & set(ids["en"][1]) and not set(ids["en"][1]) & set(ids["en"][2])
    assert data["en"].labels.names == ("0", "1") and data["de"].train[0].text_pair
    assert "seeded hash of the row id" in data["en"].notes[0]
