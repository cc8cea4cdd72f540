"""Word tags onto sub-words: the first sub-word of each word, the same ids as the joined text, the
other positions IGNORE, truncation counted; the most-frequent-tag baseline."""

from pathlib import Path

import numpy as np
import pytest
import torch

from borderless.backbones.resolve import load_backbone
from borderless.data.types import Example
from borderless.token_alignment import AlignmentCounts, first_subwords, tokenize_words
from borderless.token_baseline import MostFrequentTag, baseline_scores
from borderless.train import IGNORE

NAMES = ("B-LOC", "B-PER", "I-PER", "O")


def ex(words, tags, uid="x/1"):
    return Example(uid, " ".join(words), 0, "x", words=tuple(words), tags=tuple(tags))


def test_first_subwords_by_character_overlap():
    # "ab cd": tokens [special], "ab" split as "a" "b", a lone space, then " cd" (space included)
    offsets = [(0, 0), (0, 1), (1, 2), (2, 2), (2, 5)]
    assert first_subwords(offsets, [(0, 2), (3, 5)]) == [1, 4]
    assert first_subwords([(0, 0), (0, 2)], [(0, 2), (3, 5)]) == [1, -1]  # the second word was cut


@pytest.fixture(scope="module")
def tiny():
    return load_backbone("tiny-random", Path("."))


def test_tags_sit_on_first_subwords_of_the_joined_text(tiny):
    sent = ex(["Musa", "ya", "je", "Kano"], [1, 3, 3, 0])
    data = tokenize_words([sent], tiny.tokenizer, 64, "", NAMES)
    assert list(data.input_ids[0]) == tiny.tokenizer("Musa ya je Kano")["input_ids"]  # the text a sentence task reads
    toks = tiny.tokenizer.convert_ids_to_tokens(list(data.input_ids[0]))
    assert [toks[p] for p in data.word_starts[0]] == ["M", "y", "j", "K"]
    ids, mask, labels = data.collate([0])
    assert labels.shape == ids.shape
    assert labels[0, torch.from_numpy(data.word_starts[0])].tolist() == [1, 3, 3, 0]
    assert int((labels != IGNORE).sum()) == 4  # every other position (later sub-words, spaces, specials) ignored


def test_truncation_is_counted_and_cut_words_are_not_labelled(tiny):
    counts = AlignmentCounts()
    sent = ex(["aaaa", "bbbb", "cccc", "dddd"], [3, 3, 1, 2])
    data = tokenize_words([sent, ex(["a"], [3])], tiny.tokenizer, 8, "", NAMES, counts)
    assert len(data.input_ids[0]) == 8 and list(data.tags[0]) == [3, 3]  # <s> aaaa Ġ b b b + </s>
    assert (counts.sentences, counts.words, counts.cut_words, counts.cut_sentences) == (2, 5, 2, 1)


def test_the_prefix_carries_no_label(tiny):
    data = tokenize_words([ex(["Kano"], [0])], tiny.tokenizer, 64, "passage: ", NAMES)
    toks = tiny.tokenizer.convert_ids_to_tokens(list(data.input_ids[0]))
    assert len(data.word_starts[0]) == 1 and toks[data.word_starts[0][0]] == "K"


def test_most_frequent_tag_per_word_with_overall_fallback():
    train = [ex(["Kano", "ya"], [0, 3]), ex(["Kano", "Musa"], [0, 1]), ex(["Musa"], [2])]
    model = MostFrequentTag(train)
    assert list(model.predict(["Kano", "Musa", "unseen"])) == [0, 1, 0]  # Musa: tie 1/2 -> smaller; unseen: overall 0
    test = [ex(["Kano", "ya", "unseen"], [0, 3, 1])]
    out = baseline_scores(train, test, [np.array([0, 3])], NAMES)  # only the two kept words are scored
    assert out["accuracy"] == 1.0 and out["words"] == 2
