"""``borderless export RUN_DIR -o MODEL_DIR``: a finished run's model as a self-contained folder in the
formats the ecosystem loads (issue 44, item 2).

    MODEL_DIR/
      adapter_config.json, adapter_model.safetensors   PEFT's own format (prompt, P-tuning, prefix, LoRA):
                                                       peft.PeftModel.from_pretrained(base, MODEL_DIR)
      config.json, model.safetensors                   full fine-tuning: the whole encoder (save_pretrained)
      head.safetensors                                 the linear head: weight (labels × hidden), bias
      borderless_model.json                            labels, each language's label set, how to read text
                                                       (input prefix, max length, template, pooling), the
                                                       backbone's name, hub id and weight fingerprint, the
                                                       method, which folder serves which language
      config.toml                                      the run's resolved config
      README.md                                        the model card
      languages/<lang>/...                             one such model per language, for paradigms that
                                                       train one (monolingual, federated + personal)

A language whose dev selection kept the frozen-feature probe (``train.probe_candidate``) gets its
head alone (``"kind": "probe"``): the frozen backbone's pooled output, no adapter.
"""

from __future__ import annotations

import json
import shutil
import statistics
from pathlib import Path

from borderless import atomic_files, kept_states
from borderless.errors import ModelError, OutputError
from borderless.trained_model import MANIFEST, PEFT_METHODS, TrainedModel

FORMAT = 1
# the hub ids of the offline backbones, so a user online can load an exported adapter onto the hub model
HUB_IDS = {"e5-small": "intfloat/multilingual-e5-small", "gemma3-270m": "google/gemma-3-270m"}
LICENSES = {"e5-small": "MIT (intfloat/multilingual-e5-small)", "gemma3-270m": "Gemma Terms of Use (google/gemma-3-270m)",
            "sib200": "CC BY-SA 4.0 (SIB-200)", "masakhanews": "AFL-3.0 (MasakhaNEWS)",
            "xnli": "CC BY-NC 4.0 (XNLI)", "nusax_senti": "CC BY-SA 4.0 (NusaX-Senti)",
            "americasnli": "CC BY-SA 4.0 (AmericasNLI)", "masakhaner": "CC BY-NC 4.0, non-commercial (MasakhaNER 2.0)",
            "masakhapos": "CC BY-NC 4.0, non-commercial (MasakhaPOS)",
            "pawsx": "the PAWS terms: any use, attribution requested (PAWS-X)"}


def export(run_dir: str | Path, out: str | Path, paradigm: str | None = None, language: str | None = None,
           overwrite: bool = False, backbone=None) -> Path:
    from borderless.features import backbone_key

    out = Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise OutputError(f"{out}: not empty; choose a new folder or pass --overwrite")
    clf = TrainedModel(run_dir, paradigm, backbone)
    try:
        if language is not None and language not in clf.files and not clf.shared:
            raise ModelError(f"no {clf.paradigm} model for {language}; this run trained {', '.join(clf.files)}")
        langs = [language] if language is not None else list(clf.files)
        one_model = clf.shared or len(langs) == 1
        out.mkdir(parents=True, exist_ok=True)
        served: dict[str, dict] = {}
        written: dict[str, str] = {}
        for lang in langs:
            rel = clf.files[lang] if lang in clf.files else next(iter(clf.files.values()))
            sub = "" if one_model else f"languages/{lang}"
            if rel not in written:
                _write_model(clf, rel, out / sub if sub else out)
                written[rel] = sub
            served[lang] = {"folder": written[rel] or ".", "kind": kept_states.load(clf.folder, rel)[1].get("kind", "tuned")}
        cfg, res = clf.cfg, clf.results
        metric = res.get("metric", "accuracy")
        manifest = {
            "format": FORMAT,
            "paradigm": clf.paradigm,
            "labels": clf.labels,
            "label_sets": {l: s for l, s in clf.label_sets.items() if l in langs},
            "languages": served,
            "shared": clf.shared,
            "reading": {"input_prefix": clf.backbone.input_prefix, "max_length": clf.max_length,
                        "template": cfg.method.template, "pooling": clf.classifier.pooling,
                        "classifier": cfg.method.classifier, "verbalizer": dict(cfg.method.verbalizer)},
            "backbone": {"name": cfg.backbone.name, "hub_id": HUB_IDS.get(cfg.backbone.name, cfg.backbone.name),
                         "dtype": cfg.backbone.dtype},
            "method": {"name": cfg.method.name, "num_virtual_tokens": cfg.method.num_virtual_tokens,
                       "trainable_parameters": res.get("method", {}).get("trainable_parameters")},
            "test_accuracy": {l: res["paradigms"][clf.paradigm]["test_accuracy"].get(l) for l in langs},
            "task": "token" if clf.token_task else "sentence",
            "metric": metric,
            **({f"test_{metric}": {l: res["paradigms"][clf.paradigm][f"test_{metric}"].get(l) for l in langs}}
               if metric != "accuracy" else {}),
            "source": {"run": str(Path(run_dir).resolve()), "seed": cfg.run.seed},
        }
    finally:
        clf.close()
    # the backbone as it was handed back (LoRA unloaded, full fine-tuning's weights restored): the key a
    # reader's bare backbone will have
    manifest["backbone"]["fingerprint"] = backbone_key(cfg.backbone.name, clf.backbone.model)
    atomic_files.write_text(out / MANIFEST, json.dumps(manifest, indent=2))
    shutil.copyfile(clf.folder / "config.toml", out / "config.toml")
    atomic_files.write_text(out / "README.md", model_card(manifest, res, cfg))
    return out


