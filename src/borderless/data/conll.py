"""CoNLL files: one word per line with its tag, a blank line between sentences (MasakhaNER, MasakhaPOS).

Columns are separated by whitespace; the word is the first, the tag the ``tag_column``-th (0-based;
-1 = the last). ``-DOCSTART-`` lines are document separators, not words. A line with one column is
refused with its line number. BIO tags (NER) are checked per sentence: an ``I-X`` that does not
continue an ``X`` entity (after ``O``, at the start, or after another type) is repaired to ``B-X``,
as seqeval's default (conlleval) reading does, and counted, so the strict scorer sees the spans the
annotators meant.
"""

from __future__ import annotations

from pathlib import Path

from borderless.data.types import DataError

Sentence = tuple[int, list[str], list[str]]  # (line of its first word, words, tag names)


def read_conll(text: str, path: Path | str, tag_column: int = -1) -> list[Sentence]:
    """The sentences of one CoNLL file's text; ``path`` names the file in errors."""
    out: list[Sentence] = []
    words: list[str] = []
    tags: list[str] = []
    start = 0
    for lineno, line in enumerate(text.splitlines(), start=1):
        cols = line.split()
        if not cols or cols[0] == "-DOCSTART-":
            if words:
                out.append((start, words, tags))
            words, tags = [], []
            continue
        if len(cols) < 2:
            raise DataError(f"{path}:{lineno}: one column ({line.strip()!r}); a CoNLL line is a word and its tag "
                            "separated by whitespace, and a blank line ends a sentence: add the tag or remove the line")
        if tag_column >= len(cols) or tag_column < -len(cols):
            raise DataError(f"{path}:{lineno}: no column {tag_column} (the line has {len(cols)}); "
                            "set data.tag_column to the tag's column (0-based; -1 = the last)")
        if not words:
            start = lineno
        words.append(cols[0])
        tags.append(cols[tag_column])
    if words:
        out.append((start, words, tags))
    return out


def is_bio(tag_names) -> bool:
    """Do the tags follow the BIO scheme (every tag O, B-X or I-X, with at least one B- or I-)?"""
    names = set(tag_names)
    return any(t[:2] in ("B-", "I-") for t in names) and all(t == "O" or t[:2] in ("B-", "I-") for t in names)


def repair_bio(tags: list[str]) -> tuple[list[str], int]:
    """(tags with every ``I-X`` that does not continue an X entity turned into ``B-X``, how many were)."""
    out, fixed = [], 0
    prev = "O"
    for t in tags:
        if t.startswith("I-") and prev[2:] != t[2:]:
            t = "B-" + t[2:]
            fixed += 1
        out.append(t)
        prev = t
    return out, fixed


def entity_spans(words: list[str], tags: list[str | None]) -> list[dict]:
    """The entities a BIO tagging names, read the way it is scored (``repair_bio``, strict IOB2):
    ``[{"type": "PER", "start": 0, "end": 2, "text": "Musa Ade"}, ...]``, ``end`` exclusive, in words.
    A word without a tag (None: past max_length) ends any entity."""
    fixed, _ = repair_bio([t or "O" for t in tags])
    out: list[dict] = []
    for k, t in enumerate(fixed + ["O"]):
        if out and out[-1]["end"] == k and t == "I-" + out[-1]["type"]:
            out[-1]["end"] = k + 1
        elif t.startswith("B-"):
            out.append({"type": t[2:], "start": k, "end": k + 1})
    for e in out:
        e["text"] = " ".join(words[e["start"]:e["end"]])
    return out
