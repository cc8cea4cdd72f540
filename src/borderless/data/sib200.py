"""SIB-200 in its released folder format.

    <root>/<iso639-3>_<Script>/{train,dev,test}.tsv   columns: index_id, category, text
    <root>/<iso639-3>_<Script>/labels.txt             one label per line (the label order)

TSVs are read with quoting disabled: quote characters are part of the text.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from borderless.data.types import Example, LanguageData, LabelSet

SPLITS = ("train", "dev", "test")
COLUMNS = ("index_id", "category", "text")


class DataError(ValueError):
    """Bad or missing data, naming the file, line and fix."""


def available_languages(root: Path) -> list[str]:
    root = Path(root)
    if not root.is_dir():
        raise DataError(
            f"{root}: SIB-200 folder not found. Set data.path in the config or the BORDERLESS_DATA "
            "environment variable to the folder holding <lang>_<Script>/ subfolders."
        )
    return sorted(p.name for p in root.iterdir() if (p / "train.tsv").exists())


def read_labels(path: Path) -> LabelSet:
    if not path.exists():
        raise DataError(f"{path}: labels.txt missing; it must list one label per line")
    labels = tuple(line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    if not labels:
        raise DataError(f"{path}: labels.txt is empty; it must list one label per line")
    if len(set(labels)) != len(labels):
        raise DataError(f"{path}: a label is listed twice")
    return LabelSet(labels)


def read_split(path: Path, labels: LabelSet, lang: str) -> list[Example]:
    if not path.exists():
        raise DataError(f"{path}: missing; every language folder needs {', '.join(s + '.tsv' for s in SPLITS)}")
    examples: list[Example] = []
    with path.open(encoding="utf-8", newline="") as fh:
        header = fh.readline().rstrip("\r\n").split("\t")
        if tuple(header) != COLUMNS:
            raise DataError(f"{path}:1: header is {header}, expected the tab-separated columns {list(COLUMNS)}")
        for lineno, line in enumerate(fh, start=2):
            line = line.rstrip("\r\n")
            if not line:
                continue
            cols = line.split("\t")
            if len(cols) != 3:
                raise DataError(f"{path}:{lineno}: expected 3 tab-separated columns (index_id, category, text), found {len(cols)}")
            index_id, category, text = cols
            if category not in labels.index:
                raise DataError(
                    f"{path}:{lineno}: label {category!r} is not in labels.txt ({', '.join(labels.names)}); "
                    "fix the row or add the label to labels.txt"
                )
            if not text.strip():
                raise DataError(f"{path}:{lineno}: empty text")
            examples.append(Example(uid=f"{lang}/{index_id}", text=text, label=labels.index[category], lang=lang))
    if not examples:
        raise DataError(f"{path}: no rows after the header")
    return examples


def resolve_language(root: Path, code: str, available: list[str] | None = None) -> str:
    available = available if available is not None else available_languages(root)
    if code in available:
        return code
    prefix = [a for a in available if a.split("_")[0] == code]
    if len(prefix) == 1:
        return prefix[0]
    near = prefix or difflib.get_close_matches(code, available, n=5, cutoff=0.5)
    hint = f" Near matches: {', '.join(near)}." if near else ""
    raise DataError(
        f"unknown SIB-200 language {code!r} in {root}.{hint} "
        "Codes are <iso639-3>_<Script>, e.g. hau_Latn; `borderless languages` lists them."
    )


def load_language(root: Path, code: str) -> LanguageData:
    folder = Path(root) / code
    labels = read_labels(folder / "labels.txt")
    splits = {split: read_split(folder / f"{split}.tsv", labels, code) for split in SPLITS}
    return LanguageData(code, labels, splits["train"], splits["dev"], splits["test"])


def load_sib200(root: Path, languages: list[str] | tuple[str, ...]) -> dict[str, LanguageData]:
    """Load the named languages; all must share one label set."""
    root = Path(root)
    available = available_languages(root)
    codes = [resolve_language(root, code, available) for code in languages]
    data = {code: load_language(root, code) for code in codes}
    first = data[codes[0]]
    for code in codes[1:]:
        if data[code].labels != first.labels:
            raise DataError(
                f"{root / code / 'labels.txt'}: labels {data[code].labels.names} differ from "
                f"{codes[0]}'s {first.labels.names}; all languages must share one label set"
            )
    return data
