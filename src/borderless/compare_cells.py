"""The cells of a ``borderless compare`` study: methods × paradigms × seeds (× data fractions).

Plain data shared by the study runner (``borderless.compare``) and its report
(``borderless.compare_report``); it imports neither, so both can import it.
"""

from __future__ import annotations

from dataclasses import dataclass

from borderless.config import Config


# compare paradigm → (run paradigm, federated partition or None to keep the config's)
PARADIGM_RUNS = {
    "monolingual": ("monolingual", None),
    "centralized": ("centralized", None),
    "federated_iid": ("federated", "iid"),
    "federated_non_iid": ("federated", "language"),
    "federated_personal": ("federated_personal", "language"),
}


@dataclass(frozen=True)
class Cell:
    method: str
    paradigm: str
    seed: int
    fraction: float

    @property
    def key(self) -> str:
        return f"{self.method}/{self.paradigm}/frac{self.fraction:g}/seed{self.seed}"


def expanded_paradigms(cfg: Config) -> list[str]:
    """compare.paradigms, with each federated one once per rule of compare.aggregators
    (``federated_non_iid@distance``) when that list is given."""
    out = []
    for p in cfg.compare.paradigms:
        if PARADIGM_RUNS[p][0] == "federated" and cfg.compare.aggregators:
            out += [f"{p}@{a}" for a in cfg.compare.aggregators]
        else:
            out.append(p)
    return out


def plan_cells(cfg: Config) -> list[Cell]:
    """Seed-major order, so an interrupted study already holds whole seeds. Fractions below 1
    (the data-efficiency sweep) run for ``compare.fraction_methods`` only."""
    c = cfg.compare
    cells = []
    for fraction in sorted(c.fractions, reverse=True):
        methods = c.methods if fraction == 1.0 else c.fraction_methods
        for seed in c.seeds if fraction == 1.0 else (c.fraction_seeds or c.seeds):
            for method in methods:
                for paradigm in expanded_paradigms(cfg):
                    cells.append(Cell(method, paradigm, seed, fraction))
    return cells
