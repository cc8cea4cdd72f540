import pytest
import torch

from borderless.backbones import tiny_random
from borderless.backbones.resolve import load_backbone


def test_tiny_random_is_deterministic_and_frozen(tmp_path):
    a = load_backbone("tiny-random", tmp_path)
    b = load_backbone("tiny-random", tmp_path)
    assert all(torch.equal(x, y) for x, y in zip(a.model.state_dict().values(), b.model.state_dict().values()))
    assert not any(p.requires_grad for p in a.model.parameters()) and not a.model.training


def test_byte_tokenizer_covers_every_script():
    tok = tiny_random.build_tokenizer()
    for text in ("hello", "ሰላም", "नमस्ते", "مرحبا", "你好"):
        ids = tok(text)["input_ids"]
        assert tok.unk_token_id not in ids and ids[0] == tok.bos_token_id and ids[-1] == tok.eos_token_id
        assert tok.decode(ids, skip_special_tokens=True) == text


def test_local_folder_backbone(tmp_path):
    model, tok = tiny_random.build()
    model.save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    b = load_backbone(str(tmp_path / "m"), tmp_path, input_prefix="query: ")
    assert b.input_prefix == "query: " and b.hidden_size == model.config.hidden_size
    assert all(torch.equal(x, y) for x, y in zip(model.state_dict().values(), b.model.state_dict().values()))


def test_unknown_backbone_names_fail_at_once(tmp_path):
    with pytest.raises(ValueError, match="did you mean 'e5-small'"):
        load_backbone("e5-smal", tmp_path)
    with pytest.raises(ValueError, match="no such folder"):
        load_backbone(str(tmp_path / "missing-model"), tmp_path)
