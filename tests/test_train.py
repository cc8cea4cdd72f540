import random

import pytest

import torch

from borderless.data.types import Example
from borderless.train import BatchStream, TokenizedSet, bucketed_batches, evaluate, evaluate_many, tokenize


def test_bucketed_batches_cover_each_example_once_and_are_length_sorted():
    rng = random.Random(0)
    lengths = [rng.randint(3, 100) for _ in range(203)]
    batches = bucketed_batches(list(range(203)), lengths, 8, random.Random(1))
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(203))
    # within a bucket batches are contiguous in length: padding waste is far below random batching
    waste = sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batches)
    shuffled = list(range(203))
    random.Random(2).shuffle(shuffled)
    rand_batches = [shuffled[j:j + 8] for j in range(0, 203, 8)]
    rand_waste = sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in rand_batches)
    assert waste < rand_waste / 3


def test_collate_pads_only_to_batch_max():
    data = TokenizedSet([[0, 5, 2], [0, 5, 6, 7, 8, 2], [0, 2]], [1, 2, 3], ["a", "b", "c"], pad_id=1)
    ids, mask, labels = data.collate([0, 2])
    assert ids.shape == (2, 3)
    assert ids.tolist() == [[0, 5, 2], [0, 2, 1]] and mask.tolist() == [[1, 1, 1], [1, 1, 0]]
    assert labels.tolist() == [1, 3]


def test_stream_position_persists_across_calls():
    data = TokenizedSet([[0, i, 2] for i in range(10)], list(range(10)), [str(i) for i in range(10)], 1)
    one = BatchStream(data, 3, seed=7)
    whole = [one.next() for _ in range(60)]
    split = BatchStream(data, 3, seed=7)
    parts = [split.next() for _ in range(4)] + [split.next() for _ in range(56)]
    assert whole == parts
    assert all(len(b) == 3 for b in whole)  # always full batches, even with 10 examples
    flat = [i for b in whole[:50] for i in b]  # one bucket: 50 batches = 150 draws = 15 whole epochs
    assert sorted(flat) == sorted(list(range(10)) * 15)
    assert BatchStream(data, 3, seed=8).next() != whole[0] or BatchStream(data, 3, seed=9).next() != whole[0]


def test_evaluate_counts_and_no_grad(tiny_backbone):
    from borderless.config import MethodConfig
    from borderless.tuning.prompt import build_prompt_classifier

    model = build_prompt_classifier(tiny_backbone.model, tiny_backbone.hidden_size, 3, MethodConfig(num_virtual_tokens=2), 0)
    exs = [Example(f"x/{i}", "word " * (i + 1), i % 3, "x") for i in range(10)]
    data = tokenize(exs, tiny_backbone.tokenizer, 32)
    m = evaluate(model, data, batch_size=4)
    assert m["examples"] == 10 and 0.0 <= m["accuracy"] <= 1.0 and m["loss"] > 0
    # accuracy equals a manual per-example check
    with torch.no_grad():
        manual = sum(int(model(*data.collate([i])[:2]).argmax(-1).item() == data.labels[i]) for i in range(10))
    assert abs(m["accuracy"] - manual / 10) < 1e-9


def test_evaluating_many_sets_at_once_gives_each_sets_own_result(tiny_backbone):
    from borderless.config import MethodConfig
    from borderless.tuning.prompt import build_prompt_classifier

    model = build_prompt_classifier(tiny_backbone.model, tiny_backbone.hidden_size, 3, MethodConfig(num_virtual_tokens=2), 0)
    rng = random.Random(0)
    sets = {}
    for k, n in (("a", 7), ("b", 1), ("c", 13)):
        exs = [Example(f"{k}/{i}", "word " * rng.randint(1, 12), rng.randrange(2 if k == "c" else 3), k)
               for i in range(n)]
        sets[k] = tokenize(exs, tiny_backbone.tokenizer, 32)
    sets["empty"] = TokenizedSet([], [], [], sets["a"].pad_id)
    sets["c"].allowed = [(0, 1)] * len(sets["c"])  # a language with only two of the labels
    many = evaluate_many(model, sets, batch_size=4)
    assert list(many) == list(sets)
    for k, data in sets.items():
        if not len(data):
            assert many[k]["examples"] == 0
            continue
        one = evaluate(model, data, batch_size=4)
        assert many[k]["examples"] == one["examples"] and many[k]["accuracy"] == one["accuracy"], k
        assert many[k]["loss"] == pytest.approx(one["loss"], rel=1e-4), k


def test_compact_token_ids_are_int32_arrays():
    data = TokenizedSet([[0, 5, 2], [0, 2]], [1, 2], ["a", "b"], pad_id=1)
    assert all(x.dtype.name == "int32" for x in data.input_ids)
    assert data.select([1]).input_ids[0].tolist() == [0, 2]


def test_tokenize_truncates_and_prefixes(tiny_backbone):
    exs = [Example("x/0", "a" * 500, 0, "x")]
    data = tokenize(exs, tiny_backbone.tokenizer, 16, prefix="passage: ")
    assert len(data.input_ids[0]) == 16 and data.input_ids[0][0] == tiny_backbone.tokenizer.bos_token_id
    assert data.uids == ["x/0"]


