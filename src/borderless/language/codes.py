"""Language codes → URIEL: SIB-200 codes (``hau_Latn``), ISO 639-3 (``hau``) and ISO 639-1 (``ha``).

Every SIB-200 code's ISO 639-3 part is itself a URIEL language, but many individual languages
have no typological data while their macrolanguage does (Standard Latvian ``lvs`` vs ``lav``,
Southern Pashto ``pbt`` vs ``pus``, Malay ``zsm`` vs ``msa``, Nigerian Fulfulde ``fuv`` vs ``ful``,
West Central Oromo ``gaz`` vs ``orm``, Standard Arabic ``arb`` vs ``ara``, Swahili ``swh`` vs
``swa``). So a language maps to its individual code, and for each feature family that code lacks,
to its macrolanguage (ISO 639-3 macrolanguage table from python-iso639) where that has the data.
Every such substitution is recorded; nothing is guessed silently.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import json
import logging
from dataclasses import dataclass, field
from importlib import resources

import numpy as np

FEATURE_FAMILIES = ("genetic", "geographic", "syntactic", "phonological", "inventory", "featural")
_PREFIX = {"syntactic": "S_", "phonological": "P_", "inventory": "INV_"}


# SIB-200 codes that are macrolanguages with no Glottolog entry of their own in URIEL: the
# individual language the SIB-200 (FLORES-200) text is written in, used for lineage, resource
# level and any feature family the macrolanguage code lacks.
MACRO_TO_INDIVIDUAL = {
    "zho": ("cmn", "the text is Mandarin Chinese"),
    "est": ("ekk", "the text is Standard Estonian"),
    "grn": ("gug", "the text is Paraguayan Guarani"),
    "kon": ("kng", "the text is Kikongo (Koongo)"),
    "srd": ("src", "Logudorese, the Sardinian variety with URIEL's lineage"),
}


@functools.cache
def uriel():
    """The URIEL+ knowledge base (shipped inside the urielplus wheel; offline). Loaded once."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    from urielplus import urielplus  # its import calls logging.basicConfig(level=INFO)

    base = urielplus.URIELPlus()
    root.setLevel(level)  # hand the caller's logging back as it was
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
    return base


def _csv(name: str) -> list[dict[str, str]]:
    path = resources.files("urielplus") / "database" / "urielplus_csvs" / name
    with path.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@functools.cache
def _glottocodes() -> dict[str, str]:
    return {r["iso_code"]: r["glottocode"] for r in _csv("uriel_glottocode_map.csv")}


@functools.cache
def _lineages() -> dict[str, dict[str, str]]:
    return {r["language_id"]: r for r in _csv("lang_fam_geo.csv")}


@functools.cache
def _resource_levels() -> dict[str, str]:
    path = resources.files("urielplus") / "database" / "urielplus_csvs" / "resource_languages.json"
    levels = json.loads(path.read_text(encoding="utf-8"))
    return {g: level.removesuffix("-resource") for level, codes in levels.items() for g in codes}


@functools.cache
def _family_index(family: str) -> tuple[int, np.ndarray, dict[str, int]]:
    u = uriel()
    idx = u.map_new_distance_to_loaded_features(family)
    prefix = _PREFIX.get(family)
    cols = np.array([i for i, f in enumerate(u.feats[idx]) if prefix is None or f.startswith(prefix)])
    return idx, cols, {code: row for row, code in enumerate(u.langs[idx])}


@functools.cache
def _has_data(code: str, family: str) -> bool:
    """Whether URIEL has at least one known value of this feature family for ``code``."""
    idx, cols, rows = _family_index(family)
    if code not in rows:
        return False
    return bool(np.any(uriel().data[idx][rows[code]][cols] != -1))


@dataclass(frozen=True)
class LanguageInfo:
    code: str  # as given
    iso639_3: str
    script: str | None  # ISO 15924, from a SIB-200 code
    name: str
    uriel: str | None  # the URIEL code for the language itself; None: unmapped
    macrolanguage: str | None
    glottocode: str | None
    family: str  # top of the Glottolog lineage ("" when URIEL has none)
    lineage: str
    resource: str  # URIEL+ resource level: high | medium | low | unknown
    per_family: dict[str, str | None] = field(default_factory=dict)  # feature family → URIEL code used
    notes: tuple[str, ...] = ()  # every substitution, and why a family is missing

    @property
    def mapped(self) -> bool:
        return self.uriel is not None


# ISO 639-2/639-5 collective codes that datasets use (AmericasNLI's ``nah`` and ``oto``): URIEL has
# individual languages only, so a representative member stands in, and the report says which.
COLLECTIVE_TO_INDIVIDUAL = {
    "nah": ("nhe", "'nah' is the collective code of the Nahuatl languages; Eastern Huasteca Nahuatl, the most "
                   "spoken one, stands in (the data does not name its variety)"),
    "oto": ("ote", "'oto' is the collective code of the Otomian languages; Mezquital Otomi (Hñähñu) stands in"),
}


def _iso639(code: str):
    from iso639 import Language
    from iso639.language import LanguageNotFoundError

    try:
        return Language.match(code)
    except LanguageNotFoundError:
        return None


