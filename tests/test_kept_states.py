"""borderless.kept_states: every paradigm's chosen state is kept in the results folder, one file per
language where the paradigm has one, and results.json's ``models`` names the file each reported test
accuracy came from (the probe's head where dev selection kept the probe)."""

import json

import torch
from safetensors.torch import load_file

from borderless import kept_states
from borderless.config import load_config
from borderless.probe import Probe
from borderless.runner import run
from conftest import tiny_config_text


def test_a_run_keeps_every_paradigms_chosen_state(tmp_path, sib200_dir, tiny_backbone):
    p = tmp_path / "c.toml"
    p.write_text(tiny_config_text(sib200_dir, ("eng_Latn", "hau_Latn"),
                                  "eval_every = 1\npersonal_steps = 2\npersonal_eval_every = 1"))
    folder = run(load_config(p), tmp_path / "out", progress=False, backbone=tiny_backbone).folder
    res = json.loads((folder / "results.json").read_text())
    models = res["models"]
    assert set(models) == {"monolingual", "centralized", "federated", "federated_personal"}
    assert models["federated"] == {l: "states/federated/global.safetensors" for l in ("eng_Latn", "hau_Latn")}
    assert models["centralized"]["hau_Latn"] == "states/centralized/global.safetensors"
    assert models["monolingual"]["hau_Latn"] == "states/monolingual/hau_Latn.safetensors"
    assert models["federated_personal"]["eng_Latn"] == "states/federated_personal/eng_Latn.safetensors"
    for paradigm, files in models.items():
        for lang, rel in files.items():
            state, meta = kept_states.load(folder, rel)
            assert meta == {"paradigm": paradigm, "who": rel.split("/")[-1].split(".")[0], "kind": "tuned"}
            assert {"head.weight", "head.bias"} <= set(state) and any("prompt" in k for k in state)
    mono_en, mono_ha = (load_file(folder / models["monolingual"][l]) for l in ("eng_Latn", "hau_Latn"))
    assert not torch.equal(mono_en["head.weight"], mono_ha["head.weight"])  # each language its own model
    assert not (folder / "checkpoint.pt").exists()


def test_keep_states_false_keeps_none(tmp_path, sib200_dir, tiny_backbone):
    p = tmp_path / "c.toml"
    p.write_text(tiny_config_text(sib200_dir, ("eng_Latn", "hau_Latn"), "[run]\nkeep_states = false\n"
                                  'paradigms = ["federated"]'))
    folder = run(load_config(p), tmp_path / "out", progress=False, backbone=tiny_backbone).folder
    assert not (folder / "states").exists() and json.loads((folder / "results.json").read_text())["models"] == {}


def _head(v: float) -> dict:
    return {"head.weight": torch.full((2, 3), v), "head.bias": torch.zeros(2)}


def test_where_dev_kept_the_probe_the_index_names_the_probes_head(tmp_path):
    keeper = kept_states.StateKeeper(tmp_path)
    for lang in ("a", "b"):
        keeper.save("monolingual", lang, {**_head(1.0), "prompt": torch.ones(1)})
    keeper.save("federated", "global", {**_head(2.0), "prompt": torch.ones(1)})
    probes = {"monolingual": Probe("monolingual", {"a": _head(5.0), "b": _head(6.0)}, {}, {}),
              "federated": Probe("federated", {"a": _head(7.0), "b": _head(7.0)}, {}, {})}
    summary = {"languages": ["a", "b"], "paradigms": {
        "monolingual": {"chosen_on_dev": {"a": "tuned", "b": "probe"}},
        "federated": {"chosen_on_dev": {"all": "probe"}},
        "centralized": {}}}  # kept nothing: left out of the index
    index = kept_states.models_index(summary, probes, keeper)
    assert index == {"monolingual": {"a": "states/monolingual/a.safetensors", "b": "states/monolingual/b.probe.safetensors"},
                     "federated": {"a": "states/federated/global.probe.safetensors",
                                   "b": "states/federated/global.probe.safetensors"}}
    state, meta = kept_states.load(tmp_path, index["monolingual"]["b"])
    assert meta["kind"] == "probe" and set(state) == {"head.weight", "head.bias"}
    assert torch.equal(state["head.weight"], _head(6.0)["head.weight"])  # b's own probe, not a's
    assert kept_states.load(tmp_path, index["monolingual"]["a"])[1]["kind"] == "tuned"  # the tuned file stays
    assert kept_states.models_index(summary, probes, kept_states.StateKeeper(None)) == {}
