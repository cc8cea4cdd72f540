"""Word tags to sub-word positions: a token task's sentence as the backbone reads it.

The words are joined by single spaces after the backbone's input prefix and tokenized as one text
(the same ids a sentence task would read), with the tokenizer's character offsets. A word's tag sits on
its first sub-word: the first token whose characters overlap the word's. Every other position (later
sub-words, a lone space token, the prefix, special tokens, a prompt's virtual tokens, padding) carries no
label: it is neither trained on nor scored. Tokenizing the words one by one (``is_split_into_words``)
would change the ids on SentencePiece decoders (Gemma drops the spaces between words).

Truncation to ``max_length`` cuts the sentence's end; a word whose first sub-word is cut is neither
trained on nor scored, and is counted (``AlignmentCounts``), so the report can say how many words
``max_length`` lost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from borderless.data.types import Example
from borderless.train import TokenizedSet


@dataclass
class AlignmentCounts:
    sentences: int = 0
    words: int = 0
    cut_words: int = 0  # words whose first sub-word fell past max_length
    cut_sentences: int = 0


def first_subwords(offsets: list[tuple[int, int]], spans: list[tuple[int, int]]) -> list[int]:
    """For each word span [start, end) (characters), the index of its first overlapping token, or -1
    when no token overlaps it (cut by truncation)."""
    first = [-1] * len(spans)
    w = 0
    for j, (s, e) in enumerate(offsets):
        if e <= s:
            continue  # special tokens
        while w < len(spans) and spans[w][1] <= s:
            w += 1
        k = w
        while k < len(spans) and spans[k][0] < e:  # a token may cover the end of one word and the next
            if first[k] < 0 and spans[k][1] > s:
                first[k] = j
            k += 1
    return first


def tokenize_words(examples: list[Example], tokenizer, max_length: int, prefix: str, label_names: tuple[str, ...],
                   counts: AlignmentCounts | None = None) -> TokenizedSet:
    """Token ids of each sentence with its words' first sub-word positions and tags."""
    ids, starts, tags = [], [], []
    for ex in examples:
        text, spans, pos = prefix, [], len(prefix)
        for k, word in enumerate(ex.words):
            if k:
                text += " "
                pos += 1
            spans.append((pos, pos + len(word)))
            text += word
            pos += len(word)
        enc = tokenizer(text, truncation=True, max_length=max_length, return_offsets_mapping=True)
        first = first_subwords([tuple(o) for o in enc["offset_mapping"]], spans)
        kept = [k for k, j in enumerate(first) if j >= 0]
        ids.append(enc["input_ids"])
        starts.append(np.asarray([first[k] for k in kept], dtype=np.int64))
        tags.append(np.asarray([ex.tags[k] for k in kept], dtype=np.int64))
        if counts is not None:
            counts.sentences += 1
            counts.words += len(ex.words)
            counts.cut_words += len(ex.words) - len(kept)
            counts.cut_sentences += len(kept) < len(ex.words)
    return TokenizedSet(ids, [0] * len(examples), [ex.uid for ex in examples], tokenizer.pad_token_id, None,
                        starts, tags, tuple(label_names))