def test_learning_rate_schedules():
    from borderless.config import TrainConfig
    from borderless.train import lr_factor, schedule_factors

    lin = TrainConfig(schedule="linear", warmup=0.1)
    f = [lr_factor(s, 100, lin) for s in range(100)]
    assert f[:10] == [pytest.approx((s + 1) / 10) for s in range(10)]  # warm-up to the full rate
    assert f[10] == 1.0 and f[55] == pytest.approx(0.5) and f[-1] == pytest.approx(1 / 90)
    assert all(a >= b for a, b in zip(f[10:], f[11:]))
    cos = TrainConfig(schedule="cosine", warmup=0.0)
    assert lr_factor(0, 100, cos) == 1.0 and lr_factor(50, 100, cos) == pytest.approx(0.5)
    assert [lr_factor(s, 100, TrainConfig(schedule="constant", warmup=0.0)) for s in (0, 99)] == [1.0, 1.0]
    # a federated round's slice of the run's schedule
    assert schedule_factors(lin, 20, 5, 100) == f[20:25]


def test_client_fit_follows_the_runs_schedule(tiny_backbone, monkeypatch):
    from borderless.config import MethodConfig, TrainConfig
    from borderless.data.types import Example
    from borderless.federated.simulation import Client
    from borderless.train import BatchStream, tokenize
    from borderless.tuning.prompt import build_prompt_classifier
    from borderless.tuning.state import trainable_state

    import borderless.train as train_mod

    seen = []
    real_step = torch.optim.AdamW.step

    def spy(self, *a, **k):
        seen.append([g["lr"] for g in self.param_groups])
        return real_step(self, *a, **k)

    monkeypatch.setattr(torch.optim.AdamW, "step", spy)
    exs = [Example(f"x/{i}", f"word {i}", i % 2, "x") for i in range(16)]
    client = Client("x", BatchStream(tokenize(exs, tiny_backbone.tokenizer, 16), 4, 0))
    model = build_prompt_classifier(tiny_backbone.model, tiny_backbone.hidden_size, 2, MethodConfig(num_virtual_tokens=2), 0)
    cfg = TrainConfig(lr=0.1, head_lr=0.2, local_steps=2, schedule="linear", warmup=0.0)
    client.fit(model, trainable_state(model), cfg, model.head_parameter_names(), 0, rnd=2, rounds=2)
    expected = [train_mod.lr_factor(s, 4, cfg) for s in (2, 3)]
    assert seen == [[pytest.approx(0.1 * f), pytest.approx(0.2 * f)] for f in expected]


def test_per_language_label_sets_mask_logits_in_training_and_evaluation():
    """A language with labels {0, 2} of three: label 1 takes no probability and is never predicted,
    even by a model that prefers it; concatenation keeps each row's own set."""
    from borderless.train import restrict, train_steps

    class Prefers1(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bias = torch.nn.Parameter(torch.tensor([0.0, 5.0, 0.1]))

        def forward(self, ids, mask):
            return self.bias.expand(ids.shape[0], 3)

    masked = TokenizedSet([[0, 5, 2]] * 4, [0, 2, 2, 2], list("abcd"), 1, [(0, 2)] * 4)
    free = TokenizedSet([[0, 6, 2]] * 2, [1, 1], list("ef"), 1)
    both = TokenizedSet.concat([masked, free])
    m = both.label_mask([0, 4], 3)
    assert m.tolist() == [[True, False, True], [True, True, True]]
    assert both.select([4, 0]).allowed == [(), (0, 2)]
    model = Prefers1()
    assert evaluate(model, masked, 2)["accuracy"] == 0.75  # always 2 (not 1): 3 of 4
    assert evaluate(model, free, 2)["accuracy"] == 1.0
    logits = restrict(torch.zeros(1, 3), torch.tensor([[True, False, True]]))
    assert torch.softmax(logits, -1)[0, 1] == 0
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    before = model.bias[1].item()
    train_steps(model, BatchStream(masked, 2, seed=0), 3, opt)
    assert model.bias[1].item() == before  # a masked label gets no gradient


def test_sentence_pairs_are_encoded_as_the_tokenizers_pair(tiny_backbone):
    tok = tiny_backbone.tokenizer
    pair = tokenize([Example("x/0", "ab", 0, "x", text_pair="cd")], tok, 64)
    single = tokenize([Example("x/0", "ab", 0, "x")], tok, 64)
    sep = tok.sep_token_id
    p0, s0 = pair.input_ids[0].tolist(), single.input_ids[0].tolist()
    assert p0[: len(s0)] == s0
    assert p0.count(sep) == 3 and len(p0) > len(s0)
    with pytest.raises(ValueError, match="mixes sentence pairs"):
        tokenize([Example("x/0", "a", 0, "x", "b"), Example("x/1", "a", 0, "x")], tok, 64)