def resolve(code: str) -> LanguageInfo:
    """Map one code. Unknown or unmappable codes come back with ``uriel=None`` and the reason in notes."""
    iso, _, script = code.partition("_")
    stand_in, collective_note = COLLECTIVE_TO_INDIVIDUAL.get(iso, (iso, ""))
    if collective_note:
        info = resolve(stand_in + (f"_{script}" if script else ""))
        return dataclasses.replace(info, code=code, notes=(collective_note, *info.notes))
    lang = _iso639(iso) if iso.isalpha() and len(iso) in (2, 3) else None
    if lang is None:
        return LanguageInfo(code, iso, script or None, "", None, None, None, "", "", "unknown",
                            notes=(f"'{iso}' is not an ISO 639-1/639-3 code; write e.g. 'hau_Latn', 'hau' or 'ha'",))
    iso3 = lang.part3
    known = _uriel_codes()
    if iso3 not in known:
        return LanguageInfo(code, iso3, script or None, lang.name, None, lang.macrolanguage or None, None, "", "",
                            "unknown", notes=(f"ISO 639-3 '{iso3}' is not in URIEL",))
    macro = lang.macrolanguage or None
    per_family, notes = {}, []
    member, why = MACRO_TO_INDIVIDUAL.get(iso3, (None, ""))
    if member:
        notes.append(f"'{iso3}' is a macrolanguage: lineage and resource level from '{member}' ({why})")
    for fam in FEATURE_FAMILIES:
        if _has_data(iso3, fam):
            per_family[fam] = iso3
        elif member and member in known and _has_data(member, fam):
            per_family[fam] = member
            notes.append(f"{fam}: '{iso3}' has no URIEL data, used '{member}'")
        elif macro and macro in known and _has_data(macro, fam):
            per_family[fam] = macro
            notes.append(f"{fam}: '{iso3}' has no URIEL data, used its macrolanguage '{macro}'")
        else:
            per_family[fam] = None
            notes.append(f"{fam}: no URIEL data for '{iso3}'" + (f" or its macrolanguage '{macro}'" if macro else ""))
    glotto, family, lineage = _lineage(iso3, member, macro)
    return LanguageInfo(code, iso3, script or None, lang.name, iso3, macro, glotto, family, lineage,
                        _resource_levels().get(glotto or "", "unknown"), per_family, tuple(notes))


def _lineage(iso3: str, member: str | None, macro: str | None) -> tuple[str | None, str, str]:
    """(glottocode, family, lineage) from URIEL+'s Glottolog tables: the family is the top of the lineage,
    an isolate's own name, or "" when Glottolog has no row."""
    glotto = _glottocodes().get(iso3) or _glottocodes().get(member or macro or "")
    row = _lineages().get(glotto or "", {})
    lineage = row.get("lineage", "") or ""
    family = lineage.split(",")[0].strip() if lineage else (f"{row['language_name']} (isolate)" if row else "")
    return glotto, family, lineage


@functools.cache
def family(code: str) -> str:
    """``resolve(code).family`` from the two small Glottolog tables alone: ``resolve`` loads the whole URIEL+
    knowledge base (~230 MiB resident, seconds), which a report that only groups languages by family
    does not need. "" for a code URIEL cannot map."""
    iso = COLLECTIVE_TO_INDIVIDUAL.get(code.partition("_")[0], (code.partition("_")[0], ""))[0]
    lang = _iso639(iso) if iso.isalpha() and len(iso) in (2, 3) else None
    if lang is None or lang.part3 not in _uriel_codes():
        return ""
    member = MACRO_TO_INDIVIDUAL.get(lang.part3, (None, ""))[0]
    return _lineage(lang.part3, member, lang.macrolanguage or None)[1]


@functools.cache
def _uriel_codes() -> frozenset[str]:
    """The languages URIEL+ knows (``uriel().langs[0]``), read from its language list without loading
    the feature arrays."""
    path = resources.files("urielplus") / "database" / "family_features.npz"
    if not path.is_file():  # URIELPlus() copies its working files from original_uriel on first use
        path = resources.files("urielplus") / "database" / "original_uriel" / "family_features.npz"
    with path.open("rb") as fh, np.load(fh, allow_pickle=True) as npz:
        return frozenset(str(c) for c in npz["langs"])


def mapping_table(codes: list[str] | tuple[str, ...]) -> str:
    """A Markdown table: code, URIEL code, family, script, resource level, substitutions."""
    lines = ["| code | name | URIEL | macrolanguage | family | script | resource | missing feature families |",
             "|---|---|---|---|---|---|---|---|"]
    for code in codes:
        i = resolve(code)
        missing = ", ".join(f for f, c in i.per_family.items() if c is None) or ("—" if i.mapped else i.notes[0])
        subst = [f for f, c in i.per_family.items() if c and c != i.uriel]
        uriel = (i.uriel or "unmapped") + (f" ({', '.join(subst)} via {i.macrolanguage})" if subst else "")
        lines.append(f"| {code} | {i.name} | {uriel} | {i.macrolanguage or ''} | {i.family} | {i.script or ''} "
                     f"| {i.resource} | {missing} |")
    return "\n".join(lines)
