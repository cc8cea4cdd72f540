"""One finished tiny-random run, shared by the tests of what a user does with its models
(kept states, load, export, predict): two languages, every paradigm, the probe as a dev candidate."""

from pathlib import Path

from borderless.config import load_config
from borderless.runner import run
from conftest import tiny_config_text, write_language

LANGS = ("eng_Latn", "hau_Latn")


def finished_run(root: Path, backbone, overrides=("train.probe_candidate=true",)):
    data = root / "sib200"
    for lang in LANGS:
        write_language(data, lang)
    p = root / "c.toml"
    p.write_text(tiny_config_text(data, LANGS, "eval_every = 1\npersonal_steps = 2\npersonal_eval_every = 1"))
    cfg = load_config(p, list(overrides))
    return run(cfg, root / "out", progress=False, backbone=backbone).folder, cfg
