from collections import Counter

import pytest

from borderless.data.sampling import grouped_cap, stratified_cap
from borderless.data.types import Example


def make(counts):
    out, uid = [], 0
    for label, n in enumerate(counts):
        for _ in range(n):
            out.append(Example(f"x/{uid}", f"t{uid}", label, "x"))
            uid += 1
    return out


def test_cap_keeps_label_proportions():
    ex = make([50, 30, 20])
    sub = stratified_cap(ex, 10, seed=1)
    assert len(sub) == 10
    assert Counter(e.label for e in sub) == {0: 5, 1: 3, 2: 2}


def test_largest_remainder_rounding_hits_cap_exactly():
    ex = make([7, 7, 7])
    sub = stratified_cap(ex, 10, seed=0)
    counts = Counter(e.label for e in sub)
    assert len(sub) == 10 and sorted(counts.values()) == [3, 3, 4]


def test_seeded_and_order_preserving():
    ex = make([40, 40])
    a, b, c = stratified_cap(ex, 12, 3), stratified_cap(ex, 12, 3), stratified_cap(ex, 12, 4)
    assert a == b and a != c
    positions = [ex.index(e) for e in a]
    assert positions == sorted(positions)


def test_no_cap_returns_all():
    ex = make([3, 2])
    assert stratified_cap(ex, 0, 0) == ex and stratified_cap(ex, 99, 0) == ex


def nli_like(n_groups, shift=0):
    """Premises with one hypothesis of each label, three consecutive rows each."""
    return [Example(f"x/{3 * g + j}", f"premise {g + shift}", (g + j) % 3, "x", f"h{j}")
            for g in range(n_groups) for j in range(3)]


def test_grouped_cap_takes_whole_groups_stratified():
    ex = nli_like(20)
    sub = grouped_cap(ex, [e.text for e in ex], 12, seed=0)
    assert len(sub) == 12 and Counter(e.label for e in sub) == {0: 4, 1: 4, 2: 4}
    taken = Counter(e.text for e in sub)
    assert set(taken.values()) == {3}  # every premise taken with all three of its hypotheses
    rest = [e for e in ex if e not in sub]
    assert not {e.text for e in rest} & set(taken)
    positions = [ex.index(e) for e in sub]
    assert positions == sorted(positions)


def test_grouped_cap_is_seeded_and_parallel():
    a, b = nli_like(30), nli_like(30, shift=1000)  # same layout, other texts (a translation)
    pick = lambda ex, seed: [e.uid for e in grouped_cap(ex, [e.text for e in ex], 15, seed)]
    assert pick(a, 5) == pick(b, 5) == pick(a, 5)
    assert pick(a, 5) != pick(a, 6)


def test_grouped_cap_of_singletons_is_stratified_by_label():
    ex = make([50, 30, 20])
    sub = grouped_cap(ex, [e.uid for e in ex], 10, seed=1)
    assert Counter(e.label for e in sub) == {0: 5, 1: 3, 2: 2}
    assert grouped_cap(ex, [e.uid for e in ex], 0, 1) == ex
    with pytest.raises(ValueError, match="2 keys for 100 examples"):
        grouped_cap(ex, [1, 2], 10, 1)
