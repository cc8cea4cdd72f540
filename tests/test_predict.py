"""borderless predict: TSV / CSV / JSONL / plain text in, one JSON line per input out, the input's
columns passed through, errors naming file and line; on a run's own test split it reproduces the
run's test accuracy."""

import json

import pytest

from borderless.cli import main
from borderless.data.folder import DataError
from borderless.predict import read_inputs
from trained_run import finished_run


def test_inputs_are_read_with_the_dataset_readers_rules(tmp_path):
    tsv = tmp_path / "in.tsv"
    tsv.write_bytes("\ufeffindex_id\ttext\tcategory\r\n7\tthe river\tscience\r\n\r\n9\tda na\tsports\r\n".encode())
    rows = read_inputs(str(tsv), "tsv")
    assert rows == [{"_line": 2, "index_id": "7", "text": "the river", "category": "science"},
                    {"_line": 4, "index_id": "9", "text": "da na", "category": "sports"}]
    j = tmp_path / "in.jsonl"
    j.write_text('{"sentence": "a", "n": 1}\n\n{"sentence": "b", "n": 2}\n')
    assert [r["sentence"] for r in read_inputs(str(j), "jsonl", "sentence")] == ["a", "b"]
    txt = tmp_path / "in.txt"
    txt.write_text("one\n\ntwo\n")
    assert read_inputs(str(txt), "text") == [{"_line": 1, "text": "one"}, {"_line": 3, "text": "two"}]
    with pytest.raises(DataError, match=r"in.tsv:1: header .* lacks the column\(s\) \['sentence'\]; .*--text-column"):
        read_inputs(str(tsv), "tsv", "sentence")
    j.write_text('{"sentence": "a"}\n{oops\n')
    with pytest.raises(DataError, match=r"in.jsonl:2: not valid JSON"):
        read_inputs(str(j), "jsonl", "sentence")
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\na,b,c\n")
    with pytest.raises(DataError, match=r"bad.csv:2: expected 2 comma-separated columns \(text, label\), found 3"):
        read_inputs(str(bad), "csv")


@pytest.fixture(scope="module")
def finished(tmp_path_factory, tiny_backbone):
    return finished_run(tmp_path_factory.mktemp("run"), tiny_backbone)


def test_predicting_a_test_split_reproduces_the_runs_accuracy_and_passes_columns_through(finished, tmp_path,
                                                                                         capsys):
    folder, cfg = finished
    res = json.loads((folder / "results.json").read_text())
    test_tsv = cfg.data.path + "/hau_Latn/test.tsv"
    out = tmp_path / "pred.jsonl"
    assert main(["predict", str(folder), "--input", test_tsv, "-o", str(out), "--language", "hau_Latn",
                 "--paradigm", "monolingual", "--quiet"]) == 0
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    header = open(test_tsv, encoding="utf-8").readline().rstrip("\n").split("\t")
    assert set(header) <= set(lines[0]) and {"label", "probabilities", "id"} <= set(lines[0])
    assert abs(sum(lines[0]["probabilities"].values()) - 1) < 1e-4
    label_col = "category" if "category" in header else "label"
    acc = sum(x["label"] == x[label_col] for x in lines) / len(lines)
    # the run tested the whole split (tiny config: no test cap)
    assert cfg.data.max_test_per_language == 0
    assert acc == res["paradigms"]["monolingual"]["test_accuracy"]["hau_Latn"]


def test_bad_input_exits_2_naming_the_file_and_keeps_an_existing_output(finished, tmp_path, capsys):
    folder, _ = finished
    out = tmp_path / "pred.jsonl"
    out.write_text("earlier\n")
    bad = tmp_path / "in.csv"
    bad.write_text("sentence\nhello\n")
    assert main(["predict", str(folder), "--input", str(bad), "-o", str(out)]) == 2
    assert "in.csv:1: header ['sentence'] lacks the column(s) ['text']" in capsys.readouterr().err
    assert out.read_text() == "earlier\n"
    assert main(["predict", str(folder), "--input", str(tmp_path / "missing.tsv")]) == 2
