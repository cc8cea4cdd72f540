"""How well the backbone's tokenizer covers each language: the decoder study tied prompt tuning's
benefit to tokenization, so every report carries these next to the accuracies."""

from __future__ import annotations


def tokenizer_stats(tokenizer, texts: list[str]) -> dict[str, float]:
    """tokens per whitespace word, % unknown pieces, % single-character pieces (fragmentation;
    the XLM-R SentencePiece vocabulary has no byte fallback, so characters it lacks become <unk>),
    % byte pieces (Gemma's byte fallback: ``<0xE1>`` pieces spell a character its vocabulary lacks)."""
    words = sum(len(t.split()) for t in texts)
    unk_id = tokenizer.unk_token_id
    special = set(tokenizer.all_special_ids)
    pieces = unk = single = byte = 0
    for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]:
        for i in ids:
            if i in special and i != unk_id:
                continue
            pieces += 1
            piece = tokenizer.convert_ids_to_tokens(i)
            if i == unk_id:
                unk += 1
            elif len(piece) == 6 and piece.startswith("<0x") and piece.endswith(">"):
                byte += 1
            elif len(piece.lstrip("▁")) == 1:
                single += 1
    return {
        "tokens_per_word": pieces / max(1, words),
        "unk_percent": 100.0 * unk / max(1, pieces),
        "single_char_percent": 100.0 * single / max(1, pieces),
        "byte_percent": 100.0 * byte / max(1, pieces),
        "sentences": float(len(texts)),
    }
