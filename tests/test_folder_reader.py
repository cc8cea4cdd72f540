"""The per-language folder reader: every format, its errors (file, line, fix), carving, fallbacks,
per-language label sets and sentence pairs."""

import dataclasses
import json

import pytest

from borderless.data.folder import DataError, FolderFormat, available_languages, load_folder, read_rows
from borderless.data.presets import PRESETS

CSV = FolderFormat(format="csv", splits={s: f"{{lang}}/{s}.csv" for s in ("train", "dev", "test")},
                   text_columns=("text",), label_column="label", id_column="id")


def write_csv(root, lang, rows_per_split=(6, 3, 3), labels=("neg", "pos")):
    (root / lang).mkdir(parents=True, exist_ok=True)
    uid = 0
    for split, n in zip(("train", "dev", "test"), rows_per_split):
        lines = ["id,text,label"]
        for i in range(n):
            # a quoted field with a comma, a doubled quote and a newline: real CSV quoting
            lines.append(f'{uid},"{lang} text, ""quoted""\nline {i}",{labels[i % len(labels)]}')
            uid += 1
        (root / lang / f"{split}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_csv_with_real_quoting_and_discovered_labels(tmp_path):
    write_csv(tmp_path, "aaa")
    write_csv(tmp_path, "bbb")
    assert available_languages(tmp_path, CSV) == ["aaa", "bbb"]
    data = load_folder(tmp_path, ["aaa", "bbb"], CSV)
    a = data["aaa"]
    assert a.labels.names == ("neg", "pos") and a.allowed is None
    assert a.train[0].text == 'aaa text, "quoted"\nline 0' and a.train[0].uid == "aaa/0"
    assert [ex.label for ex in a.train] == [0, 1, 0, 1, 0, 1]


def test_jsonl_and_headerless_tsv_and_pairs(tmp_path):
    jl = FolderFormat(format="jsonl", splits={s: f"{{lang}}.{s}.jsonl" for s in ("train", "dev", "test")},
                      text_columns=("premise",), pair_column="hypothesis", label_column="gold")
    for split in ("train", "dev", "test"):
        rows = [{"premise": f"p{i}", "hypothesis": f"h{i}", "gold": ["yes", "no"][i % 2]} for i in range(4)]
        (tmp_path / f"xx.{split}.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    ex = load_folder(tmp_path, ["xx"], jl)["xx"].train[1]
    assert (ex.text, ex.text_pair, ex.uid, ex.label) == ("p1", "h1", "xx/2", 0)  # labels sorted: no, yes

    tsv = FolderFormat(format="tsv", header=False, columns=("a", "b", "y"), quoting=False,
                       splits={s: f"{s}/{{lang}}.tsv" for s in ("train", "dev", "test")},
                       text_columns=("a", "b"), label_column="y")
    for split in ("train", "dev", "test"):
        (tmp_path / split).mkdir()
        (tmp_path / split / "zz.tsv").write_text('say "hi\tthere\tl1\nbye\tnow\tl2\n')
    zz = load_folder(tmp_path, ["zz"], tsv)["zz"]
    assert zz.train[0].text == 'say "hi there' and zz.train[0].text_pair is None  # quotes are text; columns joined


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl"])
def test_same_clear_errors_in_every_format(tmp_path, fmt):
    spec = FolderFormat(format=fmt, splits={s: f"{{lang}}/{s}.{fmt}" for s in ("train", "dev", "test")},
                        text_columns=("text",), label_column="label", labels_file="{lang}/labels.txt")
    sep = "\t" if fmt == "tsv" else ","
    folder = tmp_path / "ll"
    folder.mkdir()
    (folder / "labels.txt").write_text("a\nb\n")

    def write(split, rows, header=("text", "label")):
        path = folder / f"{split}.{fmt}"
        if fmt == "jsonl":
            path.write_text("".join(json.dumps(dict(zip(header, r))) + "\n" for r in rows))
        else:
            path.write_text(sep.join(header) + "\n" + "".join(sep.join(r) + "\n" for r in rows))
        return path

    for split in ("train", "dev", "test"):
        write(split, [("one", "a"), ("two", "b")])
    assert len(load_folder(tmp_path, ["ll"], spec)["ll"].train) == 2
    bad = write("dev", [("one", "a"), ("two", "c")])  # a label not in labels.txt
    row = 3 if fmt != "jsonl" else 2  # jsonl has no header line
    with pytest.raises(DataError, match=rf"{bad}:{row}: label 'c' is not in labels\.txt"):
        load_folder(tmp_path, ["ll"], spec)
    write("dev", [("one", "a")])
    bad = write("test", [("one", "a")], header=("sentence", "label"))  # a column missing
    with pytest.raises(DataError, match=rf"{bad}:1: .*'text'.*data\.text_columns"):
        load_folder(tmp_path, ["ll"], spec)
    (folder / f"test.{fmt}").unlink()  # a split missing
    with pytest.raises(DataError, match=rf"ll/test\.{fmt}: missing"):
        load_folder(tmp_path, ["ll"], spec)
    with pytest.raises(DataError, match="unknown folder language 'lx'"):
        load_folder(tmp_path, ["lx"], spec)


def test_row_with_wrong_column_count_and_bad_json(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("text\tlabel\nfine\ta\nbroken\n")
    with pytest.raises(DataError, match=rf"{path}:3: expected 2 tab-separated columns \(text, label\), found 1"):
        list(read_rows(path, FolderFormat(format="tsv", quoting=False)))
    path = tmp_path / "t.jsonl"
    path.write_text('{"text": "a", "label": "x"}\n{"text": "b", label}\n')
    with pytest.raises(DataError, match=rf"{path}:2: not valid JSON"):
        list(read_rows(path, FolderFormat(format="jsonl")))


def test_carving_is_stratified_seeded_and_parallel(tmp_path):
    spec = PRESETS["xnli"]
    for split, n in (("dev", 30), ("test", 6)):
        (tmp_path / split).mkdir()
        for lang in ("en", "sw"):
            rows = [f"{lang} premise {i}\t{lang} hypothesis {i}\t{['entailment', 'neutral', 'contradiction'][i % 3]}"
                    for i in range(n)]
            (tmp_path / split / f"{lang}.tsv").write_text("\n".join(rows) + "\n")
    data = load_folder(tmp_path, ["en", "sw"], spec)
    en, sw = data["en"], data["sw"]
    assert (len(en.train), len(en.dev), len(en.test)) == (24, 6, 6)
    assert sorted(ex.label for ex in en.dev) == [0, 0, 1, 1, 2, 2]  # stratified
    assert [ex.uid.split("/")[1] for ex in en.dev] == [ex.uid.split("/")[1] for ex in sw.dev]  # same rows
    assert not {ex.uid for ex in en.dev} & {ex.uid for ex in en.train}
    assert en.train[0].text_pair == en.train[0].text.replace("premise", "hypothesis") and "carved" in en.notes[0]


def test_xnli_carve_keeps_a_premise_and_its_hypotheses_on_one_side(tmp_path):
    (tmp_path / "dev").mkdir()
    (tmp_path / "test").mkdir()
    labels = ("neutral", "contradiction", "entailment")
    rows = [f"premise {g}\thypothesis {g}.{j}\t{labels[j]}" for g in range(50) for j in range(3)]
    (tmp_path / "dev" / "en.tsv").write_text("\n".join(rows) + "\n")
    (tmp_path / "test" / "en.tsv").write_text("\n".join(rows[:6]) + "\n")
    en = load_folder(tmp_path, ["en"], PRESETS["xnli"])["en"]
    assert (len(en.train), len(en.dev)) == (120, 30)
    assert not {ex.text for ex in en.dev} & {ex.text for ex in en.train}
    assert sorted(ex.label for ex in en.dev) == [0] * 10 + [1] * 10 + [2] * 10
    assert "rows sharing a text kept on one side" in en.notes[0]
    row_by_row = load_folder(tmp_path, ["en"], dataclasses.replace(PRESETS["xnli"], carve_by_text=False))["en"]
    assert {ex.text for ex in row_by_row.dev} & {ex.text for ex in row_by_row.train}  # what the grouping prevents


def test_fallback_split_and_union_label_space(tmp_path):
    spec = PRESETS["masakhanews"]
    for lang, labels, full in (("hau", ("business", "health", "sports"), True), ("amh", ("health", "politics"), False)):
        d = tmp_path / "data" / lang
        d.mkdir(parents=True)
        (d / "labels.txt").write_text("\n".join(labels) + "\n")
        splits = ("train", "dev", "test") if full else ("dev", "test")
        for split in splits:
            rows = [f'{labels[i % len(labels)]}\t"Head, {i}"\tBody {i}\turl' for i in range(6)]
            (d / f"{split}.tsv").write_text("category\theadline\ttext\turl\n" + "\n".join(rows) + "\n")
        if not full:
            fs = tmp_path / "few_shot_50" / lang
            fs.mkdir(parents=True)
            rows = [f"{labels[i % len(labels)]}\tH{i}\tB{i}" for i in range(4)]
            (fs / "train.tsv").write_text("category\theadline\ttext\n" + "\n".join(rows) + "\n")
    data = load_folder(tmp_path, ["hau", "amh"], spec)
    assert data["hau"].labels.names == ("business", "health", "sports", "politics")
    assert data["hau"].allowed == (0, 1, 2) and data["amh"].allowed == (1, 3)
    assert len(data["amh"].train) == 4 and "few_shot_50/amh/train.tsv" in data["amh"].notes[0]
    assert data["hau"].train[0].text == "Head, 0 Body 0"  # headline + text; quoted headline unquoted
    assert {ex.label for ex in data["amh"].test} == {1, 3}


def test_zero_shot_label_outside_the_training_space_is_refused(tmp_path):
    write_csv(tmp_path / "a", "aaa")
    write_csv(tmp_path / "b", "zzz", labels=("neg", "mixed"))
    with pytest.raises(DataError, match=r"label\(s\) \['mixed'\] of zzz"):
        load_folder(tmp_path / "a", ["aaa"], CSV, zero_shot=((tmp_path / "b", "zzz", CSV),))
    write_csv(tmp_path / "b", "yyy", labels=("pos",))
    data = load_folder(tmp_path / "a", ["aaa"], CSV, zero_shot=((tmp_path / "b", "yyy", CSV),))
    assert data["yyy"].train == [] and data["yyy"].allowed == (1,)


def test_a_given_label_space_is_kept_and_checked(tmp_path):
    """A Flower node holds one language but must build the run's head: data.label_space fixes it."""
    write_csv(tmp_path, "aaa")
    data = load_folder(tmp_path, ["aaa"], CSV, label_space=("pos", "mixed", "neg"))
    assert data["aaa"].labels.names == ("pos", "mixed", "neg") and data["aaa"].allowed == (0, 2)
    assert [ex.label for ex in data["aaa"].train[:2]] == [2, 0]
    with pytest.raises(DataError, match=r"label\(s\) \['neg'\] of aaa"):
        load_folder(tmp_path, ["aaa"], CSV, label_space=("pos",))


def test_empty_texts_are_refused_by_line_or_skipped_and_counted(tmp_path):
    import dataclasses
    write_csv(tmp_path, "aaa")
    test = tmp_path / "aaa" / "test.csv"
    test.write_text(test.read_text() + '90,"  ",neg\n91,"",pos\n')
    with pytest.raises(DataError, match=r"test\.csv:\d+: empty text \(text\).*data\.skip_empty"):
        load_folder(tmp_path, ["aaa"], CSV)
    a = load_folder(tmp_path, ["aaa"], dataclasses.replace(CSV, skip_empty=True))["aaa"]
    assert len(a.test) == 3 and {ex.uid for ex in a.test} == {"aaa/9", "aaa/10", "aaa/11"}
    assert any("2 row(s) of test.csv with an empty text skipped" in n for n in a.notes)
    assert PRESETS["americasnli"].skip_empty and not PRESETS["xnli"].skip_empty
