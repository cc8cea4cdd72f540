from collections import Counter

from borderless.data.sampling import stratified_cap
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
