import pytest

from borderless.language.tokenization import parity, reference_language, tokenizer_stats


def test_tokens_per_sentence_counts_pieces(tiny_backbone):
    # the tiny tokenizer is byte-level: "ab cd" is 5 pieces, "ሀገር" 9 (three 3-byte characters)
    stats = tokenizer_stats(tiny_backbone.tokenizer, ["ab cd", "ሀገር"])
    assert stats["tokens_per_sentence"] == pytest.approx(7.0)
    assert stats["tokens_per_word"] == pytest.approx(14 / 3)


def test_parity_is_tokens_per_sentence_over_the_reference(tiny_backbone):
    tok = tiny_backbone.tokenizer
    stats = {"en": tokenizer_stats(tok, ["ab cd", "abc"]),  # 5 and 3 pieces: 4 a sentence
             "th": tokenizer_stats(tok, ["ሀገርከ", "ሀገር"])}  # 12 and 9 pieces, no spaces: 10.5 a sentence
    got = parity(stats, "en")
    assert got == pytest.approx({"en": 1.0, "th": 10.5 / 4})
    # tokens per word would rank the unspaced language by its sentence length, parity by its cost
    assert stats["th"]["tokens_per_word"] == pytest.approx(10.5)


def test_parity_names_what_is_missing(tiny_backbone):
    stats = {"en": tokenizer_stats(tiny_backbone.tokenizer, ["ab"])}
    with pytest.raises(KeyError, match="'eng_Latn'"):
        parity(stats, "eng_Latn")
    stats["sw"] = {"tokens_per_word": 2.0}  # a results.json written before tokens_per_sentence
    with pytest.raises(KeyError, match=r"\['sw'\].*tokens_per_sentence"):
        parity(stats, "en")


def test_reference_language_finds_english_under_each_dataset_code():
    assert reference_language(["fra_Latn", "eng_Latn"]) == "eng_Latn"
    assert reference_language(["ar", "en", "zh"]) == "en"
    assert reference_language(["hau", "yor"]) is None
