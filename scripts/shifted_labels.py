"""A label-shifted federation for issue 46, item 6: what federated + personal does for a language whose
label distribution differs from the federation's. Built from NusaX-Senti (read from ../shared/data,
written outside the repository as the user's own CSV folder; the data is never copied into the repo):

- four languages keep their own files (38 % negative, 38 % positive, 24 % neutral in train and test);
- **buginese** is shifted the same way in train, dev and test: 65 % negative (a language whose text
  leans another way than the federation's);
- **madurese** is shifted in train and dev (65 % negative) but its test is 67 % positive: the
  train/test shift of the new user's report (a model true to its own training data is wrong here).

Rows are drawn without replacement by a seeded generator; each shifted split keeps as many rows as its
target mix allows (train 179 of 500, dev 39 of 100, test 150 of 400).

    .venv/bin/python scripts/shifted_labels.py --out /tmp/shifted_senti
    .venv/bin/borderless run configs/shifted_sentiment.toml --set data.path=\\"/tmp/shifted_senti\\" \\
        -o docs/results/shifted_sentiment/seed0
"""

from __future__ import annotations

import argparse
import csv
import random
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO.parent / "shared" / "data" / "nusax_senti"
KEPT = ("acehnese", "balinese", "banjarese", "toba_batak")
LEANS = {"negative": 0.65, "positive": 0.175, "neutral": 0.175}
FLIPPED = {"positive": 0.67, "negative": 0.165, "neutral": 0.165}
# language → split → (label mix, rows)
SHIFTED = {"buginese": {"train": (LEANS, 180), "valid": (LEANS, 38), "test": (LEANS, 150)},
           "madurese": {"train": (LEANS, 180), "valid": (LEANS, 38), "test": (FLIPPED, 150)}}


def read(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def draw(rows: list[dict], mix: dict[str, float], n: int, rng: random.Random, where: str) -> list[dict]:
    """``n`` rows whose labels follow ``mix`` (rounded), drawn without replacement, in file order."""
    want = {label: round(share * n) for label, share in mix.items()}
    out = []
    for label, k in want.items():
        pool = [r for r in rows if r["label"] == label]
        if k > len(pool):
            raise SystemExit(f"{where}: {k} {label} rows wanted, {len(pool)} there; lower the row count")
        out += rng.sample(pool, k)
    order = {id(r): i for i, r in enumerate(rows)}
    return sorted(out, key=lambda r: order[id(r)])


def write(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["id", "text", "label"])
        w.writeheader()
        w.writerows({k: r[k] for k in ("id", "text", "label")} for r in rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, type=Path, help="the folder to write (outside the repository)")
    ap.add_argument("--source", type=Path, default=SOURCE)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if a.out.resolve().is_relative_to(REPO):
        raise SystemExit(f"--out {a.out}: inside the repository; the data's license keeps it out (use /tmp/...)")
    rng = random.Random(a.seed)
    for lang in KEPT + tuple(SHIFTED):
        for split in ("train", "valid", "test"):
            rows = read(a.source / lang / f"{split}.csv")
            if lang in SHIFTED:
                mix, n = SHIFTED[lang][split]
                rows = draw(rows, mix, n, rng, f"{lang}/{split}")
            write(a.out / lang / f"{split}.csv", rows)
            counts = {l: sum(r["label"] == l for r in rows) for l in ("negative", "positive", "neutral")}
            print(f"{lang:10s} {split:5s} {len(rows):4d} rows " + " ".join(f"{l} {c}" for l, c in counts.items()))


if __name__ == "__main__":
    main()
