"""One reader for per-language folder datasets.

A dataset is a root folder with one set of split files per language. Where they are and how they
are read is a :class:`FolderFormat`: a path template per split (``{lang}`` is the language code,
e.g. ``"{lang}/train.tsv"`` or ``"test/{lang}.tsv"``), the file format (TSV with or without quoting,
CSV with standard quoting, JSONL), header or column names, the text column(s) (several are joined
with a space, e.g. a headline and its article), an optional second text of a sentence pair, the
label column, an optional id column (parallel datasets: the same id is the same sentence in every
language; otherwise the row number), and an optional labels file (else the labels found in the
language's files, sorted). Every problem names the file, the line and the fix.

The presets (sib200, masakhanews, xnli, nusax, americasnli) are FolderFormats in
``borderless.data.presets``; users describe their own data with the same keys in ``[data]``.
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import glob
import io
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from borderless.data.sampling import grouped_cap, stratified_cap
from borderless.data.types import DataError, Example, LabelSet, LanguageData

SPLITS = ("train", "dev", "test")
FORMATS = ("tsv", "csv", "jsonl", "conll")
csv.field_size_limit(sys.maxsize)  # news articles exceed the csv module's 128 KiB default


@dataclass(frozen=True)
class FolderFormat:
    name: str = "folder"
    splits: dict[str, str] = field(default_factory=dict)  # split → path template under the root, with {lang}
    format: str = "tsv"  # tsv | csv | jsonl | conll (a word and its tag per line: token tasks)
    tag_column: int = -1  # conll: the tag's column, 0-based (-1 = the last); the word is column 0
    header: bool = True  # tsv/csv: the first line names the columns
    columns: tuple[str, ...] = ()  # tsv/csv without a header: the column names, in order
    text_columns: tuple[str, ...] = ("text",)  # joined with a space
    pair_column: str = ""  # sentence pairs: the second text (e.g. the hypothesis)
    label_column: str = "label"
    id_column: str = ""  # empty: the row number
    quoting: bool = True  # tsv: honour "..." quoting (csv always does); False: quotes are text
    labels_file: str = ""  # template of a file listing the labels, one per line; empty: the labels found, sorted
    fallback: dict[str, str] = field(default_factory=dict)  # split → template read where the split's own file is missing
    carve_from: str = ""  # a split whose file is cut into train and dev (XNLI: dev/), seeded and stratified
    carve_dev_fraction: float = 0.2
    carve_test_fraction: float = 0.0  # > 0: the test split is carved from carve_from too (PAWS-X: its test file has no labels)
    carve_seed: int = 0
    # the carve by row id, not stratified: a seeded hash of each row's id decides its side, so parallel
    # files (the same id is the same sentence) are cut into the same rows in every language, whatever
    # their labels (PAWS-X translations sometimes disagree on one)
    carve_by_id: bool = False
    # the carve keeps examples that share their text on one side (XNLI: a premise and its three
    # hypotheses, one per label; split row by row, dev premises are in training with the other labels)
    carve_by_text: bool = False
    skip_empty: bool = False  # rows with an empty text (or second text) are skipped and counted, not refused
    folder: str = ""  # the preset's folder name under the shared data root
    note: str = ""  # one line for people: where the data comes from

    def template(self, split: str) -> str | None:
        if split in self.carved():
            return self.splits.get(self.carve_from)
        return self.splits.get(split)

    def carved(self) -> tuple[str, ...]:
        """The splits cut out of ``carve_from``'s file."""
        if not self.carve_from:
            return ()
        return ("train", "dev", "test") if self.carve_test_fraction > 0 else ("train", "dev")


def _where(fmt: FolderFormat) -> str:
    return f"the {fmt.name} dataset" if fmt.name != "folder" else "your dataset (data.splits)"


