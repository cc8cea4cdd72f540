import math

import numpy as np
import pytest

from borderless.language.distance import all_distances, combined_distance, distance, family_distance

LANGS = ["hau_Latn", "yor_Latn", "eng_Latn", "lvs_Latn"]


@pytest.fixture(scope="module")
def mats():
    return all_distances(LANGS)


def test_symmetric_zero_diagonal_in_range(mats):
    for kind, m in mats.items():
        v = m.values
        assert np.allclose(np.diag(v), 0.0), kind
        both = ~np.isnan(v) & ~np.isnan(v.T)
        assert np.allclose(v[both], v.T[both]), kind
        assert np.all((v[~np.isnan(v)] >= 0) & (v[~np.isnan(v)] <= 1)), kind
    assert mats["genetic"].get("hau_Latn", "eng_Latn") > 0


def test_missing_values_are_nan_and_listed_never_zero(mats):
    inv = mats["inventory"]  # Standard Latvian has no phoneme inventory in URIEL, nor has 'lav'
    assert math.isnan(inv.get("lvs_Latn", "eng_Latn"))
    assert ("eng_Latn", "lvs_Latn") in inv.missing and len(inv.missing) == 3
    comb = mats["combined"]
    assert not comb.missing  # the mean of the families that ARE known
    known = [mats[f].get("lvs_Latn", "eng_Latn") for f in mats if f != "combined"]
    known = [x for x in known if not math.isnan(x)]
    assert len(known) == 5 and comb.get("lvs_Latn", "eng_Latn") == pytest.approx(sum(known) / 5)


def test_combined_by_hand():
    a = family_distance("geographic", ["hau_Latn", "yor_Latn"])
    b = family_distance("syntactic", ["hau_Latn", "yor_Latn"])
    c = combined_distance([a, b])
    assert c.get("hau_Latn", "yor_Latn") == pytest.approx((a.get("hau_Latn", "yor_Latn") + b.get("hau_Latn", "yor_Latn")) / 2)


def test_errors_name_the_language():
    with pytest.raises(ValueError, match="xx"):
        distance("geographic", ["hau_Latn", "xx"])
    with pytest.raises(ValueError, match="unknown distance"):
        distance("lexical", ["hau_Latn", "yor_Latn"])
