"""The audit's split: by parallel sentence id, so no translation of a member counts as unseen."""

from borderless.audit.membership import sentence_id, split, with_members_only
from borderless.data.types import Example, LabelSet, LanguageData


def _data(langs=("eng_Latn", "hau_Latn"), n=80):
    labels = LabelSet(("a", "b"))
    return {l: LanguageData(l, labels, [Example(f"{l}/{i}", f"{l} text {i}", i % 2, l) for i in range(n)],
                            [Example(f"{l}/d{i}", "d", 0, l) for i in range(4)], [Example(f"{l}/t{i}", "t", 0, l) for i in range(4)])
            for l in langs}


def test_an_id_is_a_member_in_every_language_or_in_none():
    data = _data()
    sp = split(data, list(data), cap=0, seed=0)
    ids = {l: {sentence_id(ex) for ex in sp.members[l]} for l in data}
    out = {l: {sentence_id(ex) for ex in sp.outsiders[l]} for l in data}
    every_member = set().union(*ids.values())
    assert every_member and not every_member & set().union(*out.values())
    for l in data:
        assert len(sp.members[l]) == len(sp.outsiders[l]) > 20  # balanced, about half each


def test_the_cap_and_the_members_only_training_data():
    data = _data()
    sp = split(data, list(data), cap=10, seed=0)
    assert all(len(v) == 10 for v in sp.members.values())
    assert {ex.label for ex in sp.members["eng_Latn"]} == {0, 1}  # stratified
    trained = with_members_only(data, sp.members)
    assert trained["hau_Latn"].train == sp.members["hau_Latn"] and trained["hau_Latn"].test == data["hau_Latn"].test
    other = split(data, list(data), cap=0, seed=1)
    assert {ex.uid for ex in other.members["eng_Latn"]} != {ex.uid for ex in split(data, list(data), 0, 0).members["eng_Latn"]}
