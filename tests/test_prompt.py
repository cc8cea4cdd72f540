import pytest
import torch

from borderless.config import MethodConfig, TrainConfig
from borderless.train import BatchStream, make_optimizer, tokenize, train_steps
from borderless.tuning.prompt import build_prompt_classifier
from borderless.tuning.state import load_trainable_state, state_num_params, trainable_state
from borderless.data.types import Example


def fresh_model(backbone, n=4, seed=0, init="vocab"):
    return build_prompt_classifier(backbone.model, backbone.hidden_size, 7, MethodConfig(num_virtual_tokens=n, prompt_init=init), seed)


def examples(n=24):
    return [Example(f"x/{i}", f"sentence number {i} " * (1 + i % 5), i % 7, "x") for i in range(n)]


def test_trainable_state_is_exactly_requires_grad(tiny_backbone):
    model = fresh_model(tiny_backbone)
    state = trainable_state(model)
    grads = {n for n, p in model.named_parameters() if p.requires_grad}
    assert set(state) == grads
    assert set(state) == {"encoder.prompt_encoder.default.embedding.weight", "head.weight", "head.bias"}
    h = tiny_backbone.hidden_size
    assert state_num_params(state) == 4 * h + 7 * h + 7
    assert not any(p.requires_grad for p in tiny_backbone.model.parameters())


def test_prompt_initialised_from_vocabulary(tiny_backbone):
    model = fresh_model(tiny_backbone, n=5, init="vocab")
    prompt = trainable_state(model)["encoder.prompt_encoder.default.embedding.weight"]
    vocab = tiny_backbone.model.get_input_embeddings().weight
    for row in prompt:  # every virtual token starts as some real token's embedding
        assert (vocab == row).all(dim=1).any()


def test_backbone_bit_identical_after_training_and_prompt_changes(tiny_backbone):
    before = {k: v.clone() for k, v in tiny_backbone.model.state_dict().items()}
    model = fresh_model(tiny_backbone)
    init = trainable_state(model)
    data = tokenize(examples(), tiny_backbone.tokenizer, 64)
    opt = make_optimizer(model, TrainConfig(lr=0.05), model.head_parameter_names())
    train_steps(model, BatchStream(data, 4, 0), 5, opt)
    after = trainable_state(model)
    for k, v in tiny_backbone.model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert all(not torch.equal(after[k], init[k]) for k in init), "every trainable tensor should move"


def test_state_round_trips_exactly(tiny_backbone):
    model = fresh_model(tiny_backbone, seed=1).eval()  # no dropout: outputs comparable
    other = {k: torch.randn_like(v) for k, v in trainable_state(model).items()}
    load_trainable_state(model, other)
    back = trainable_state(model)
    assert all(torch.equal(back[k], other[k]) for k in other)
    ids = torch.tensor([[0, 5, 6, 2]])
    mask = torch.ones_like(ids)
    out1 = model(ids, mask)
    load_trainable_state(model, back)
    assert torch.equal(model(ids, mask), out1)


def test_load_rejects_wrong_keys_and_shapes(tiny_backbone):
    import pytest

    model = fresh_model(tiny_backbone)
    state = trainable_state(model)
    with pytest.raises(KeyError, match="missing"):
        load_trainable_state(model, {k: v for k, v in state.items() if k != "head.bias"})
    with pytest.raises(ValueError, match="head.bias"):
        load_trainable_state(model, {**state, "head.bias": torch.zeros(3)})


def test_same_seed_same_init(tiny_backbone):
    a = trainable_state(fresh_model(tiny_backbone, seed=3))
    b = trainable_state(fresh_model(tiny_backbone, seed=3))
    c = trainable_state(fresh_model(tiny_backbone, seed=4))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["head.weight"], c["head.weight"])


@pytest.mark.parametrize("name", ["tiny-random", "tiny-random-decoder"])
def test_label_init_starts_each_virtual_token_at_a_label_words_embedding(tmp_path, name):
    from borderless.backbones.resolve import load_backbone
    from borderless.tuning.factory import build_for, label_init_tokens

    backbone = load_backbone(name, tmp_path)
    labels = ["sports", "health", "travel"]
    cfg = MethodConfig(name="prompt", num_virtual_tokens=5, prompt_init="labels")
    ids = label_init_tokens(backbone.tokenizer, labels, cfg)
    assert len(ids) == 5
    words = [t for w in (" sports", " health", " travel") for t in backbone.tokenizer(w, add_special_tokens=False)["input_ids"]]
    assert ids == [words[i % len(words)] for i in range(5)]
    model = build_for(backbone, labels, cfg, seed=0)
    (prompt,) = [p for n, p in model.named_parameters() if p.requires_grad and "prompt_encoder" in n]
    embedding = backbone.model.get_input_embeddings()
    # what the backbone itself feeds its layers for those tokens (Gemma scales its embeddings)
    expected = embedding(torch.tensor(ids)).float()
    assert torch.allclose(prompt.detach(), expected, atol=1e-6)
    # a different seed starts from the same prompt, unlike the sampled-vocabulary init
    other = build_for(backbone, labels, cfg, seed=7)
    (prompt7,) = [p for n, p in other.named_parameters() if p.requires_grad and "prompt_encoder" in n]
    assert torch.equal(prompt.detach(), prompt7.detach())
    vocab = build_for(backbone, labels, MethodConfig(name="prompt", num_virtual_tokens=5), seed=0)
    (sampled,) = [p for n, p in vocab.named_parameters() if p.requires_grad and "prompt_encoder" in n]
    assert not torch.allclose(prompt.detach(), sampled.detach())


def test_an_unknown_prompt_init_names_the_key(tmp_path):
    from borderless.config import ConfigError, load_config

    path = tmp_path / "c.toml"
    path.write_text('[method]\nprompt_init = "words"\n')
    with pytest.raises(ConfigError, match="method.prompt_init"):
        load_config(path)
