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


def stock_logits(backbone, out, texts):
    """The exported model read by stock transformers + PEFT alone: the manifest's input prefix and max
    length, ``PeftModel.from_pretrained`` on the bare backbone, mean pooling over the real tokens (the
    soft prompt's positions dropped), then the head. The backbone is left as it was (LoRA unloaded)."""
    from peft import PeftModel

    reading = json.loads((out / MANIFEST).read_text())["reading"]
    adapter = json.loads((out / "adapter_config.json").read_text())
    n_virtual = adapter["num_virtual_tokens"] if adapter["peft_type"] == "PROMPT_TUNING" else 0
    head = load_file(str(out / "head.safetensors"))
    enc = backbone.tokenizer([reading["input_prefix"] + t for t in texts], padding=True, truncation=True,
                             max_length=reading["max_length"], return_tensors="pt")
    peft_model = PeftModel.from_pretrained(backbone.model, str(out))
    try:
        with torch.no_grad():
            hidden = peft_model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
    finally:
        if adapter["peft_type"] == "LORA":
            peft_model.unload()  # the LoRA layers were injected into the shared backbone's modules
    m = enc["attention_mask"].unsqueeze(-1).float()
    return ((hidden[:, n_virtual:] * m).sum(1) / m.sum(1)) @ head["weight"].T + head["bias"]


def logits_of(path, backbone, texts):
    """borderless.load(path).logits(texts), the backbone handed back afterwards."""
    clf = borderless.load(path, backbone=backbone)
    try:
        return clf.logits(texts)
    finally:
        clf.close()


@pytest.fixture(scope="module")
def finished(tmp_path_factory, tiny_backbone):
    return finished_run(tmp_path_factory.mktemp("run"), tiny_backbone, overrides=())  # every state tuned


def test_the_federated_model_exports_in_peft_format_and_stock_peft_gives_the_same_logits(finished, tiny_backbone,
                                                                                          tmp_path):
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

    ours = logits_of(folder, tiny_backbone, TEXTS)
    # stock transformers + PEFT: the backbone, the adapter, mean pooling of the real tokens, the head
    stock = stock_logits(tiny_backbone, out, TEXTS)
    assert torch.allclose(stock, ours, atol=1e-5), (stock - ours).abs().max()
    assert torch.allclose(logits_of(out, tiny_backbone, TEXTS), ours, atol=1e-6)  # the exported folder too


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
def test_the_demo_s_exported_model_on_e5_small_gives_borderless_logits_with_stock_peft(e5_backbone, tmp_path):
    """multilingual-e5-small and real SIB-200 sentences: the committed demo's federated model (LoRA since
    2026-12-06), exported, then read by stock transformers + PEFT (prefix, tokenizer, PeftModel, mean
    pooling, head); the soft-prompt demo's the same way."""
    import csv

    from conftest import REAL_SIB200, REPO

    if not REAL_SIB200.exists():
        pytest.skip(f"{REAL_SIB200}: the SIB-200 data is not there")
    with open(REAL_SIB200 / "hau_Latn" / "test.tsv", encoding="utf-8", newline="") as fh:
        texts = [r["text"] for r in csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)][:16]
    for demo, peft_type in (("demo", "LORA"), ("demo_prompt", "PROMPT_TUNING")):
        out = export(REPO / "docs" / "results" / demo, tmp_path / demo, backbone=e5_backbone)
        manifest = json.loads((out / MANIFEST).read_text())
        adapter = json.loads((out / "adapter_config.json").read_text())
        assert (adapter["base_model_name_or_path"], adapter["peft_type"]) == ("intfloat/multilingual-e5-small", peft_type)
        ours = logits_of(out, e5_backbone, texts)
        assert manifest["reading"]["input_prefix"]  # e5 reads "query: " before every text; stock_logits uses it
        stock = stock_logits(e5_backbone, out, texts)
        assert torch.allclose(stock, ours, atol=1e-5), (demo, (stock - ours).abs().max())