def available_languages(root: Path, fmt: FolderFormat) -> list[str]:
    """Languages with at least one split file under ``root`` (a missing split is reported on loading)."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(
            f"{root}: {fmt.name} folder not found. Set data.path in the config"
            + (" or the BORDERLESS_DATA environment variable" if fmt.name == "sib200" else "")
            + f" to the folder holding {fmt.name}'s per-language files."
        )
    tok = re.escape("{lang}")
    found = set()
    for template in dict.fromkeys(fmt.splits.values()):
        pattern = re.compile(re.escape(template).replace(tok, "(?P<lang>[^/]+)", 1).replace(tok, "(?P=lang)") + "$")
        for path in glob.glob(glob.escape(str(root)) + "/" + template.replace("{lang}", "*")):
            m = pattern.match(Path(path).relative_to(root).as_posix())
            if m:
                found.add(m.group("lang"))
    return sorted(found)


def resolve_language(root: Path, code: str, available: list[str], fmt: FolderFormat) -> str:
    if code in available:
        return code
    prefix = [a for a in available if a.split("_")[0] == code]
    if len(prefix) == 1:
        return prefix[0]
    near = prefix or difflib.get_close_matches(code, available, n=5, cutoff=0.5)
    hint = (f" Near matches: {', '.join(near)}." if near else
            f" Available: {', '.join(available[:20])}." if available else
            f" No language's files found there: check data.path and data.splits ({', '.join(fmt.splits.values())}).")
    extra = (" Codes are <iso639-3>_<Script>, e.g. hau_Latn; `borderless languages` lists them."
             if fmt.name == "sib200" else "")
    raise DataError(f"unknown {fmt.name} language {code!r} in {root}.{hint}{extra}")


def read_labels(path: Path) -> LabelSet:
    if not path.exists():
        raise DataError(f"{path}: labels file missing; it must list one label per line")
    labels = tuple(line.strip() for line in read_text(path).splitlines() if line.strip())
    if not labels:
        raise DataError(f"{path}: labels file is empty; it must list one label per line")
    if len(set(labels)) != len(labels):
        raise DataError(f"{path}: a label is listed twice")
    return LabelSet(labels)


def _needed(fmt: FolderFormat) -> list[str]:
    cols = list(fmt.text_columns) + [c for c in (fmt.pair_column, fmt.label_column, fmt.id_column) if c]
    return list(dict.fromkeys(cols))


def read_text(path: Path) -> str:
    """A split file's text: UTF-8, with or without a byte-order mark, any line ends. A binary file or
    bytes that are not UTF-8 are refused with the line they are on."""
    raw = path.read_bytes()
    if b"\x00" in raw:
        line = raw[: raw.index(b"\x00")].count(b"\n") + 1
        raise DataError(f"{path}:{line}: a NUL byte: this is a binary file, not {path.suffix.lstrip('.') or 'text'}; "
                        "point data.splits at the text file")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        col = err.start - (raw.rfind(b"\n", 0, err.start) + 1) + 1
        raise DataError(f"{path}:{line}: byte 0x{raw[err.start]:02x} at column {col} is not UTF-8; "
                        "save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)") from None


def jsonl_objects(lines, where, expected: str = "") -> Iterator[tuple[int, dict]]:
    """(line number, object) for every non-empty line of JSONL text; ``expected`` describes the object
    in the error for a line that is valid JSON but not an object."""
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{where}:{lineno}: not valid JSON ({err.msg}); each line must be one JSON object") from None
        if not isinstance(obj, dict):
            raise DataError(f"{where}:{lineno}: expected a JSON object {expected}, got {type(obj).__name__}".replace("  ", " "))
        yield lineno, obj


def read_rows(path: Path, fmt: FolderFormat) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, {column: value}) for every non-empty row of one split file."""
    return rows_of_text(read_text(path), path, fmt, _needed(fmt))


