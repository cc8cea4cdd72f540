"""borderless export: a run's model as a folder in PEFT's own format plus head, manifest and model
card; loadable by stock PEFT (the same logits without borderless in the forward pass) and by
borderless.load, with clear errors for an incomplete, damaged or foreign folder."""

import json

import pytest
import torch
from safetensors.torch import load_file

import borderless
from borderless.errors import ModelError, OutputError
from borderless.export import MANIFEST, export
from trained_run import LANGS, finished_run

TEXTS = ["the market river team", "da na ta kasar wasan", "film border city vaccine of the"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory, tiny_backbone):
    return finished_run(tmp_path_factory.mktemp("run"), tiny_backbone, overrides=())  # every state tuned


def test_the_federated_model_exports_in_peft_format_and_stock_peft_gives_the_same_logits(finished, tiny_backbone,
                                                                                          tmp_path):
    from peft import PeftModel

    folder, cfg = finished
    out = export(folder, tmp_path / "model", backbone=tiny_backbone)
    for name in ("adapter_config.json", "adapter_model.safetensors", "head.safetensors", MANIFEST, "config.toml",
                 "README.md"):
        assert (out / name).exists(), name
    adapter = json.loads((out / "adapter_config.json").read_text())
    assert adapter["peft_type"] == "PROMPT_TUNING" and adapter["num_virtual_tokens"] == 3
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["paradigm"] == "federated" and manifest["languages"]["eng_Latn"] == {"folder": ".", "kind": "tuned"}
    assert manifest["reading"]["pooling"] == "mean"
    card = (out / "README.md").read_text()
    res = json.loads((folder / "results.json").read_text())
    assert f"{100 * res['paradigms']['federated']['test_accuracy']['hau_Latn']:.1f}" in card and "CC BY-SA 4.0" in card

    clf = borderless.load(folder, backbone=tiny_backbone)
    try:
        ours = clf.logits(TEXTS)
    finally:
        clf.close()
    # stock transformers + PEFT: the backbone, the adapter, mean pooling of the real tokens, the head
    tok = tiny_backbone.tokenizer
    peft_model = PeftModel.from_pretrained(tiny_backbone.model, str(out))
    head = load_file(str(out / "head.safetensors"))
    try:
        enc = tok(TEXTS, padding=True, return_tensors="pt")
        with torch.no_grad():
            hidden = peft_model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
        hidden = hidden[:, adapter["num_virtual_tokens"]:]
        m = enc["attention_mask"].unsqueeze(-1).float()
        pooled = (hidden * m).sum(1) / m.sum(1)
        stock = pooled @ head["weight"].T + head["bias"]
    finally:
        peft_model.unload() if hasattr(peft_model, "unload") else None
    assert torch.allclose(stock, ours, atol=1e-5), (stock - ours).abs().max()

    again = borderless.load(out, backbone=tiny_backbone)  # the exported folder, through borderless
    try:
        assert torch.allclose(again.logits(TEXTS), ours, atol=1e-6)
    finally:
        again.close()


def test_a_paradigm_with_one_model_a_language_exports_each_in_its_own_folder(finished, tiny_backbone, tmp_path):
    folder, _ = finished
    out = export(folder, tmp_path / "personal", "federated_personal", backbone=tiny_backbone)
    for lang in LANGS:
        assert (out / "languages" / lang / "adapter_model.safetensors").exists()
    run_clf = borderless.load(folder, "federated_personal", backbone=tiny_backbone)
    try:
        want = {lang: run_clf.logits(TEXTS, language=lang) for lang in LANGS}
    finally:
        run_clf.close()
    clf = borderless.load(out, backbone=tiny_backbone)
    try:
        for lang in LANGS:
            assert torch.allclose(clf.logits(TEXTS, language=lang), want[lang], atol=1e-6), lang
        with pytest.raises(ModelError, match="one model per language"):
            clf.predict(TEXTS)
    finally:
        clf.close()
    one = export(folder, tmp_path / "hau", "monolingual", "hau_Latn", backbone=tiny_backbone)
    assert (one / "adapter_model.safetensors").exists() and not (one / "languages").exists()
    assert list(json.loads((one / MANIFEST).read_text())["languages"]) == ["hau_Latn"]


def test_bad_model_folders_are_refused_with_the_fix(finished, tiny_backbone, tmp_path):
    folder, _ = finished
    out = export(folder, tmp_path / "m", backbone=tiny_backbone)
    with pytest.raises(OutputError, match="not empty; choose a new folder or pass --overwrite"):
        export(folder, out, backbone=tiny_backbone)
    manifest = json.loads((out / MANIFEST).read_text())
    (out / MANIFEST).write_text(json.dumps({**manifest, "backbone": {**manifest["backbone"], "fingerprint": "other-123"}}))
    with pytest.raises(ModelError, match="exported for backbone weights other-123"):
        borderless.load(out, backbone=tiny_backbone)
    (out / MANIFEST).write_text(json.dumps(manifest))
    (out / "adapter_model.safetensors").unlink()
    _refused_at_predict(out, tiny_backbone, "incomplete model folder, missing adapter_model.safetensors")
    (out / "adapter_model.safetensors").write_bytes(b"not safetensors")
    _refused_at_predict(out, tiny_backbone, "damaged model files")
    (out / MANIFEST).write_text("{")
    with pytest.raises(ModelError, match="not readable JSON"):
        borderless.load(out, backbone=tiny_backbone)


def _refused_at_predict(folder, backbone, message):
    clf = borderless.load(folder, backbone=backbone)
    try:
        with pytest.raises(ModelError, match=message):
            clf.predict(TEXTS)
    finally:
        clf.close()


@pytest.mark.real
def test_the_demo_s_exported_prompt_on_e5_small_gives_borderless_logits_with_stock_peft(e5_backbone, tmp_path):
    """multilingual-e5-small and real SIB-200 sentences: the committed demo's federated model, exported,
    then read by stock transformers + PEFT (prefix, tokenizer, PeftModel, mean pooling, head)."""
    import csv

    from peft import PeftModel

    from conftest import REAL_SIB200, REPO

    folder = REPO / "docs" / "results" / "demo"
    if not REAL_SIB200.exists():
        pytest.skip(f"{REAL_SIB200}: the SIB-200 data is not there")
    with open(REAL_SIB200 / "hau_Latn" / "test.tsv", encoding="utf-8", newline="") as fh:
        texts = [r["text"] for r in csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)][:16]
    out = export(folder, tmp_path / "model", backbone=e5_backbone)
    manifest = json.loads((out / MANIFEST).read_text())
    assert json.loads((out / "adapter_config.json").read_text())["base_model_name_or_path"] == \
        "intfloat/multilingual-e5-small"
    clf = borderless.load(out, backbone=e5_backbone)
    try:
        ours = clf.logits(texts)
    finally:
        clf.close()
    reading, n_virtual = manifest["reading"], manifest["method"]["num_virtual_tokens"]
    peft_model = PeftModel.from_pretrained(e5_backbone.model, str(out))
    head = load_file(str(out / "head.safetensors"))
    enc = e5_backbone.tokenizer([reading["input_prefix"] + t for t in texts], padding=True, truncation=True,
                                max_length=reading["max_length"], return_tensors="pt")
    with torch.no_grad():
        hidden = peft_model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
    m = enc["attention_mask"].unsqueeze(-1).float()
    stock = ((hidden[:, n_virtual:] * m).sum(1) / m.sum(1)) @ head["weight"].T + head["bias"]
    assert torch.allclose(stock, ours, atol=1e-5), (stock - ours).abs().max()
