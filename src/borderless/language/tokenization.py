"""How well the backbone's tokenizer covers each language: the decoder study tied prompt tuning's
benefit to tokenization, so every report carries these next to the accuracies."""

from __future__ import annotations


def tokenizer_stats(tokenizer, texts: list[str]) -> dict[str, float]:
    """tokens per whitespace word, % unknown pieces, % single-character pieces (fragmentation;
    the XLM-R SentencePiece vocabulary has no byte fallback, so characters it lacks become <unk>),
    % byte pieces (Gemma's byte fallback: ``<0xE1>`` pieces spell a character its vocabulary lacks),
    and tokens per sentence (the numerator of ``parity``: tokens per word cannot compare languages that
    write no spaces between words, Thai and Chinese)."""
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
        "tokens_per_sentence": pieces / max(1, len(texts)),
        "sentences": float(len(texts)),
    }


def stats_by_language(tokenizer, data: dict, languages) -> dict[str, dict[str, float]]:
    """``tokenizer_stats`` of each language's test texts (``data``: language → LanguageData), as every
    run records them in its results.json."""
    return {l: tokenizer_stats(tokenizer, [ex.text for ex in data[l].test]) for l in languages}


REFERENCES = ("eng_Latn", "en", "eng")  # English as SIB-200 / Flores, XNLI and ISO 639-3 spell it


def reference_language(languages) -> str | None:
    """English under whichever code the dataset gives it, else None."""
    return next((code for code in REFERENCES if code in languages), None)


def parity(stats: dict[str, dict[str, float]], reference: str) -> dict[str, float]:
    """Each language's tokens per sentence over ``reference``'s (tokenizer parity, Petrov et al. 2023):
    how many more tokens the same content costs in that language. Meaningful only on parallel text
    (SIB-200/Flores sentences and XNLI pairs are translations of one another); 1.0 for the reference."""
    if reference not in stats:
        raise KeyError(f"parity: the reference language {reference!r} has no tokenizer statistics; have {sorted(stats)}")
    missing = [l for l, s in stats.items() if "tokens_per_sentence" not in s]
    if missing:
        raise KeyError(f"parity: {missing} have no tokens_per_sentence (results written before it was recorded); "
                       "recompute the statistics with tokenizer_stats")
    base = stats[reference]["tokens_per_sentence"]
    return {l: s["tokens_per_sentence"] / base for l, s in stats.items()}
