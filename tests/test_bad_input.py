"""The bad-input suite: every kind of broken data, config or output folder gets one clear message
naming the file and line (or the key), exit code 2, and the results folder already there is left
exactly as it was. Legitimate inputs that often trip readers (BOM, CRLF, a 1 MB line) load."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from borderless.cli import main
from borderless.config import load_config
from borderless.data.presets import load_dataset
from conftest import tiny_config_text


def _replace_last_row(path: Path, row: str) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(lines[:-1] + [row]) + "\n", encoding="utf-8")


def _append(path: Path, data: bytes) -> None:
    path.write_bytes(path.read_bytes() + data)


ENG = "eng_Latn"
# kind → (what is done to the data folder, config lines added to [train]/[federated]/[data], message regex)
BROKEN_DATA = {
    "truncated TSV row": (lambda d: _replace_last_row(d / "train.tsv", "34\ttravel"),
                          r"eng_Latn/train\.tsv:36: expected 3 tab-separated columns"),
    "binary file as TSV": (lambda d: (d / "dev.tsv").write_bytes(bytes(range(256)) * 40),
                           r"eng_Latn/dev\.tsv:1: a NUL byte: this is a binary file"),
    "empty split": (lambda d: (d / "test.tsv").write_text("index_id\tcategory\ttext\n"),
                    r"eng_Latn/test\.tsv: no rows after the header"),
    "missing split": (lambda d: (d / "test.tsv").unlink(), r"eng_Latn/test\.tsv: missing"),
    "missing labels.txt": (lambda d: (d / "labels.txt").unlink(), r"eng_Latn/labels\.txt: labels file missing"),
    "duplicate index ids": (lambda d: _append(d / "train.tsv", b"3\ttravel\tagain\n"),
                            r"eng_Latn/train\.tsv:37: id '3' \(column 'index_id'\) is already on line 5"),
    "bytes that are not UTF-8": (lambda d: _append(d / "train.tsv", b"99\ttravel\tcaf\xe9 au lait\n"),
                                 r"eng_Latn/train\.tsv:37: byte 0xe9 at column 14 is not UTF-8"),
    "label not in labels.txt": (lambda d: _append(d / "dev.tsv", b"99\tcooking\ta recipe\n"),
                                r"eng_Latn/dev\.tsv:16: label 'cooking' is not in labels\.txt"),
    "empty text": (lambda d: _append(d / "dev.tsv", b"99\ttravel\t   \n"),
                   r"eng_Latn/dev\.tsv:16: empty text \(text\)"),
}
BROKEN_CONFIG = {
    "unknown config key": ("[train]\nlrr = 0.1", r"c\.toml: train: unknown key 'lrr'; did you mean lr\?"),
    "wrong type": ('[train]\nbatch_size = "eight"', r"c\.toml: train\.batch_size: .*int"),
    "lr <= 0": ("[train]\nlr = 0.0", r"train\.lr: must be > 0"),
    "rounds 0": ("[federated]\nrounds = 0", r"federated\.rounds: must be >= 1"),
    "batch 0": ("[train]\nbatch_size = 0", r"train\.batch_size: must be >= 1"),
    "cap < 0": ("[data]\nmax_train_per_language = -5", r"data\.max_train_per_language: must be >= 0"),
    "zero-shot dev cap < -1": ("[data]\nmax_zero_shot_dev_per_language = -2",
                               r"data\.max_zero_shot_dev_per_language: must be >= -1"),
    "unknown language": ('[data]\nlanguages = ["eng_Latn", "xyz_Latn"]', r"unknown sib200 language 'xyz_Latn'"),
}


def _config(tmp_path: Path, data: Path, extra: str = "") -> Path:
    text = tiny_config_text(data, ("eng_Latn", "hau_Latn"))
    sections: dict[str, list[str]] = {}
    section = ""
    for line in extra.splitlines():  # put each extra key in its own section of the generated file
        if line.startswith("["):
            section = line
        elif line.strip():
            sections.setdefault(section, []).append(line)
    for header, lines in sections.items():
        key = lines[0].split("=")[0].strip()
        body = text.split(header + "\n", 1)
        if len(body) == 2:  # drop the generated value of the same key, then add ours
            rest = "\n".join(x for x in body[1].split("\n") if x.split("=")[0].strip() != key)
            text = body[0] + header + "\n" + "\n".join(lines) + "\n" + rest
        else:
            text += f"\n{header}\n" + "\n".join(lines) + "\n"
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def earlier_results(tmp_path):
    """A results folder from an earlier run; a failing run into it (with --overwrite) must not touch it."""
    out = tmp_path / "out"
    (out / "plots").mkdir(parents=True)
    (out / "metrics.jsonl").write_text('{"round": 1, "accuracy": 0.5}\n')
    (out / "results.json").write_text('{"paradigms": {}}\n')
    (out / "plots" / "dev.png").write_bytes(b"\x89PNG earlier")
    return out


def _fails_cleanly(cfg: Path, out: Path, capsys, pattern: str) -> None:
    before = _snapshot(out)
    code = main(["run", str(cfg), "-o", str(out), "--overwrite", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("borderless: error: ") and "Traceback" not in err
    assert re.search(pattern, err), err
    assert _snapshot(out) == before  # nothing already written was damaged


@pytest.mark.parametrize("kind", BROKEN_DATA)
def test_broken_data_is_named_by_file_and_line(kind, tmp_path, sib200_dir, earlier_results, capsys):
    damage, pattern = BROKEN_DATA[kind]
    damage(sib200_dir / ENG)
    _fails_cleanly(_config(tmp_path, sib200_dir), earlier_results, capsys, pattern)


@pytest.mark.parametrize("kind", BROKEN_CONFIG)
def test_broken_config_is_named_by_file_and_key(kind, tmp_path, sib200_dir, earlier_results, capsys):
    extra, pattern = BROKEN_CONFIG[kind]
    _fails_cleanly(_config(tmp_path, sib200_dir, extra), earlier_results, capsys, pattern)


def test_a_results_folder_that_cannot_be_written(tmp_path, sib200_dir, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    code = main(["run", str(_config(tmp_path, sib200_dir)), "-o", str(blocker / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and re.search(r"a-file/out: cannot write the results folder", err), err
    assert blocker.read_text() == "not a folder\n"


def test_a_non_empty_results_folder_is_refused_without_overwrite(tmp_path, sib200_dir, earlier_results, capsys):
    before = _snapshot(earlier_results)
    code = main(["run", str(_config(tmp_path, sib200_dir)), "-o", str(earlier_results), "--quiet"])
    assert code == 2 and "pass --overwrite" in capsys.readouterr().err
    assert _snapshot(earlier_results) == before


LEGITIMATE = {
    "BOM": lambda d: (d / "train.tsv").write_bytes(b"\xef\xbb\xbf" + (d / "train.tsv").read_bytes()),
    "CRLF": lambda d: [(d / f).write_bytes((d / f).read_bytes().replace(b"\n", b"\r\n"))
                       for f in ("train.tsv", "labels.txt")],
    "BOM in labels.txt": lambda d: (d / "labels.txt").write_bytes(b"\xef\xbb\xbf" + (d / "labels.txt").read_bytes()),
    "1 MB line": lambda d: _append(d / "train.tsv", b"99\ttravel\t" + b"word " * 210_000 + b"\n"),
}


@pytest.mark.parametrize("kind", LEGITIMATE)
def test_legitimate_files_load_as_their_clean_twin(kind, tmp_path, sib200_dir):
    cfg = load_config(_config(tmp_path, sib200_dir))
    clean = load_dataset(cfg.data)[ENG]
    LEGITIMATE[kind](sib200_dir / ENG)
    got = load_dataset(cfg.data)[ENG]
    assert got.labels == clean.labels
    if kind == "1 MB line":
        assert got.train[:-1] == clean.train and len(got.train[-1].text) > 1_000_000
    else:
        assert got.train == clean.train and got.dev == clean.dev and got.test == clean.test
        assert all("\r" not in ex.text and "\ufeff" not in ex.uid for ex in got.train)
