import math

import numpy as np
import pytest

from borderless.cli import main
from borderless.language.analysis import distance_profiles, language_section, spearman
from borderless.language.distance import DistanceMatrix
from borderless.language.tokenization import tokenizer_stats


def test_spearman_leaves_unknown_distances_out():
    rho, p, n = spearman([0.1, 0.2, math.nan, 0.4, 0.5], [1.0, 2.0, 99.0, 3.0, 4.0])
    assert (rho, n) == (pytest.approx(1.0), 4) and p < 0.1
    assert math.isnan(spearman([0.1, 0.2], [1.0, 2.0])[0])  # too few pairs: no number invented


def test_spearman_exact_p_over_the_known_pairs():
    xs, ys = [0.1, 0.2, math.nan, 0.4, 0.5], [1.0, 2.0, 99.0, 3.0, 4.0]
    assert spearman(xs, ys)[1] < 1e-6  # the t approximation at rho = 1
    rho, p, n = spearman(xs, ys, exact_up_to=8)
    assert (rho, n) == (pytest.approx(1.0), 4) and p == pytest.approx(2 / 24)  # 2 of the 24 orderings
    assert spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5], exact_up_to=8)[1] == pytest.approx(16 / 120)


def test_distance_profiles_by_hand():
    langs = ("a", "b", "c", "eng_Latn")
    v = np.array([[0, .2, .4, .5], [.2, 0, np.nan, .6], [.4, np.nan, 0, .7], [.5, .6, .7, 0]])
    prof = distance_profiles(["a", "b", "c"], {"x": DistanceMatrix("x", langs, v)})["x"]
    assert prof["a"]["federation"] == pytest.approx(0.3) and prof["b"]["federation"] == pytest.approx(0.2)
    assert prof["c"]["english"] == pytest.approx(0.7)


@pytest.mark.slow
def test_language_section_real_uriel(tmp_path):
    langs = ["hau_Latn", "yor_Latn", "amh_Ethi", "fra_Latn"]
    acc = {"federated": {"hau_Latn": .6, "yor_Latn": .5, "amh_Ethi": .7, "fra_Latn": .8},
           "monolingual": {"hau_Latn": .4, "yor_Latn": .45, "amh_Ethi": .5, "fra_Latn": .75},
           "centralized": {"hau_Latn": .65, "yor_Latn": .55, "amh_Ethi": .6, "fra_Latn": .85}}
    lines = language_section(langs, acc, tmp_path, tokenization={l: {"tokens_per_word": 1.0 + i, "unk_percent": 0.0,
                                                                       "single_char_percent": 5.0}
                                                                  for i, l in enumerate(langs)})
    text = "\n".join(lines)
    assert "| combined | fed − mono |" in text and "| hau_Latn | +20.0 |" in text
    assert "Tokens per word vs fed − mono" in text
    for name in ("gain_vs_mono_by_distance_to_federation", "gain_vs_central_by_distance_to_english"):
        assert (tmp_path / f"{name}.png").stat().st_size > 1000


def test_tokenizer_stats(tiny_backbone):
    stats = tokenizer_stats(tiny_backbone.tokenizer, ["a few words here", "ሀገር ከተማ"])
    assert stats["tokens_per_word"] >= 1.0 and 0 <= stats["unk_percent"] <= 100 and stats["sentences"] == 2


def test_cli_languages_map_and_distance(tmp_path, capsys):
    assert main(["languages", "map", "gaz_Latn", "xx"]) == 0
    out = capsys.readouterr().out
    assert "orm" in out and "unmapped" in out
    png = tmp_path / "d.png"
    assert main(["languages", "distance", "hau_Latn", "yor_Latn", "--kind", "geographic", "-o", str(png)]) == 0
    assert "hau_Latn" in capsys.readouterr().out and png.stat().st_size > 1000
    assert main(["languages", "distance", "hau_Latn"]) == 2
