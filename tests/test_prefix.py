"""Deep prompts started from the backbone's own keys and values (method.prefix_init = "keys")."""

import pytest
import torch

from borderless.backbones.resolve import load_backbone
from borderless.config import ConfigError, MethodConfig, load_config
from borderless.tuning.factory import build_for
from borderless.tuning.prefix import key_value_projections

LABELS = ["sports", "health", "travel"]


def prefix_table(model):
    (table,) = [p for n, p in model.named_parameters() if p.requires_grad and "prompt_encoder" in n]
    return table.detach().clone()


def test_every_layer_starts_from_the_keys_and_values_the_backbone_computes(tmp_path):
    backbone = load_backbone("tiny-random", tmp_path)
    n = 4
    model = build_for(backbone, LABELS, MethodConfig(name="prefix", num_virtual_tokens=n, prefix_init="keys"), seed=3)
    cache = model.encoder.get_prompt(batch_size=1)  # what PEFT hands every attention layer
    # recompute independently: the virtual tokens are n vocabulary tokens (no special ones) sampled
    # with the seed and read as <s> tokens </s>; each layer's key / value projection of their states
    base = model.encoder.get_base_model()
    heads = base.config.num_attention_heads
    vocab = len(backbone.tokenizer)
    special = set(backbone.tokenizer.all_special_ids)
    pool_ids = torch.tensor([i for i in range(vocab) if i not in special])
    picks = pool_ids[torch.randperm(len(pool_ids), generator=torch.Generator().manual_seed(3))[:n]]
    ids = torch.cat([torch.tensor([backbone.tokenizer.cls_token_id]), picks, torch.tensor([backbone.tokenizer.sep_token_id])])
    with torch.no_grad():
        states = base(input_ids=ids[None], output_hidden_states=True).hidden_states
        for l, layer in enumerate(base.encoder.layer):
            attn = layer.attention.self
            key = attn.key(states[l])[0, 1 : 1 + n].view(n, heads, -1).transpose(0, 1)
            value = attn.value(states[l])[0, 1 : 1 + n].view(n, heads, -1).transpose(0, 1)
            assert torch.allclose(cache.layers[l].keys[0], key, atol=1e-5), f"layer {l} keys"
            assert torch.allclose(cache.layers[l].values[0], value, atol=1e-5), f"layer {l} values"


def test_keys_init_is_seeded_and_differs_from_peft_random(tmp_path):
    backbone = load_backbone("tiny-random", tmp_path)
    keys = MethodConfig(name="prefix", num_virtual_tokens=3, prefix_init="keys")
    a = prefix_table(build_for(backbone, LABELS, keys, seed=0))
    assert torch.equal(a, prefix_table(build_for(backbone, LABELS, keys, seed=0)))
    assert not torch.equal(a, prefix_table(build_for(backbone, LABELS, keys, seed=1)))
    random = prefix_table(build_for(backbone, LABELS, MethodConfig(name="prefix", num_virtual_tokens=3), seed=0))
    assert not torch.allclose(a, random)
    # the backbone itself is untouched by reading it
    before = {k: v.clone() for k, v in backbone.model.state_dict().items()}
    build_for(backbone, LABELS, keys, seed=2)
    assert all(torch.equal(before[k], v) for k, v in backbone.model.state_dict().items())


def test_a_backbone_without_key_value_linears_gets_a_clear_error(tmp_path):
    decoder = load_backbone("tiny-random-decoder", tmp_path)
    with pytest.raises(ValueError, match='prefix_init = "keys".*prefix_init = "random"'):
        key_value_projections(decoder.model)


def test_an_unknown_prefix_init_names_the_key(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[method]\nname = "prefix"\nprefix_init = "zeros"\n')
    with pytest.raises(ConfigError, match="method.prefix_init"):
        load_config(path)
