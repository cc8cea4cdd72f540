"""``borderless predict MODEL_DIR|RUN_DIR --input FILE|-``: classify new text with a trained model
(issue 44, item 3).

Input: TSV, CSV (a header names the columns), JSONL (one object a line) or plain text (one text a
line; also standard input), read with the dataset reader's rules: UTF-8 with or without a BOM, any
line ends, errors that name the file and line; TSV fields are literal (no quoting), CSV fields may be quoted. The text is the ``text`` column unless
``--text-column`` says otherwise (``--pair-column`` for sentence pairs), so a SIB-200 ``test.tsv``
predicts as it is. Every input column passes through to the output, which is one JSON object a line:
the input's columns (``id`` = the line number when the input has none), ``label`` and
``probabilities`` (every label the language has). A tagger (NER, POS) writes ``words`` (the text split
on whitespace; a JSONL text may be a list of words), ``tags`` and, for BIO tags, ``entities``
(``{"type", "start", "end", "text"}``, word positions, end exclusive).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

from borderless.data.folder import DataError, FolderFormat, jsonl_objects, read_text, rows_of_text

FORMATS = ("tsv", "csv", "jsonl", "text")
CHUNK = 512  # texts a predict_proba call gets (it batches them by length)


def input_format(path: str, given: str | None) -> str:
    if given:
        return given
    suffix = Path(path).suffix.lower()
    return {".tsv": "tsv", ".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl"}.get(suffix, "text")


def read_inputs(path: str, fmt: str, text_column: str = "text", pair_column: str = "") -> list[dict]:
    """Every input row as {column: value}, with its line number under ``_line``."""
    if path == "-":
        where, text = "<stdin>", _decode(sys.stdin.buffer.read(), "<stdin>")
    else:
        where, text = path, read_text(Path(path))
    rows: list[dict] = []
    need = [text_column] + ([pair_column] if pair_column else [])
    if fmt == "text":
        for lineno, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                rows.append({"_line": lineno, text_column: line})
        if pair_column:
            raise DataError(f"{where}: plain text has no {pair_column!r} column; give TSV, CSV or JSONL for sentence pairs")
        return rows
    if fmt == "jsonl":
        for lineno, obj in jsonl_objects(text.splitlines(), where, f"with key {text_column!r}"):
            missing = [k for k in need if k not in obj]
            if missing:
                raise DataError(f"{where}:{lineno}: no key {missing[0]!r} (has: {', '.join(obj)}); name the text "
                                "with --text-column (and --pair-column for pairs)")
            rows.append({"_line": lineno, **obj})
        return rows
    # TSV fields are literal (as SIB-200's files need: a text may start with a quote); CSV honours quoting
    table = FolderFormat(format=fmt, quoting=fmt != "tsv")
    try:
        return [{"_line": lineno, **row} for lineno, row in rows_of_text(text, where, table, need)]
    except DataError as err:
        raise DataError(f"{err} (predict: name the text column with --text-column, and --pair-column for pairs)") from None


def _decode(raw: bytes, where: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise DataError(f"{where}:{line}: bytes that are not UTF-8; send UTF-8 text") from None


def predictions(model, rows: list[dict], language: str | None, text_column: str = "text", pair_column: str = "",
                progress: bool = False) -> Iterator[dict]:
    """One output object per input row, in input order."""
    from tqdm import tqdm

    if getattr(model, "token_task", False):
        yield from tagged(model, rows, language, text_column, pair_column, progress)
        return
    with tqdm(total=len(rows), unit="text", disable=not progress or len(rows) <= CHUNK, file=sys.stderr) as bar:
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            texts = [str(r[text_column]) for r in chunk]
            pairs = [str(r[pair_column]) for r in chunk] if pair_column else None
            for r, probs in zip(chunk, model.predict_proba(texts, language, pairs)):
                out = {k: v for k, v in r.items() if k != "_line"}
                out.setdefault("id", r["_line"])
                out["label"] = max(probs, key=probs.get)
                out["probabilities"] = {k: round(v, 6) for k, v in probs.items()}
                yield out
            bar.update(len(chunk))


def tagged(model, rows: list[dict], language: str | None, text_column: str = "text", pair_column: str = "",
           progress: bool = False) -> Iterator[dict]:
    """A tagger's output per input row: its ``words`` (the text split on whitespace, or a JSONL list),
    their ``tags`` (null for a word past max_length) and, for BIO tags, the ``entities`` they name."""
    from tqdm import tqdm

    from borderless.data.conll import entity_spans, is_bio

    if pair_column:
        raise DataError("--pair-column: a tagger reads one sentence per row; drop --pair-column")
    bio = is_bio(model.labels)
    for r in rows:  # every row checked before the first is written
        text = r[text_column]
        if not (text.split() if isinstance(text, str) else isinstance(text, list) and text):
            raise DataError(f"input line {r['_line']}: no words to tag in {text_column!r}; give a sentence "
                            "(words split on whitespace, or a JSONL list of words)")
    with tqdm(total=len(rows), unit="sentence", disable=not progress or len(rows) <= CHUNK, file=sys.stderr) as bar:
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            for r, pairs in zip(chunk, model.tag([r[text_column] for r in chunk], language)):
                out = {k: v for k, v in r.items() if k not in ("_line", text_column)}
                out.setdefault("id", r["_line"])
                out[text_column] = r[text_column]
                out["words"], out["tags"] = [w for w, _ in pairs], [t for _, t in pairs]
                if bio:
                    out["entities"] = entity_spans(out["words"], out["tags"])
                yield out
            bar.update(len(chunk))


def run_predict(model_path: str, input_path: str, output: str | None = None, language: str | None = None,
                paradigm: str | None = None, fmt: str | None = None, text_column: str = "text",
                pair_column: str = "", progress: bool = True) -> int:
    from borderless.trained_model import load

    rows = read_inputs(input_path, input_format(input_path, fmt), text_column, pair_column)  # bad input: before the model
    model = load(model_path, paradigm)
    n = 0

    def write(fh) -> None:
        nonlocal n
        for obj in predictions(model, rows, language, text_column, pair_column, progress):
            fh.write(json.dumps(obj, ensure_ascii=False) + "\n")
            n += 1

    try:
        if output:  # whole or not at all: an interrupted run leaves no half-written file
            from borderless.atomic_files import replace_atomically

            replace_atomically(Path(output), lambda tmp: _write_to(tmp, write))
            print(f"{n} predictions written to {output}", file=sys.stderr)
        else:
            write(sys.stdout)
    finally:
        model.close()
    return 0


def _write_to(path: Path, write) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        write(fh)