def test_a_lora_model_exports_in_peft_format_and_stock_peft_gives_the_same_logits(tiny_backbone, tmp_path):
    folder, _ = finished_run(tmp_path / "run", tiny_backbone, overrides=('method.name="lora"',))
    out = export(folder, tmp_path / "model", backbone=tiny_backbone)
    adapter = json.loads((out / "adapter_config.json").read_text())
    assert adapter["peft_type"] == "LORA" and adapter["r"] == 8
    before = {k: v.clone() for k, v in tiny_backbone.model.state_dict().items()}
    ours = logits_of(folder, tiny_backbone, TEXTS)
    stock = stock_logits(tiny_backbone, out, TEXTS)
    assert torch.allclose(stock, ours, atol=1e-5), (stock - ours).abs().max()
    # the exported folder through borderless: its fingerprint is the bare backbone's, LoRA or not
    assert torch.allclose(logits_of(out, tiny_backbone, TEXTS), ours, atol=1e-6)
    after = tiny_backbone.model.state_dict()
    assert set(after) == set(before) and all(torch.equal(after[k], before[k]) for k in before)  # left as it was


def test_a_dp_models_card_states_its_epsilon(tiny_backbone, tmp_path):
    folder, _ = finished_run(tmp_path / "run", tiny_backbone, overrides=(
        'privacy.mechanism="example"', "privacy.target_epsilon=4.0", 'run.paradigms=["federated"]'))
    res = json.loads((folder / "results.json").read_text())
    eps = res["paradigms"]["federated"]["privacy"]["epsilon"]
    card = (export(folder, tmp_path / "model", backbone=tiny_backbone) / "README.md").read_text()
    assert f"ε = {eps:.2f} at δ = 1e-05" in card and "one training sentence" in card and eps <= 4.0 + 1e-3


@pytest.mark.real
def test_a_lora_model_trained_on_e5_small_gives_borderless_logits_with_stock_peft(e5_backbone, tmp_path):
    """A short real LoRA run (multilingual-e5-small, two SIB-200 languages, small caps), exported and read
    by stock transformers + PEFT on real test sentences."""
    from borderless.config import load_config
    from borderless.runner import run
    from conftest import REAL_SIB200, REPO

    if not REAL_SIB200.exists():
        pytest.skip(f"{REAL_SIB200}: the SIB-200 data is not there")
    cfg = load_config(REPO / "configs" / "demo.toml", [
        f'data.path="{REAL_SIB200}"', 'data.languages=["hau_Latn", "yor_Latn"]', "data.max_train_per_language=16",
        "data.max_dev_per_language=8", "data.max_test_per_language=8", 'run.paradigms=["federated"]',
        'method.name="lora"', "federated.rounds=1", "federated.eval_every=1", "train.local_steps=2", "train.lr=0.01",
        'train.stop="budget"'])  # the tuned LoRA state is what gets exported, not the probe
    folder = run(cfg, tmp_path / "run", progress=False, backbone=e5_backbone).folder
    out = export(folder, tmp_path / "model", backbone=e5_backbone)
    adapter = json.loads((out / "adapter_config.json").read_text())
    assert adapter["peft_type"] == "LORA" and adapter["base_model_name_or_path"] == "intfloat/multilingual-e5-small"
    import csv

    with open(REAL_SIB200 / "yor_Latn" / "test.tsv", encoding="utf-8", newline="") as fh:
        texts = [r["text"] for r in csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)][:12]
    ours = logits_of(out, e5_backbone, texts)
    stock = stock_logits(e5_backbone, out, texts)
    assert torch.allclose(stock, ours, atol=1e-5), (stock - ours).abs().max()
    lora = load_file(str(out / "adapter_model.safetensors"))
    assert any("lora_B" in k and v.abs().sum() > 0 for k, v in lora.items())  # trained: B moved from its zero start
