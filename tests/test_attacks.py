import json

import torch

from borderless.config import load_config
from borderless.federated.attacks import flip_labels, poison
from borderless.runner import run
from conftest import tiny_config_text

G = {"w": torch.tensor([1.0, 1.0]), "b": torch.tensor([0.0])}
HONEST = {"w": torch.tensor([2.0, 0.0]), "b": torch.tensor([1.0])}  # Δ = [1, -1, 1], ‖Δ‖ = √3


def test_sign_flip_reverses_and_scales_the_honest_update():
    out = poison(HONEST, G, "sign_flip", 10.0, 0)
    assert out["w"].tolist() == [-9.0, 11.0] and out["b"].tolist() == [-10.0]


def test_gaussian_noise_has_scale_times_the_honest_norm_and_is_seeded():
    out = poison(HONEST, G, "gaussian", 10.0, 3)
    norm = torch.cat([(out[k] - G[k]).reshape(-1) for k in G]).double().norm().item()
    assert abs(norm - 10.0 * 3 ** 0.5) < 1e-4
    assert all(torch.equal(out[k], poison(HONEST, G, "gaussian", 10.0, 3)[k]) for k in G)
    assert not torch.equal(out["w"], poison(HONEST, G, "gaussian", 10.0, 4)["w"])


def test_nan_and_label_flip():
    assert all(torch.isnan(v).all() for v in poison(HONEST, G, "nan", 1.0, 0).values())
    assert flip_labels([0, 1, 6], 7) == [1, 2, 0]
    assert poison(HONEST, G, "label_flip", 10.0, 0) is HONEST  # acts on data, not on the message


def test_a_nan_client_is_refused_every_round_and_the_run_goes_on(tmp_path, sib200_dir, tiny_backbone):
    p = tmp_path / "c.toml"
    p.write_text(tiny_config_text(sib200_dir, ("eng_Latn", "hau_Latn", "amh_Ethi")))
    cfg = load_config(p, ['run.paradigms=["federated"]', 'federated.attack="nan"',
                          'federated.attack_clients=["hau_Latn"]'])
    out = run(cfg, tmp_path / "r", progress=False, backbone=tiny_backbone)
    refused = out.results["paradigms"]["federated"]["rejected_updates"]
    assert [(r["round"], r["client"]) for r in refused] == [(1, "hau_Latn"), (2, "hau_Latn")]
    assert all("non-finite" in r["reason"] for r in refused)
    assert "Updates refused by the server" in (out.folder / "report.md").read_text()
    rows = [json.loads(x) for x in (out.folder / "metrics.jsonl").read_text().splitlines()]
    assert sum(1 for r in rows if r.get("rejected")) == 2
    acc = out.results["paradigms"]["federated"]["test_accuracy"]
    assert all(a == a for a in acc.values())  # no NaN reached the global model


def test_label_flip_changes_only_the_attackers_data(tmp_path, sib200_dir, tiny_backbone):
    from borderless.paradigms import make_clients
    from borderless.runner import build_workload

    p = tmp_path / "c.toml"
    p.write_text(tiny_config_text(sib200_dir, ("eng_Latn", "hau_Latn")))
    cfg = load_config(p, ['federated.attack="label_flip"', 'federated.attack_clients=["hau_Latn"]'])
    work, labels = build_workload(cfg, tiny_backbone, 64)
    clients = {c.client_id: c for c in make_clients(work, cfg)}
    assert clients["eng_Latn"].stream.data.labels == work.train["eng_Latn"].labels
    assert clients["hau_Latn"].stream.data.labels == flip_labels(work.train["hau_Latn"].labels, len(labels))
    assert work.train["hau_Latn"].labels != clients["hau_Latn"].stream.data.labels  # the workload is untouched
