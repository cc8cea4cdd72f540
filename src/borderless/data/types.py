"""Plain data records shared by every dataset loader."""

from __future__ import annotations

from dataclasses import dataclass, field


class DataError(ValueError):
    """Bad or missing data, naming the file, line and fix."""


@dataclass(frozen=True)
class Example:
    uid: str  # "<lang>/<id>": the same sentence id across parallel languages
    text: str
    label: int
    lang: str
    text_pair: str | None = None  # sentence-pair tasks (NLI): the hypothesis
    # token tasks (NER, POS): the sentence's words and one tag index per word; ``text`` is the words
    # joined by spaces and ``label`` is 0 (a token example has no sentence label)
    words: tuple[str, ...] | None = None
    tags: tuple[int, ...] | None = None


@dataclass(frozen=True)
class LabelSet:
    names: tuple[str, ...]
    index: dict[str, int] = field(init=False, compare=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "index", {name: i for i, name in enumerate(self.names)})

    def __len__(self) -> int:
        return len(self.names)


@dataclass(frozen=True)
class LanguageData:
    """One language's splits. ``labels`` is the label space of the whole run (the union over its
    languages); ``allowed`` the indices of this language's own labels when it has fewer (MasakhaNEWS),
    None when it has them all. Its logits are masked to them in training and evaluation."""

    lang: str
    labels: LabelSet
    train: list[Example]
    dev: list[Example]
    test: list[Example]
    allowed: tuple[int, ...] | None = None
    notes: tuple[str, ...] = ()  # what the reader substituted (e.g. the 50-per-class training file)

    @property
    def token_task(self) -> bool:
        """Each word has a label (a CoNLL dataset), not each sentence."""
        return any(ex.tags is not None for ex in (self.train or self.test)[:1])
