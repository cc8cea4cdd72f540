"""A tiny, randomly initialised BERT with a byte-level tokenizer: covers every script, loads in
milliseconds, deterministic (fixed seed). For unit tests and smoke runs, not for accuracy."""

from __future__ import annotations

import torch

SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")


def build_tokenizer(model_max_length: int = 512, decoder: bool = False):
    """Byte-level BPE over every byte. ``decoder``: ``<s> $A`` like Gemma's (no end token, so a
    decoder's last real token is the text's own), else XLM-R's ``<s> $A </s>``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {tok: i for i, tok in enumerate(SPECIALS)}
    for ch in sorted(alphabet):
        vocab[ch] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A" if decoder else "<s> $A </s>", pair="<s> $A $B" if decoder else "<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", 0), ("</s>", 2)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
        unk_token="<unk>", cls_token="<s>", sep_token="</s>", model_max_length=model_max_length,
    )


def build(hidden: int = 32, layers: int = 2, seed: int = 0):
    from transformers import BertConfig, BertModel

    tokenizer = build_tokenizer()
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=layers,
        num_attention_heads=2, intermediate_size=hidden * 2, max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,
    )
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    model = BertModel(config, add_pooling_layer=False)
    torch.random.set_rng_state(generator_state)
    return model, tokenizer


def build_decoder(hidden: int = 32, layers: int = 2, seed: int = 0):
    """(base decoder, LM head tied to its embedding, tokenizer): a tiny Gemma-3, the same classes as
    ``gemma3-270m``, so every decoder code path runs in milliseconds."""
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    tokenizer = build_tokenizer(decoder=True)
    config = Gemma3TextConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2,
        num_key_value_heads=1, head_dim=16, intermediate_size=hidden * 2, max_position_embeddings=512,
        sliding_window=16, pad_token_id=tokenizer.pad_token_id, bos_token_id=0, eos_token_id=2,
        tie_word_embeddings=True,
    )
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    causal = Gemma3ForCausalLM(config)
    torch.random.set_rng_state(generator_state)
    causal.eval()
    return causal.model, causal.lm_head, tokenizer