def rows_of_text(text: str, path, fmt: FolderFormat, needed: list[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """``read_rows`` on text already decoded (``path`` names it in errors): the ``needed`` columns must
    be there; TSV / CSV rows keep every column, JSONL objects the needed keys."""
    with io.StringIO(text, newline="") as fh:
        if fmt.format == "jsonl":
            for lineno, obj in jsonl_objects(fh, path, f"with keys {needed}"):
                missing = [k for k in needed if k not in obj]
                if missing:
                    raise DataError(f"{path}:{lineno}: no key {missing[0]!r} (keys: {', '.join(obj)}); "
                                    "fix the row or set data.text_columns / data.label_column to the file's keys")
                yield lineno, {k: "" if obj[k] is None else str(obj[k]) for k in needed}
            return
        tsv = fmt.format == "tsv"
        sep = "tab" if tsv else "comma"
        quoting = csv.QUOTE_NONE if tsv and not fmt.quoting else csv.QUOTE_MINIMAL
        reader = csv.reader(fh, delimiter="\t" if tsv else ",", quoting=quoting)
        if fmt.header:
            names = next(reader, None)
            if names is None:
                raise DataError(f"{path}: empty file; expected a header line naming the columns")
            missing = [c for c in needed if c not in names]
            if missing:
                raise DataError(f"{path}:1: header {names} lacks the column(s) {missing}; fix the header or "
                                "set data.text_columns / data.label_column / data.id_column to its column names")
        else:
            names = list(fmt.columns)
        start = reader.line_num + 1
        for row in reader:
            lineno, start = start, reader.line_num + 1
            if not row or row == [""]:
                continue
            if len(row) != len(names):
                quote = (" A quote character may open a field that spans lines: check the quoting"
                         " (data.quoting)." if quoting != csv.QUOTE_NONE and len(row) < len(names) else "")
                raise DataError(f"{path}:{lineno}: expected {len(names)} {sep}-separated columns "
                                f"({', '.join(names)}), found {len(row)}.{quote}")
            yield lineno, dict(zip(names, row))


def read_split(path: Path, fmt: FolderFormat, lang: str, labels: LabelSet | None,
               labels_path: Path | None, notes: list[str] | None = None) -> list[tuple[int, str, Example]]:
    """(line, label name, example) per row; label indices are filled in once the label set is known.
    With ``fmt.skip_empty`` rows whose text is empty are left out and counted in ``notes``."""
    if not path.exists():
        raise DataError(f"{path}: missing; {_where(fmt)} needs it for {lang}")
    out = []
    skipped = []
    seen_ids: dict[str, int] = {}
    for lineno, row in read_rows(path, fmt):
        label = row[fmt.label_column].strip()
        if labels is not None and label not in labels.index:
            raise DataError(f"{path}:{lineno}: label {label!r} is not in {labels_path.name if labels_path else 'the labels'} "
                            f"({', '.join(labels.names)}); fix the row or add the label to {labels_path}")
        if not label:
            raise DataError(f"{path}:{lineno}: empty label in column {fmt.label_column!r}")
        text = " ".join(row[c].strip() for c in fmt.text_columns if row[c].strip())
        pair = row[fmt.pair_column].strip() if fmt.pair_column else None
        empty = (f"empty text ({', '.join(fmt.text_columns)})" if not text else
                 f"empty second text ({fmt.pair_column})" if fmt.pair_column and not pair else "")
        if empty and fmt.skip_empty:
            skipped.append(lineno)
            continue
        if empty:
            raise DataError(f"{path}:{lineno}: {empty}; fix the row, or set data.skip_empty = true to leave "
                            "such rows out (they are counted in the report)")
        uid = f"{lang}/{row[fmt.id_column] if fmt.id_column else lineno}"
        if fmt.id_column:
            if uid in seen_ids:
                raise DataError(f"{path}:{lineno}: id {row[fmt.id_column]!r} (column {fmt.id_column!r}) is already "
                                f"on line {seen_ids[uid]}; ids must be unique within a split: remove the duplicate row")
            seen_ids[uid] = lineno
        out.append((lineno, label, Example(uid=uid, text=text, label=-1, lang=lang, text_pair=pair)))
    if not out:
        raise DataError(f"{path}: no rows" + (" after the header" if fmt.header and fmt.format != "jsonl" else "")
                        + (f" with a text ({len(skipped)} empty rows skipped)" if skipped else ""))
    if skipped and notes is not None:
        notes.append(f"{lang}: {len(skipped)} row(s) of {path.name} with an empty text skipped "
                     f"(lines {', '.join(map(str, skipped[:5]))}{', …' if len(skipped) > 5 else ''})")
    return out


def read_conll_split(path: Path, fmt: FolderFormat, lang: str, labels: LabelSet | None,
                     labels_path: Path | None, notes: list[str]) -> list[tuple[int, list[str], Example]]:
    """(line, tag names, example without tag indices) per sentence of a CoNLL split file."""
    from borderless.data.conll import is_bio, read_conll, repair_bio

    if not path.exists():
        raise DataError(f"{path}: missing; {_where(fmt)} needs it for {lang}")
    sentences = read_conll(read_text(path), path, fmt.tag_column)
    if not sentences:
        raise DataError(f"{path}: no sentences; a CoNLL file has one 'word tag' line per word and a blank line "
                        "between sentences")
    if labels is not None:
        for lineno, words, tags in sentences:
            for k, t in enumerate(tags):
                if t not in labels.index:
                    raise DataError(f"{path}:{lineno + k}: tag {t!r} is not in {labels_path.name if labels_path else 'the labels'} "
                                    f"({', '.join(labels.names)}); fix the line or add the tag to {labels_path}")
    bio = is_bio(t for _, _, tags in sentences for t in tags) or (labels is not None and is_bio(labels.names))
    fixed = broken = 0
    out = []
    for lineno, words, tags in sentences:
        if bio:
            tags, n = repair_bio(tags)
            fixed += n
            broken += n > 0
        out.append((lineno, tags, Example(uid=f"{lang}/{lineno}", text=" ".join(words), label=0, lang=lang,
                                          words=tuple(words))))
    if fixed:
        notes.append(f"{lang}: {fixed} tag(s) in {broken} sentence(s) of {path.name} began an entity with I- "
                     "(no B- before it); read as B-, as seqeval's default (conlleval) reading does")
    return out


def _split_path(root: Path, fmt: FolderFormat, split: str, lang: str, notes: list[str]) -> Path:
    template = fmt.template(split)
    if template is None:
        raise DataError(f"{_where(fmt)} has no {split!r} split; set data.splits.{split} to its file, e.g. \"{{lang}}/{split}.tsv\"")
    path = root / template.format(lang=lang)
    if not path.exists() and split in fmt.fallback:
        other = root / fmt.fallback[split].format(lang=lang)
        if other.exists():
            notes.append(f"{lang}: no full {split} file ({path.relative_to(root)}); "
                         f"read {other.relative_to(root)} instead")
            return other
    return path


def load_language(root: Path, lang: str, fmt: FolderFormat, train: bool = True) -> LanguageData:
    """One language's splits with its own label set. ``train=False``: evaluation only (zero-shot)."""
    root = Path(root)
    notes: list[str] = []
    labels_path = root / fmt.labels_file.format(lang=lang) if fmt.labels_file else None
    labels = read_labels(labels_path) if labels_path else None
    wanted = ("train", "dev", "test") if train else ("dev", "test")
    read = read_conll_split if fmt.format == "conll" else read_split
    rows: dict[str, list] = {}
    if fmt.carve_from:
        path = _split_path(root, fmt, "dev", lang, notes)
        rows["_carved"] = read(path, fmt, lang, labels, labels_path, notes)
    for split in wanted:
        if split in fmt.carved():
            continue
        rows[split] = read(_split_path(root, fmt, split, lang, notes), fmt, lang, labels, labels_path, notes)
    if fmt.format == "conll":
        if labels is None:
            labels = LabelSet(tuple(sorted({t for r in rows.values() for _, tags, _ in r for t in tags})))
        examples = {s: [dataclasses.replace(ex, tags=tuple(labels.index[t] for t in tags)) for _, tags, ex in r]
                    for s, r in rows.items()}
    else:
        if labels is None:
            labels = LabelSet(tuple(sorted({name for r in rows.values() for _, name, _ in r})))
        examples = {s: [Example(ex.uid, ex.text, labels.index[name], lang, ex.text_pair) for _, name, ex in r]
                    for s, r in rows.items()}
    if fmt.carve_from:
        examples.update(carve(examples.pop("_carved"), fmt, lang, train, notes))
    return LanguageData(lang, labels, examples.get("train", []), examples["dev"], examples["test"], None, tuple(notes))


def carve(rows: list[Example], fmt: FolderFormat, lang: str, train: bool, notes: list[str]) -> dict[str, list[Example]]:
    """``carve_from``'s rows cut into dev (and test, with ``carve_test_fraction``) and train: by a seeded
    hash of the row id (``carve_by_id``), else stratified by label (rows sharing a text together with
    ``carve_by_text``)."""
    n = len(rows)
    n_dev = max(1, round(fmt.carve_dev_fraction * n))
    n_test = max(1, round(fmt.carve_test_fraction * n)) if fmt.carve_test_fraction > 0 else 0
    if n_dev + n_test >= n:
        raise DataError(f"{fmt.template('dev').format(lang=lang)}: {n} rows cannot be carved into {n_dev} dev"
                        + (f" + {n_test} test" if n_test else "") + " rows and a training set; lower "
                        "data.carve_dev_fraction" + (" / carve_test_fraction" if n_test else ""))
    if fmt.carve_by_id:
        import hashlib

        def rank(ex: Example) -> bytes:
            return hashlib.sha1(f"{fmt.carve_seed}/{ex.uid.split('/', 1)[1]}".encode()).digest()

        order = sorted(range(n), key=lambda i: rank(rows[i]))
        side = {i: "test" for i in order[:n_test]} | {i: "dev" for i in order[n_test : n_test + n_dev]}
        out = {s: [ex for i, ex in enumerate(rows) if side.get(i, "train") == s] for s in ("train", "dev", "test")}
        how = f"by a seeded hash of the row id (seed {fmt.carve_seed}: the same rows in every language)"
    else:
        def cut(pool: list[Example], k: int) -> list[Example]:
            return (grouped_cap(pool, [ex.text for ex in pool], k, fmt.carve_seed) if fmt.carve_by_text
                    else stratified_cap(pool, k, fmt.carve_seed))

        out, rest = {}, list(rows)
        for split, k in (("test", n_test), ("dev", n_dev)):
            if k:
                out[split] = cut(rest, k)
                chosen = {ex.uid for ex in out[split]}
                rest = [ex for ex in rest if ex.uid not in chosen]
        out["train"] = rest
        how = f"stratified, seed {fmt.carve_seed}" + (", rows sharing a text kept on one side" if fmt.carve_by_text else "")
    sizes = " / ".join(str(len(out[s])) for s in ("train", "dev", "test") if s in fmt.carved())
    names = list(fmt.carved())
    notes.append(f"{lang}: {', '.join(names[:-1])} and {names[-1]} carved from {fmt.template('dev').format(lang=lang)} "
                 f"({sizes} rows, {how})")
    if not train:
        out.pop("train")
    return out


def remap(data: LanguageData, space: LabelSet, where: str) -> LanguageData:
    """The language's examples in the run's label space; ``allowed`` = its own labels there."""
    unknown = [n for n in data.labels.names if n not in space.index]
    if unknown:
        raise DataError(f"{where}: label(s) {unknown} of {data.lang} are in no training language's labels "
                        f"({', '.join(space.names)}); a model cannot predict them")
    to = [space.index[n] for n in data.labels.names]

    def move(exs: list[Example]) -> list[Example]:
        if data.token_task:
            return [dataclasses.replace(ex, tags=tuple(to[t] for t in ex.tags)) for ex in exs]
        return [Example(ex.uid, ex.text, to[ex.label], ex.lang, ex.text_pair) for ex in exs]

    # a token task's languages may lack a tag in their own files (a rare entity type): every word may
    # still take every tag, so no mask
    allowed = None if len(data.labels) == len(space) or data.token_task else tuple(sorted(to))
    return LanguageData(data.lang, space, move(data.train), move(data.dev), move(data.test), allowed, data.notes)


def union_labels(sets: list[LabelSet]) -> LabelSet:
    """The first language's labels in its order, then every other language's new labels in theirs."""
    names: dict[str, None] = {}
    for s in sets:
        names.update(dict.fromkeys(s.names))
    return LabelSet(tuple(names))


def load_folder(root: Path, languages: list[str] | tuple[str, ...], fmt: FolderFormat,
                zero_shot: tuple[tuple[Path, str, FolderFormat], ...] = (),
                label_space: tuple[str, ...] = ()) -> dict[str, LanguageData]:
    """Training languages (all splits), then zero-shot ones (dev and test, possibly from another
    dataset: (root, code, format)), in the union label space of the training languages, or in
    ``label_space`` when given (a Flower node sees one language but must share the run's head)."""
    root = Path(root)
    available = available_languages(root, fmt)
    codes = [resolve_language(root, code, available, fmt) for code in languages]
    if len(set(codes)) != len(codes):
        raise DataError(f"data.languages: {codes} names a language twice")
    data = {code: load_language(root, code, fmt) for code in codes}
    for code in codes:
        if not data[code].train:
            raise DataError(f"{root}: {code} has no training rows in {_where(fmt)}")
    space = LabelSet(tuple(label_space)) if label_space else union_labels([d.labels for d in data.values()])
    out = {code: remap(d, space, str(root / code)) for code, d in data.items()}
    cache: dict[tuple[str, str], list[str]] = {}
    for z_root, code, z_fmt in zero_shot:
        key = (str(z_root), z_fmt.name)
        if key not in cache:
            cache[key] = available_languages(Path(z_root), z_fmt)
        z = resolve_language(Path(z_root), code, cache[key], z_fmt)
        if z in out:
            raise DataError(f"data.zero_shot: {z} is also a training language; list it in one of the two")
        out[z] = remap(load_language(Path(z_root), z, z_fmt, train=False), space, f"{z_root} ({z}, zero-shot)")
    return out
