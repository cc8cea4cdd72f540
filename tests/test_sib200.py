import pytest

from borderless.data.sib200 import DataError, available_languages, load_sib200
from conftest import LABELS, write_language


def test_loads_real_format_with_quotes(sib200_dir):
    data = load_sib200(sib200_dir, ["eng_Latn", "amh_Ethi"])
    assert list(data) == ["eng_Latn", "amh_Ethi"]
    eng = data["eng_Latn"]
    assert (len(eng.train), len(eng.dev), len(eng.test)) == (35, 14, 14)
    assert eng.labels.names == tuple(LABELS)
    assert eng.train[0].text.endswith('He said "quoted" text, with an \'apostrophe\'')  # quoting disabled
    assert eng.train[0].uid == "eng_Latn/0" and eng.train[0].lang == "eng_Latn"
    assert {ex.label for ex in eng.train} == set(range(7))


def test_unknown_language_lists_near_matches(sib200_dir):
    with pytest.raises(DataError) as err:
        load_sib200(sib200_dir, ["eng_Latm"])
    assert "eng_Latm" in str(err.value) and "eng_Latn" in str(err.value)


def test_bare_iso_code_resolves_when_unique(sib200_dir):
    assert list(load_sib200(sib200_dir, ["hau"])) == ["hau_Latn"]


def test_malformed_row_names_file_and_line(sib200_dir):
    path = sib200_dir / "hau_Latn" / "dev.tsv"
    lines = path.read_text().splitlines()
    lines[3] = "17\tsports"  # a column missing
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=rf"{path}:4: expected 3 tab-separated columns"):
        load_sib200(sib200_dir, ["hau_Latn"])


def test_label_not_in_labels_txt(sib200_dir):
    path = sib200_dir / "eng_Latn" / "test.tsv"
    path.write_text(path.read_text().replace("\ttravel\t", "\tcooking\t", 1))
    with pytest.raises(DataError, match=r"test\.tsv:\d+: label 'cooking' is not in labels\.txt"):
        load_sib200(sib200_dir, ["eng_Latn"])


def test_missing_split_and_bad_header(sib200_dir):
    (sib200_dir / "amh_Ethi" / "dev.tsv").unlink()
    with pytest.raises(DataError, match=r"amh_Ethi/dev\.tsv: missing"):
        load_sib200(sib200_dir, ["amh_Ethi"])
    path = sib200_dir / "eng_Latn" / "train.tsv"
    path.write_text("id\tlabel\ttext\n1\ttravel\thello\n")
    with pytest.raises(DataError, match=r"train\.tsv:1: header"):
        load_sib200(sib200_dir, ["eng_Latn"])


def test_label_order_may_differ_labels_map_by_name(sib200_dir):
    write_language(sib200_dir, "yor_Latn", labels=LABELS[::-1])
    data = load_sib200(sib200_dir, ["eng_Latn", "yor_Latn"])
    yor = data["yor_Latn"]
    assert yor.labels.names == tuple(LABELS) and yor.allowed is None  # the first language's order
    raw = (sib200_dir / "yor_Latn" / "train.tsv").read_text().splitlines()[1:]
    assert [LABELS[ex.label] for ex in yor.train] == [r.split("\t")[1] for r in raw]


def test_fewer_labels_give_an_allowed_set(sib200_dir):
    write_language(sib200_dir, "yor_Latn", labels=LABELS[:3])
    data = load_sib200(sib200_dir, ["eng_Latn", "yor_Latn"])
    assert data["yor_Latn"].allowed == (0, 1, 2) and data["eng_Latn"].allowed is None
    assert {ex.label for ex in data["yor_Latn"].test} <= {0, 1, 2}


def test_missing_root_says_how_to_configure(tmp_path):
    with pytest.raises(DataError, match="BORDERLESS_DATA"):
        available_languages(tmp_path / "nowhere")


def test_data_path_from_environment(sib200_dir, monkeypatch):
    from borderless.config import DataConfig, resolve_data_path

    monkeypatch.setenv("BORDERLESS_DATA", str(sib200_dir))
    assert resolve_data_path(DataConfig()) == sib200_dir
    assert resolve_data_path(DataConfig(path="/x/y")) == __import__("pathlib").Path("/x/y")


def test_real_sib200_is_readable():
    from conftest import REAL_SIB200

    if not REAL_SIB200.exists():
        pytest.skip("real SIB-200 not beside the repo")
    langs = available_languages(REAL_SIB200)
    assert len(langs) == 205
    data = load_sib200(REAL_SIB200, ["hau_Latn", "zho_Hans"])
    assert [len(data["hau_Latn"].train), len(data["hau_Latn"].dev), len(data["hau_Latn"].test)] == [701, 99, 204]
    # parallel corpus: the same index ids in every language
    assert [e.uid.split("/")[1] for e in data["hau_Latn"].test] == [e.uid.split("/")[1] for e in data["zho_Hans"].test]
