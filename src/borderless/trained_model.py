"""A finished run's models in a user's hands: load a results folder and classify new text (issue 44).

    clf = borderless.load("results/demo-20261202-154619")          # the federated model by default
    clf.predict(["Le match a fini 2-1."])                              # labels
    clf.predict_proba(["..."], language="hau_Latn")                   # {label: probability} per text
    clf = borderless.load(run_dir, paradigm="federated_personal")     # one model per language
    tagger = borderless.load(ner_run)                                  # a token task (NER, POS)
    tagger.tag(["Musa ya je Kano"], language="hau")                    # [[("Musa", "B-PER"), ...]]

One frozen backbone in memory, however many languages' states are used: a language's kept state
(``borderless.kept_states``; a few kB for a soft prompt and head) is loaded into the one classifier
when that language is asked for. A state that dev selection replaced by the frozen-feature probe is
that probe's head on the backbone's own pooled features, as the run tested it. Texts are read exactly
as the run read them (the backbone's input prefix, ``method.template``, ``backbone.max_length``), and
a language with fewer labels than the run (MasakhaNEWS) is only ever given its own.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from borderless import kept_states
from borderless.config import Config, load_config
from borderless.data.types import Example
from borderless.errors import ModelError


LEGACY_FEDERATED = "federated_state.safetensors"
MANIFEST = "borderless_model.json"  # what marks a folder written by borderless export
PEFT_METHODS = ("prompt", "p_tuning", "prefix", "lora")  # exported in PEFT's own adapter format


class TrainedModel:
    """A run's models of one paradigm. ``backbone``: one already loaded (else the run's is loaded)."""

    def __init__(self, folder: str | Path, paradigm: str | None = None, backbone=None):
        self.folder = Path(folder)
        self.exported = (self.folder / MANIFEST).exists()
        if self.exported:  # a folder written by borderless export
            self.manifest = _json(self.folder / MANIFEST, "the model folder's manifest")
            if paradigm is not None and paradigm != self.manifest["paradigm"]:
                raise ModelError(f"{self.folder}: an exported {self.manifest['paradigm']} model, not {paradigm}; "
                                 "export that paradigm from its run folder (borderless export RUN_DIR --paradigm P)")
            self.paradigm = self.manifest["paradigm"]
            self.files = {l: v["folder"] for l, v in self.manifest["languages"].items()}
            self.labels = list(self.manifest["labels"])
            self.label_sets = dict(self.manifest.get("label_sets") or {})
        else:
            self.results = _results(self.folder)
            models = self.results.get("models") or _legacy_models(self.folder, self.results)
            if not models:
                raise ModelError(f"{self.folder}: this run kept no models (it was made before borderless kept them, "
                                 "with run.keep_states = false, or with method.name = \"head\"); rerun it with "
                                 "today's borderless to get them")
            if paradigm is None:
                paradigm = "federated" if "federated" in models else next(iter(models))
            if paradigm not in models:
                raise ModelError(f"{self.folder}: no {paradigm} models in this run; it kept: {', '.join(models)}")
            self.paradigm = paradigm
            self.files = dict(models[paradigm])
            self.labels = list(self.results["labels"])
            self.label_sets = dict(self.results.get("data", {}).get("label_sets") or {})
        config = self.folder / "config.toml"
        if not config.exists():
            raise ModelError(f"{config}: missing; a run folder and an exported model both keep the run's config there "
                             "(export the model again from its run folder)")
        self.cfg: Config = load_config(config)
        from borderless.config import token_task

        self.token_task = token_task(self.cfg.data)  # a tagger: a tag per word (tag(), not predict())
        from borderless.backbones.resolve import load_configured
        from borderless.tuning.factory import build_for

        self.backbone = backbone if backbone is not None else load_configured(self.cfg.backbone)
        if self.exported:  # before the classifier is built: LoRA's layers would change the weights' key
            _check_fingerprint(self.folder, self.manifest, self.backbone)
        self.classifier = build_for(self.backbone, self.labels, self.cfg.method, self.cfg.run.seed, self.token_task)
        self.classifier.eval()
        self._original = (trainable_copy(self.classifier) if self.cfg.method.name == "full" else None)
        self._states: dict[str, tuple[dict, dict]] = {}
        self.max_length = min(self.cfg.backbone.max_length, self.backbone.model.config.max_position_embeddings
                              - self.cfg.method.num_virtual_tokens)

    # --- what a caller sees ---
    @property
    def languages(self) -> list[str]:
        return list(self.files)

    @property
    def shared(self) -> bool:
        """One model for every language (centralized, federated) rather than one per language."""
        return len(set(self.files.values())) == 1

    def predict(self, texts: list[str], language: str | None = None, text_pairs: list[str] | None = None,
                batch_size: int = 64) -> list[str]:
        return [max(p, key=p.get) for p in self.predict_proba(texts, language, text_pairs, batch_size)]

    def predict_proba(self, texts: list[str], language: str | None = None, text_pairs: list[str] | None = None,
                      batch_size: int = 64) -> list[dict[str, float]]:
        probs = self.probabilities(texts, language, text_pairs, batch_size)
        own = self._allowed(language) or range(len(self.labels))  # a language's own labels only
        return [{self.labels[j]: float(row[j]) for j in own} for row in probs]

    def probabilities(self, texts: list[str], language: str | None = None, text_pairs: list[str] | None = None,
                      batch_size: int = 64) -> torch.Tensor:
        """(len(texts), number of labels) probabilities; a language's missing labels get 0."""
        if self.token_task:
            raise ModelError(f"{self.folder}: a tagger (a tag per word, {self.cfg.data.dataset}); tag the words with "
                             ".tag(texts) or .tag_proba(texts), not .predict()")
        if isinstance(texts, str):
            raise ModelError("texts: a list of strings, not one string (wrap it: [text])")
        if text_pairs is not None and len(text_pairs) != len(texts):
            raise ModelError(f"text_pairs: {len(text_pairs)} given for {len(texts)} texts; give one per text")
        if not len(texts):
            return torch.zeros(0, len(self.labels))
        return torch.softmax(self.logits(texts, language, text_pairs, batch_size), dim=-1)

    def logits(self, texts: list[str], language: str | None = None, text_pairs: list[str] | None = None,
               batch_size: int = 64) -> torch.Tensor:
        from borderless.train import restrict, tokenize

        state, meta = self._state_for(language)
        allowed = self._allowed(language)
        examples = [Example(f"input/{i}", t.strip(), 0, language or "",  # stripped, as the data reader does
                            None if text_pairs is None else text_pairs[i].strip()) for i, t in enumerate(texts)]
        # as runner.text_template: unset, a decoder reads a pair as "text\ntext_pair"
        template = self.cfg.method.template or ("{text}\n{text_pair}" if self.backbone.kind == "decoder"
                                                and text_pairs is not None else "")
        data = tokenize(examples, self.backbone.tokenizer, self.max_length, self.backbone.input_prefix, allowed, template)
        probe = meta.get("kind") == kept_states.PROBE
        out = torch.zeros(len(texts), len(self.labels))
        order = sorted(range(len(data)), key=lambda i: len(data.input_ids[i]))  # as the run evaluated: by length
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                ids, mask, _ = data.collate(idx)
                logits = self._frozen_logits(state, ids, mask) if probe else self.classifier(ids, mask)
                out[idx] = restrict(logits.float(), data.label_mask(idx, logits.shape[-1]))
        return out

    def tag(self, sentences: list, language: str | None = None, batch_size: int = 64) -> list[list[tuple[str, str | None]]]:
        """Each sentence's words with their tags: ``[[("Musa", "B-PER"), ("ya", "O"), ...], ...]``. A
        sentence is a string (split on whitespace, as a CoNLL file's words) or a list of words. A word
        past ``backbone.max_length`` was not read: its tag is None (the run counted such words as cut)."""
        return [[(w, max(p, key=p.get) if p else None) for w, p in zip(words, probs)]
                for words, probs in self.tag_proba(sentences, language, batch_size)]

    def tag_proba(self, sentences: list, language: str | None = None,
                  batch_size: int = 64) -> list[tuple[list[str], list[dict[str, float]]]]:
        """Each sentence's words and, per word, {tag: probability} (empty for a word past max_length)."""
        from borderless.token_alignment import tokenize_words

        if not self.token_task:
            raise ModelError(f"{self.folder}: a sentence classifier ({self.cfg.data.dataset}); use .predict(texts)")
        if isinstance(sentences, str):
            raise ModelError("sentences: a list (of strings or of word lists), not one string (wrap it: [text])")
        words = [_words(s, i) for i, s in enumerate(sentences)]
        examples = [Example(f"input/{i}", " ".join(w), 0, language or "", words=tuple(w), tags=(0,) * len(w))
                    for i, w in enumerate(words)]
        state, meta = self._state_for(language)
        data = tokenize_words(examples, self.backbone.tokenizer, self.max_length, self.backbone.input_prefix,
                              tuple(self.labels))
        probe = meta.get("kind") == kept_states.PROBE
        out: list[list[dict[str, float]]] = [[{} for _ in w] for w in words]
        order = sorted(range(len(data)), key=lambda i: len(data.input_ids[i]))
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                ids, mask, _ = data.collate(idx)
                logits = self._frozen_logits(state, ids, mask) if probe else self.classifier(ids, mask)
                probs = torch.softmax(logits.float(), dim=-1)
                for row, i in enumerate(idx):  # words are kept in order; a cut sentence loses its last ones
                    for k, pos in enumerate(data.word_starts[i]):
                        out[i][k] = {name: float(v) for name, v in zip(self.labels, probs[row, int(pos)].tolist())}
        return list(zip(words, out))

    def serve_kept_file(self, rel: str) -> None:
        """Serve every language from the kept state ``rel`` (relative to the run folder) from now on: the
        audit's server view scores each round's start and each client's update (``run.keep_updates``)."""
        if self.exported:
            raise ModelError(f"{self.folder}: an exported model has no kept states; use its run folder")
        self.files = {lang: rel for lang in self.files}

    def close(self) -> None:
        """Give the backbone back as it was (LoRA layers unloaded, full fine-tuning's weights restored)."""
        self.classifier.release()

    # --- internals ---
    def _allowed(self, language: str | None) -> tuple[int, ...] | None:
        names = self.label_sets.get(language or "")
        return None if not names else tuple(self.labels.index(n) for n in names)

    def _state_for(self, language: str | None) -> tuple[dict, dict]:
        if language is not None and language in self.files:
            rel = self.files[language]
        elif self.shared:
            rel = next(iter(self.files.values()))
        elif language is None:
            raise ModelError(f"{self.paradigm} has one model per language; choose one with language= "
                             f"(--language): {', '.join(self.files)}")
        else:
            raise ModelError(f"no {self.paradigm} model for {language}; this run trained {', '.join(self.files)}"
                             " (a shared paradigm, e.g. federated, serves any language)")
        if rel not in self._states:
            self._states[rel] = self._read_exported(rel) if self.exported else kept_states.load(self.folder, rel)
        state, meta = self._states[rel]
        if meta.get("kind") != kept_states.PROBE:
            from borderless.tuning.state import load_trainable_state

            load_trainable_state(self.classifier, state)
        return state, meta

    def _read_exported(self, sub: str) -> tuple[dict, dict]:
        """An exported model's state in the run's own names: PEFT's adapter (or the whole encoder) and
        the head are loaded into the classifier with PEFT's / torch's own loaders, then read back."""
        from safetensors.torch import load_file

        from borderless.tuning.state import load_trainable_state, trainable_state

        folder = self.folder / sub
        kind = self.manifest["languages"][next(l for l, v in self.manifest["languages"].items() if v["folder"] == sub)]["kind"]
        need = ["head.safetensors"] if self.cfg.method.classifier == "head" else []
        if kind != kept_states.PROBE:
            need += (["adapter_config.json", "adapter_model.safetensors"] if self.cfg.method.name in PEFT_METHODS
                     else ["config.json", "model.safetensors"])
        missing = [n for n in need if not (folder / n).exists()]
        if missing:
            raise ModelError(f"{folder}: incomplete model folder, missing {', '.join(missing)}; export it again "
                             "(borderless export RUN_DIR -o MODEL_DIR --overwrite)")
        try:
            head = load_file(str(folder / "head.safetensors")) if need and need[0] == "head.safetensors" else {}
            if kind == kept_states.PROBE:
                return {"head.weight": head["weight"], "head.bias": head["bias"]}, {"kind": kept_states.PROBE}
            if self.cfg.method.name in PEFT_METHODS:
                from peft import set_peft_model_state_dict

                set_peft_model_state_dict(self.classifier.encoder, load_file(str(folder / "adapter_model.safetensors")))
            else:  # full fine-tuning: the whole encoder
                self.classifier.encoder.load_state_dict(load_file(str(folder / "model.safetensors")), strict=False)
            if head:
                with torch.no_grad():
                    self.classifier.head.weight.copy_(head["weight"])
                    self.classifier.head.bias.copy_(head["bias"])
        except Exception as e:  # noqa: BLE001 - safetensors' and PEFT's own errors for a damaged file
            raise ModelError(f"{folder}: damaged model files ({type(e).__name__}: {e}); export it again "
                             "(borderless export RUN_DIR -o MODEL_DIR --overwrite)") from None
        state = trainable_state(self.classifier)
        if self._original is not None:
            load_trainable_state(self.classifier, self._original)
        return state, {"kind": kept_states.TUNED}

    def _frozen_logits(self, head: dict, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The frozen-feature probe: its head on the backbone's own pooled output, the method switched off."""
        from contextlib import nullcontext

        from borderless.backbones.precision import running_in
        from borderless.tuning.classifier import pool
        from borderless.tuning.state import load_trainable_state

        encoder = self.classifier.encoder
        if self._original is not None:  # full fine-tuning: the original weights, for this batch
            load_trainable_state(self.classifier, self._original)
        off = encoder.disable_adapter() if self.cfg.method.name == "lora" else nullcontext()
        with off, running_in(self.classifier.compute_dtype, ids.device.type):
            hidden = self.backbone.model(input_ids=ids, attention_mask=mask).last_hidden_state
        pooled = pool(hidden.float(), mask, self.classifier.pooling)
        return torch.nn.functional.linear(pooled, head["head.weight"].float(), head["head.bias"].float())


def _words(sentence, index: int) -> list[str]:
    if isinstance(sentence, str):
        words = sentence.split()
    elif isinstance(sentence, (list, tuple)) and all(isinstance(w, str) for w in sentence):
        words = [w.strip() for w in sentence]
    else:
        raise ModelError(f"sentences[{index}]: a string or a list of words (strings), not {type(sentence).__name__}")
    if not words or any(not w or any(c.isspace() for c in w) for w in words):
        raise ModelError(f"sentences[{index}]: {'no words' if not words else 'a word that is empty or holds a space'}; "
                         "give the sentence's words (a string is split on whitespace)")
    return words


def trainable_copy(classifier) -> dict:
    from borderless.tuning.state import trainable_state

    return trainable_state(classifier)


def _legacy_models(folder: Path, results: dict) -> dict:
    """Runs made before every model was kept left the federated global state alone, as
    ``federated_state.safetensors``: usable where the run reported that state (not its probe)."""
    fed = results.get("paradigms", {}).get("federated", {})
    if not (folder / LEGACY_FEDERATED).exists() or "probe" in (fed.get("chosen_on_dev") or {}).values():
        return {}
    return {"federated": {lang: LEGACY_FEDERATED for lang in results["languages"]}}


def _json(path: Path, what: str) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelError(f"{path}: {what} is not readable JSON ({e}); write it again") from None


def _check_fingerprint(folder: Path, manifest: dict, backbone) -> None:
    from borderless.features import backbone_key

    want = manifest.get("backbone", {}).get("fingerprint")
    have = backbone_key(manifest["backbone"]["name"], backbone.model)
    if want != have:
        raise ModelError(f"{folder}: exported for backbone weights {want}, but the loaded backbone is {have}; "
                         "load it with the backbone it was trained on (backbone.name in its config.toml)")


def _results(folder: Path) -> dict:
    path = folder / "results.json"
    if not path.exists():
        hint = (" (a checkpoint is there: the run did not finish; continue it with borderless run --resume "
                f"{folder})" if (folder / "checkpoint.pt").exists() else "")
        raise ModelError(f"{folder}: no results.json, so not a finished borderless run{hint}")
    return _json(path, "the run's results file")


def load(path: str | Path, paradigm: str | None = None, backbone=None) -> TrainedModel:
    """A finished run's models (``TrainedModel``); ``paradigm`` defaults to federated."""
    return TrainedModel(path, paradigm, backbone)
