"""Members and non-members, split by PARALLEL SENTENCE ID: a sentence id is a member in every
language or in none, so a translation of a training sentence is never counted as unseen (the
model may well recognise it, and that would inflate the attack's false positives and hide leakage)."""

from __future__ import annotations

import dataclasses
import hashlib

from borderless.data.sampling import stratified_cap
from borderless.data.types import Example, LanguageData


def sentence_id(ex: Example) -> str:
    """The parallel id: "<lang>/<id>" → "<id>"."""
    return ex.uid.split("/", 1)[1] if "/" in ex.uid else ex.uid


def in_keyed_half(key: str, sid: str) -> bool:
    """Whether a sentence id falls in the half of all ids that ``key`` picks (a keyed hash of the id
    alone, so the same in every language)."""
    return hashlib.sha256(f"{key}/{sid}".encode()).digest()[0] < 128


def is_member(sid: str, seed: int) -> bool:
    """The audit's members: half the sentence ids."""
    return in_keyed_half(f"borderless-audit-{seed}", sid)


@dataclasses.dataclass(frozen=True)
class Split:
    members: dict[str, list[Example]]  # language → the training sentences the audited models train on
    outsiders: dict[str, list[Example]]  # language → as many sentences of the same split never trained on


def split(data: dict[str, LanguageData], languages: list[str], cap: int, seed: int) -> Split:
    """Per language: members are the member-id sentences of its training split (stratified down to
    ``cap`` if set, as a run caps its training data), non-members as many non-member-id sentences of
    the same split, stratified the same way."""
    members, outsiders = {}, {}
    for lang in languages:
        train = data[lang].train
        inside = [ex for ex in train if is_member(sentence_id(ex), seed)]
        outside = [ex for ex in train if not is_member(sentence_id(ex), seed)]
        n = min(len(inside), len(outside), cap or len(train))
        members[lang] = stratified_cap(inside, n, seed)
        outsiders[lang] = stratified_cap(outside, n, seed)
    return Split(members, outsiders)


def with_members_only(data: dict[str, LanguageData], members: dict[str, list[Example]]) -> dict[str, LanguageData]:
    """The run's data with each training split replaced by its members (dev, test, zero-shot unchanged)."""
    return {l: dataclasses.replace(d, train=members[l]) if l in members else d for l, d in data.items()}
