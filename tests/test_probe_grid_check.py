import statistics

import pytest

from borderless.config import load_config
from borderless.runner import run
from conftest import script_module, tiny_config_text


@pytest.mark.slow
def test_refitting_under_the_runs_own_grid_gives_the_runs_own_floors(tmp_path, sib200_dir, tiny_backbone):
    p = tmp_path / "c.toml"
    p.write_text(tiny_config_text(sib200_dir, ("eng_Latn", "hau_Latn", "amh_Ethi")))
    out = run(load_config(p, ["federated.rounds=2"]), tmp_path / "r", progress=False, backbone=tiny_backbone)
    s, cfg = out.results, load_config(out.folder / "config.toml")
    mod, cache = script_module("probe_grid_check"), {}
    own = mod.floors(cfg, cfg.probe.weight_decays, cache)
    for name, probe in s["probes"].items():
        want = round(100 * statistics.fmean(probe["test_accuracy"][l] for l in s["languages"]), 1)
        assert own[name]["test"] == want, name
    # a one-value grid has nothing to choose: every paradigm's probe uses that weight decay
    one = mod.floors(cfg, (0.05,), cache)
    assert one["centralized"]["weight_decay"] == {"all": 0.05}
    assert set(one["monolingual"]["weight_decay"].values()) == {0.05}
    assert len(cache) == 1  # the features were computed once for both grids


def test_the_layer_probes_last_layer_is_the_toolkits_probe_feature(sib200_dir, tiny_backbone):
    import torch

    from borderless.features import pooled_features
    from borderless.runner import build_workload

    mod = script_module("layer_probe")
    p = sib200_dir.parent / "c.toml"
    p.write_text(tiny_config_text(sib200_dir))
    cfg = load_config(p, [])
    work, _ = build_workload(cfg, tiny_backbone, cfg.backbone.max_length)
    data = work.dev["hau_Latn"]
    layers = mod.layer_features(tiny_backbone.model, data, batch_size=3)
    want = pooled_features(tiny_backbone.model, data, list(range(len(data.labels))), 3)
    assert layers.shape[1] == tiny_backbone.model.config.num_hidden_layers + 1
    torch.testing.assert_close(layers[:, -1], want, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(layers[:, -2], want)  # another layer is another feature
