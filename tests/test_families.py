"""Per-family reports for runs with many languages: families from URIEL+, family means, the files
that hold every language, and a screen that stays short."""

import csv
import json

import pytest

from borderless.config import load_config
from borderless.language.families import MANY_LANGUAGES, family_of, family_rows, family_table
from borderless.language.sib200_languages import SIB200_LANGUAGES
from borderless.runner import partition_overview, run
from conftest import tiny_config_text, write_language


def test_families_come_from_the_glottolog_lineage():
    fams = family_of(["eng_Latn", "hau_Latn", "yor_Latn", "zho_Hans", "eus_Latn", "xx_Fake"])
    assert fams["eng_Latn"] == "Indo-European" and fams["hau_Latn"] == "Afro-Asiatic"
    assert fams["yor_Latn"] == "Atlantic-Congo" and fams["zho_Hans"] == "Sino-Tibetan"
    assert "isolate" in fams["eus_Latn"]
    assert fams["xx_Fake"] == "unclassified"  # a code URIEL cannot map never stops a report


def test_family_means_and_worst_language():
    langs = ["eng_Latn", "fra_Latn", "hau_Latn"]
    fams = {"eng_Latn": "IE", "fra_Latn": "IE", "hau_Latn": "AA"}
    summary = {"languages": langs, "majority_class_accuracy": dict.fromkeys(langs, 0.25),
               "probes": {"centralized": {"test_accuracy": {"eng_Latn": 0.8, "fra_Latn": 0.6, "hau_Latn": 0.5}}},
               "paradigms": {"federated": {"test_accuracy": {"eng_Latn": 0.9, "fra_Latn": 0.7, "hau_Latn": 0.4}}}}
    rows = family_rows(summary, fams)
    assert [r["family"] for r in rows] == ["IE", "AA"]  # largest family first
    assert rows[0]["means"]["federated"] == pytest.approx(0.8)
    assert rows[0]["means"]["probe: central"] == pytest.approx(0.7)
    assert rows[0]["worst"] == ("fra_Latn", 0.7)
    table = family_table(summary, fams)
    assert "| IE | 2 | 25.0 | 70.0 | 80.0 | fra_Latn 70.0 |" in table
    assert "| **all** | 3 | **25.0** | **63.3** | **66.7** |" in table


@pytest.mark.slow
def test_many_languages_report_by_family_with_every_language_in_files(tmp_path, tiny_backbone, capsys):
    langs = list(SIB200_LANGUAGES[:MANY_LANGUAGES + 3])
    zero = list(SIB200_LANGUAGES[MANY_LANGUAGES + 3:MANY_LANGUAGES + 5])
    for lang in langs + zero:
        write_language(tmp_path / "sib200", lang, sizes=(7, 3, 3))
    p = tmp_path / "c.toml"
    p.write_text(tiny_config_text(tmp_path / "sib200", langs))
    cfg = load_config(p, ["federated.rounds=1", "federated.clients_per_round=4", 'run.paradigms=["federated"]',
                          f"data.zero_shot={json.dumps(zero)}", "run.language_analysis=false",
                          "probe.weight_decays=[0.01]", "probe.federated_rounds=3", "probe.max_iter=20"])
    out = run(cfg, tmp_path / "run", progress=True, backbone=tiny_backbone)
    assert "partition): 28 clients, training examples per client min 7, median 7, max 7" in capsys.readouterr().err
    fams = out.results["families"]
    assert set(fams) == set(langs + zero) and fams["ace_Arab"] == "Austronesian"
    report = (out.folder / "report.md").read_text()
    assert "per language family" in report and "| Austronesian |" in report
    assert "| ace_Arab |" not in report  # no per-language rows on the screen's report...
    assert "| ace_Arab |" in (out.folder / "per_language.md").read_text()  # ...they are in their own file
    assert (out.folder / "plots" / "accuracy_by_family.png").stat().st_size > 0
    with (out.folder / "accuracy_by_language.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["language"] for r in rows] == langs + zero
    assert [r["zero_shot"] for r in rows] == ["False"] * len(langs) + ["True"] * len(zero)
    acc = out.results["paradigms"]["federated"]
    assert float(rows[0]["federated"]) == pytest.approx(100 * acc["test_accuracy"][langs[0]], abs=0.01)
    assert float(rows[-1]["federated"]) == pytest.approx(100 * acc["zero_shot_accuracy"][zero[-1]], abs=0.01)


def test_few_clients_keep_their_table_on_screen(tmp_path):
    table = "client        size  a b  languages\neng_Latn         7  1 2  eng_Latn:7"
    assert partition_overview("language", table, tmp_path) == f"federated clients (language partition):\n{table}"


def test_families_without_the_knowledge_base_are_the_ones_resolve_gives():
    from borderless.language import codes

    sample = [*SIB200_LANGUAGES[::7], "nah", "oto", "swh_Latn", "zho_Hant", "msa", "ara_Arab", "xx_Fake", "qqq"]
    assert {c: codes.family(c) for c in sample} == {c: codes.resolve(c).family for c in sample}
    assert codes.family("hau_Latn") == "Afro-Asiatic" and codes.family("qqq") == ""