def _write_model(clf, rel: str, folder: Path) -> None:
    """One kept state as PEFT's adapter (or the whole encoder for full fine-tuning) plus head.safetensors."""
    from borderless.tuning.state import load_trainable_state

    state, meta = kept_states.load(clf.folder, rel)
    folder.mkdir(parents=True, exist_ok=True)
    if "head.weight" in state:
        atomic_files.save_safetensors({"weight": state["head.weight"], "bias": state["head.bias"]},
                                      folder / "head.safetensors", metadata={"kind": meta.get("kind", "tuned")})
    if meta.get("kind") == kept_states.PROBE:
        return  # the frozen backbone: nothing but the head
    load_trainable_state(clf.classifier, state)
    name = clf.cfg.method.name
    encoder = clf.classifier.encoder
    if name in PEFT_METHODS:
        for c in encoder.peft_config.values():
            c.base_model_name_or_path = HUB_IDS.get(clf.cfg.backbone.name, clf.cfg.backbone.name)
        # no trained embedding layer to save; and "auto" would ask the hub about the base model's vocabulary
        encoder.save_pretrained(str(folder), save_embedding_layers=False)
    elif name == "full":
        encoder.save_pretrained(str(folder))
    else:
        raise ModelError(f"method.name = {name!r}: nothing to export beyond the head")


def _pct(x) -> str:
    return "—" if x is None else f"{100 * x:.1f}"


def model_card(manifest: dict, res: dict, cfg) -> str:
    from borderless.report import majority_of, metric_name

    p = manifest["paradigm"]
    entry = res["paradigms"][p]
    metric = res.get("metric", "accuracy")
    key = "test_accuracy" if metric == "accuracy" else f"test_{metric}"
    probe = res.get("probes", {}).get(p, {}).get(key, {})
    majority = majority_of(res, metric)
    examples = res.get("examples", {})
    langs = list(manifest["languages"])
    token = manifest.get("task") == "token"
    rows = [f"| {l} | {examples.get(l, {}).get('train', '—')} | {_pct(entry[key].get(l))} | "
            f"{_pct(probe.get(l))} | {_pct(majority.get(l))} | {manifest['languages'][l]['kind']} |" for l in langs]
    mean = statistics.fmean(entry[key][l] for l in langs)
    lang0 = f"\"{langs[0]}\"" if langs else "None"
    use = (f"tagger.tag([\"the words of a sentence\"], language={lang0})  # [[(word, tag), ...]]" if token
           else f"clf.predict([\"...\"], language={lang0})")
    reading = ("take the last hidden state of each word's first sub-word (the words joined by spaces after the "
               "input prefix), then the linear head in `head.safetensors`" if token else
               "mean-pool the last hidden states of the real tokens, then the linear head in `head.safetensors`")
    dp = entry.get("privacy") or {}
    lines = [
        f"# borderless model: {cfg.method.name} on {manifest['backbone']['name']}, {p}",
        "",
        f"A {cfg.method.name} model trained by borderless ({p} paradigm, seed {cfg.run.seed}) on "
        f"{cfg.data.dataset} in {len(res['languages'])} languages; labels: {', '.join(manifest['labels'])}.",
        "",
        "## Use",
        "",
        "```python",
        "import borderless",
        ("tagger" if token else "clf") + " = borderless.load(\"MODEL_DIR\")",
        use,
        "```",
        "",
        "```bash",
        "borderless predict MODEL_DIR --input texts.tsv --language " + (langs[0] if langs else "LANG"),
        "```",
        "",
        f"With PEFT alone: `PeftModel.from_pretrained(AutoModel.from_pretrained(\"{manifest['backbone']['hub_id']}\"), "
        f"MODEL_DIR)`, {reading} (reading settings in `borderless_model.json`).",
        "",
        f"## Test {metric_name(res, metric)} (%)",
        "",
        f"| language | training sentences | this model | frozen-feature probe | "
        f"{'most frequent tag per word' if token else 'majority class'} | kind |",
        "|---|---|---|---|---|---|",
        *rows,
        f"| **mean** |  | **{_pct(mean)}** |  |  |  |",
        "",
        "## Training",
        "",
        f"- Backbone {manifest['backbone']['name']} (hub id `{manifest['backbone']['hub_id']}`), frozen; weight "
        f"fingerprint `{manifest['backbone']['fingerprint']}`.",
        f"- Method {cfg.method.name}: {manifest['method']['trainable_parameters']} trainable parameters.",
        f"- {cfg.federated.rounds} rounds × {cfg.train.local_steps} local steps × batch {cfg.train.batch_size}; "
        f"{entry.get('optimizer_steps', '—')} optimizer steps in all.",
        "- Differential privacy: " + (
            f"mechanism {dp['mechanism']}, the protected record is "
            f"{next(iter(dp['parties'].values()))['protects']}; **ε = {dp['epsilon']:.2f} at δ = {dp['delta']:g}** "
            f"({dp['accountant']} accountant, dp-accounting; the largest over "
            + ", ".join(f"{w} {g['epsilon']:.2f}" for w, g in dp["parties"].items()) + "). Dev and test splits are "
            "not protected (docs/privacy.md)." if dp.get("parties") else "none"),
        "",
        "## Licenses",
        "",
        f"- Backbone: {LICENSES.get(cfg.backbone.name, 'see the backbone’s own card')}",
        f"- Data: {LICENSES.get(cfg.data.dataset, 'see the dataset’s own card')}",
        "",
        "## Produced by",
        "",
        "```bash",
        f"borderless run config.toml   # the run's config, beside this card (seed {cfg.run.seed})",
        f"borderless export RUN_DIR -o MODEL_DIR --paradigm {p}",
        "```",
        "",
    ]
    return "\n".join(lines)
