"""SIB-200 in its released folder format: a preset of the folder reader (``borderless.data.folder``).

    <root>/<iso639-3>_<Script>/{train,dev,test}.tsv   columns: index_id, category, text
    <root>/<iso639-3>_<Script>/labels.txt             one label per line (the label order)

TSVs are read with quoting disabled: quote characters are part of the text.
"""

from __future__ import annotations

from pathlib import Path

from borderless.data import folder
from borderless.data.folder import DataError  # noqa: F401  (re-exported: the data error of every dataset)
from borderless.data.presets import PRESETS
from borderless.data.types import LanguageData

SIB200 = PRESETS["sib200"]


def available_languages(root: Path) -> list[str]:
    return folder.available_languages(root, SIB200)


def load_sib200(root: Path, languages: list[str] | tuple[str, ...]) -> dict[str, LanguageData]:
    """Load the named languages (all splits) in one label space."""
    return folder.load_folder(root, languages, SIB200)
