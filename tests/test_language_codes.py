"""The SIB-200 → URIEL mapping, on all 205 SIB-200 languages (URIEL+ ships in the urielplus wheel)."""


from borderless.config import DISTANCES
from borderless.language.codes import FEATURE_FAMILIES, mapping_table, resolve
from borderless.language.distance import DISTANCE_KINDS
from borderless.language.sib200_languages import SIB200_LANGUAGES


def test_every_sib200_language_maps_or_says_why():
    assert len(SIB200_LANGUAGES) == 205
    for code in SIB200_LANGUAGES:
        info = resolve(code)
        if info.mapped:
            assert info.uriel == code.split("_")[0] and info.script == code.split("_")[1]
            assert info.family, code  # a Glottolog lineage for every SIB-200 language
            assert info.resource in ("high", "medium", "low")
            assert set(info.per_family) == set(FEATURE_FAMILIES)
            for fam, used in info.per_family.items():
                # a substitution or a gap is always written down
                assert used == info.uriel or any(n.startswith(fam) for n in info.notes), (code, fam)
        else:
            assert info.notes, code


def test_macrolanguages_handled_explicitly():
    lvs = resolve("lvs_Latn")  # Standard Latvian: typology lives on the macrolanguage 'lav'
    assert lvs.macrolanguage == "lav" and lvs.per_family["syntactic"] == "lav" and lvs.per_family["genetic"] == "lvs"
    gaz = resolve("gaz_Latn")  # West Central Oromo vs Oromo
    assert gaz.macrolanguage == "orm" and gaz.family == "Afro-Asiatic"
    arb = resolve("arb_Arab")
    assert arb.macrolanguage == "ara" and arb.per_family["inventory"] == "ara"
    swh = resolve("swh_Latn")
    assert swh.macrolanguage == "swa" and swh.per_family["syntactic"] == "swh"
    zho = resolve("zho_Hans")  # macrolanguage code: lineage from Mandarin
    assert zho.family == "Sino-Tibetan" and zho.glottocode == "mand1415"


def test_plain_iso_codes_and_bad_codes():
    assert resolve("ha").uriel == "hau" and resolve("hau").family == "Afro-Asiatic"
    bad = resolve("xx")
    assert not bad.mapped and "not an ISO 639" in bad.notes[0]
    table = mapping_table(["hau_Latn", "lvs_Latn", "xx"])
    assert "unmapped" in table and "via lav" in table


def test_config_and_module_agree_on_distance_kinds():
    assert DISTANCES == DISTANCE_KINDS


def test_collective_codes_get_a_named_stand_in():
    for code, member in (("nah", "nhe"), ("oto", "ote")):
        info = resolve(code)
        assert info.code == code and info.uriel == member and "collective code" in info.notes[0]
