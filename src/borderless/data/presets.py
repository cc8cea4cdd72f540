"""Datasets as presets of the folder reader, and the ``[data]`` keys that describe a user's own.

    sib200       <lang>_<Script>/{train,dev,test}.tsv, columns index_id, category, text; quotes are text
    masakhanews  data/<lang>/{train,dev,test}.tsv (quoted TSV: category, headline, text, url), input =
                 headline + text; a language without a full train file reads few_shot_50/<lang>/train.tsv
                 (50 per class; the report says so); label sets differ per language (4-7)
    xnli         {dev,test}/<lang>.tsv, no header: premise, hypothesis, label; train and dev are carved
                 from dev/ (80 / 20, stratified, seed 0: the same rows for every paradigm and seed; a
                 premise and its three hypotheses fall on the same side)
    nusax        <lang>/{train,valid,test}.csv, CSV: id, text, label
    americasnli  {dev,test}/<lang>.tsv, header id, language, premise, hypothesis, label; evaluation only
                 (zero-shot targets of an XNLI federation: data.zero_shot_dataset = "americasnli")
    masakhaner   <lang>/{train,dev,test}.txt, CoNLL (word tag), BIO tags PER/ORG/LOC/DATE: a token task
                 scored by entity F1 (seqeval); 16 African languages
    masakhapos   <lang>/{train,dev,test}.txt, CoNLL, the 17 UD part-of-speech tags: scored by token accuracy
    pawsx        dev-<lang>.tsv, no header: sentence1, sentence2, label (paraphrase 1 / 0); the test files
                 carry no labels, so train, dev and test are all carved from dev (60 / 20 / 20) by a seeded
                 hash of the row number: rows are parallel, so the same rows in every language
    folder       nothing preset: data.path and data.splits describe it

Any key set in ``[data]`` (format, splits, header, columns, text_columns, pair_column, label_column,
id_column, quoting, labels_file, fallback_splits, carve_from, carve_dev_fraction, carve_by_text,
carve_test_fraction, carve_by_id, tag_column, skip_empty) replaces the preset's.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from borderless.data.folder import FolderFormat, load_folder
from borderless.data.types import LanguageData

SHARED_DATA = Path(__file__).resolve().parents[4] / "shared" / "data"

PRESETS: dict[str, FolderFormat] = {
    "sib200": FolderFormat(
        name="sib200", folder="sib200", format="tsv", quoting=False,
        splits={s: f"{{lang}}/{s}.tsv" for s in ("train", "dev", "test")},
        text_columns=("text",), label_column="category", id_column="index_id", labels_file="{lang}/labels.txt",
        note="SIB-200 topic classification (7 labels, parallel Flores-200 sentences)"),
    "masakhanews": FolderFormat(
        name="masakhanews", folder="masakhanews", format="tsv", quoting=True,
        splits={s: f"data/{{lang}}/{s}.tsv" for s in ("train", "dev", "test")},
        fallback={"train": "few_shot_50/{lang}/train.tsv"},
        text_columns=("headline", "text"), label_column="category", labels_file="data/{lang}/labels.txt",
        note="MasakhaNEWS news topics (4-7 labels per language; input: headline + article)"),
    "xnli": FolderFormat(
        name="xnli", folder="xnli", format="tsv", quoting=False, header=False,
        columns=("premise", "hypothesis", "label"),
        splits={"dev": "dev/{lang}.tsv", "test": "test/{lang}.tsv"}, carve_from="dev", carve_dev_fraction=0.2,
        carve_by_text=True,  # a premise's three hypotheses (one per label) stay together
        text_columns=("premise",), pair_column="hypothesis", label_column="label",
        note="XNLI natural language inference (sentence pairs; train/dev carved from XNLI dev)"),
    "nusax": FolderFormat(
        name="nusax", folder="nusax_senti", format="csv",
        splits={"train": "{lang}/train.csv", "dev": "{lang}/valid.csv", "test": "{lang}/test.csv"},
        text_columns=("text",), label_column="label", id_column="id",
        note="NusaX-Senti sentiment (3 labels, 12 Indonesian local languages)"),
    "americasnli": FolderFormat(
        name="americasnli", folder="americasnli", format="tsv", quoting=False,
        splits={"dev": "dev/{lang}.tsv", "test": "test/{lang}.tsv"},
        text_columns=("premise",), pair_column="hypothesis", label_column="label", id_column="id",
        skip_empty=True,  # test/nah.tsv has three rows without a premise
        note="AmericasNLI (10 Indigenous languages; evaluation only)"),
    "masakhaner": FolderFormat(
        name="masakhaner", folder="masakhaner", format="conll",
        splits={s: f"{{lang}}/{s}.txt" for s in ("train", "dev", "test")},
        note="MasakhaNER 2.0 named entities (BIO tags PER, ORG, LOC, DATE; 16 African languages)"),
    "masakhapos": FolderFormat(
        name="masakhapos", folder="masakhapos", format="conll",
        splits={s: f"{{lang}}/{s}.txt" for s in ("train", "dev", "test")},
        note="MasakhaPOS part-of-speech tags (17 UD tags; 16 African languages)"),
    "pawsx": FolderFormat(
        name="pawsx", folder="pawsx", format="tsv", quoting=False, header=False,
        columns=("sentence1", "sentence2", "label"), splits={"dev": "dev-{lang}.tsv"},
        carve_from="dev", carve_dev_fraction=0.2, carve_test_fraction=0.2, carve_by_id=True,
        text_columns=("sentence1",), pair_column="sentence2", label_column="label",
        note="PAWS-X paraphrase identification (sentence pairs; train/dev/test carved from PAWS-X dev, "
             "whose test files have no labels)"),
    "folder": FolderFormat(name="folder", note="a per-language folder described in [data]"),
}
DATASETS = tuple(PRESETS)

# [data] key → FolderFormat field, for the keys a user may set to describe or adjust a dataset
OVERRIDES = {"format": "format", "splits": "splits", "header": "header", "columns": "columns",
             "text_columns": "text_columns", "pair_column": "pair_column", "label_column": "label_column",
             "id_column": "id_column", "quoting": "quoting", "labels_file": "labels_file",
             "fallback_splits": "fallback", "carve_from": "carve_from", "carve_dev_fraction": "carve_dev_fraction",
             "carve_by_text": "carve_by_text", "carve_test_fraction": "carve_test_fraction",
             "carve_by_id": "carve_by_id", "tag_column": "tag_column",
             "skip_empty": "skip_empty"}


def dataset_format(c, dataset: str | None = None, with_overrides: bool = True) -> FolderFormat:
    """The preset named by ``dataset`` (default ``c.dataset``) with the ``[data]`` keys that are set."""
    fmt = PRESETS[dataset or c.dataset]
    if not with_overrides:
        return fmt
    changes = {}
    for key, attr in OVERRIDES.items():
        value = getattr(c, key)
        if value is None or (isinstance(value, (str, tuple, dict)) and not value) or (
                key in ("carve_dev_fraction", "carve_test_fraction") and value == 0.0):
            continue
        changes[attr] = value
    return dataclasses.replace(fmt, **changes)


def dataset_path(c, dataset: str | None = None, path: str = "") -> Path:
    """``path`` (data.path), else for SIB-200 $BORDERLESS_DATA, else ../shared/data/<preset folder>."""
    name = dataset or c.dataset
    configured = path if path else (c.path if dataset in (None, c.dataset) else "")
    if configured:
        return Path(configured).expanduser()
    if name == "sib200" and os.environ.get("BORDERLESS_DATA"):
        return Path(os.environ["BORDERLESS_DATA"]).expanduser()
    return SHARED_DATA / PRESETS[name].folder


def load_dataset(c) -> dict[str, LanguageData]:
    """Training languages first, then the zero-shot ones (evaluated only), in one label space."""
    fmt = dataset_format(c)
    z_name = c.zero_shot_dataset or c.dataset
    z_fmt = fmt if z_name == c.dataset else dataset_format(c, z_name, with_overrides=False)
    z_root = dataset_path(c) if z_name == c.dataset else dataset_path(c, z_name, c.zero_shot_path)
    return load_folder(dataset_path(c), c.languages, fmt, tuple((z_root, code, z_fmt) for code in c.zero_shot),
                       c.label_space)
