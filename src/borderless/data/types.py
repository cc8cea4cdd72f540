"""Plain data records shared by every dataset loader."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Example:
    uid: str  # "<lang>/<index_id>": the same sentence id across parallel languages
    text: str
    label: int
    lang: str


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
    lang: str
    labels: LabelSet
    train: list[Example]
    dev: list[Example]
    test: list[Example]
