"""DP-SGD inside a client: Poisson batches, per-sentence clipping, Gaussian noise of the stated size."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from borderless.config import MethodConfig, TrainConfig
from borderless.data.types import Example
from borderless.federated.simulation import Client
from borderless.privacy.dp_sgd import PoissonStream, clipped_gradient_sum, dp_sgd_step, noise_generator
from borderless.privacy.plan import ClientPrivacy
from borderless.train import restrict, tokenize
from borderless.tuning.prompt import build_prompt_classifier
from borderless.tuning.state import load_trainable_state, trainable_state


def _setup(backbone, n=24):
    model = build_prompt_classifier(backbone.model, backbone.hidden_size, 4, MethodConfig(num_virtual_tokens=3), 0)
    exs = [Example(f"x/{i}", f"some text {i} " * (1 + i % 3), i % 4, "x") for i in range(n)]
    return model, tokenize(exs, backbone.tokenizer, 48)


def _one_gradient(model, data, i):
    params = [p for p in model.parameters() if p.requires_grad]
    ids, mask, labels = data.collate([i])
    loss = F.cross_entropy(model(ids, mask), labels)
    return torch.autograd.grad(loss, params)


def test_the_sum_is_of_each_sentences_own_clipped_gradient(tiny_backbone):
    model, data = _setup(tiny_backbone)
    model.eval()  # no dropout: the per-sentence passes are comparable
    idx = [0, 3, 5, 11]
    clip = 0.05
    want = None
    for i in idx:
        g = _one_gradient(model, data, i)
        norm = torch.sqrt(sum(x.pow(2).sum() for x in g))
        assert norm > clip  # the clip bites, or the test would show nothing
        g = [x * (clip / norm) for x in g]
        want = g if want is None else [a + b for a, b in zip(want, g)]
    got, _, norms = clipped_gradient_sum(model, data, idx, clip, restrict)
    assert len(norms) == len(idx)
    for a, b in zip(got, want):
        assert torch.allclose(a, b, atol=1e-6)
    total = torch.sqrt(sum(x.pow(2).sum() for x in got))
    assert total <= clip * len(idx) + 1e-6


def test_full_fine_tuning_clips_each_sentences_dense_gradient_with_sparse_embedding_rows(tiny_backbone):
    """Full fine-tuning takes each sentence's input-embedding gradient as its own tokens' rows (a
    sparse tensor); the clipped sum and the norms must be those of the dense per-sentence gradients,
    and the embedding is handed back dense."""
    from borderless.tuning.full import build_full_classifier

    exs = [Example(f"x/{i}", f"some text {i} " * (1 + i % 3), i % 4, "x") for i in range(24)]
    data = tokenize(exs, tiny_backbone.tokenizer, 48)
    model = build_full_classifier(tiny_backbone.model, tiny_backbone.hidden_size, 4, MethodConfig(name="full"), 0)
    try:
        model.eval()
        emb = model.encoder.get_input_embeddings()
        assert emb.weight.requires_grad and not emb.sparse
        idx, clip = [0, 3, 5, 11], 0.05
        want, want_norms = None, []
        for i in idx:
            g = _one_gradient(model, data, i)
            norm = torch.sqrt(sum(x.double().pow(2).sum() for x in g))
            want_norms.append(float(norm))
            g = [x * min(1.0, clip / float(norm)) for x in g]
            want = g if want is None else [a + b for a, b in zip(want, g)]
        seen = []
        hook = emb.register_forward_hook(lambda m, a, out: seen.append(m.sparse))
        try:
            got, _, norms = clipped_gradient_sum(model, data, idx, clip, restrict)
        finally:
            hook.remove()
        assert seen == [True] * len(idx) and not emb.sparse  # sparse rows in every pass, then switched back
        assert norms == pytest.approx(want_norms, rel=1e-5) and min(norms) > clip
        params = [p for p in model.parameters() if p.requires_grad]
        assert any(p is emb.weight for p in params)
        for p, a, b in zip(params, got, want):
            assert not a.is_sparse and a.shape == p.shape
            assert torch.allclose(a, b, atol=1e-6)
        touched = got[next(k for k, p in enumerate(params) if p is emb.weight)].abs().sum(1) > 0
        assert 0 < int(touched.sum()) < emb.weight.shape[0]  # only the sampled sentences' token rows
    finally:
        model.release()


def test_a_step_adds_noise_of_std_sigma_c_over_the_expected_batch(tiny_backbone):
    model, data = _setup(tiny_backbone)
    model.eval()
    params = [p for p in model.parameters() if p.requires_grad]
    before = [p.detach().clone() for p in params]
    opt = torch.optim.SGD(params, lr=1.0)
    sigma, clip, batch = 50.0, 0.01, 4.0
    dp_sgd_step(model, data, [1, 2], opt, clip, sigma, batch, noise_generator(0), restrict)
    change = torch.cat([(b - p.detach()).ravel() for p, b in zip(params, before)])
    # the clipped gradients move each value by at most 2·clip/batch = 0.005; the noise has std 125
    assert abs(float(change.std()) / (sigma * clip / batch) - 1) < 0.1
    assert abs(float(change.mean())) < 0.1 * sigma * clip / batch


def test_poisson_batches_sample_at_the_stated_rate_and_resume_by_skipping(tiny_backbone):
    _, data = _setup(tiny_backbone, n=40)
    s = PoissonStream(data, 8, seed=3)
    assert s.sampling_rate == 0.2
    sizes = [len(s.next()) for _ in range(400)]
    assert abs(sum(sizes) / len(sizes) - 8) < 0.6 and len(set(sizes)) > 3  # variable, around q·n
    a, b = PoissonStream(data, 8, seed=3), PoissonStream(data, 8, seed=3)
    for _ in range(5):
        a.next()
    b.skip(5)
    assert a.next() == b.next()


def test_a_dp_client_is_reproducible_in_a_simulation_and_sends_no_loss(tiny_backbone):
    model, data = _setup(tiny_backbone)
    start = trainable_state(model)
    cfg = TrainConfig(batch_size=4, local_steps=3, lr=0.05)
    dp = ClientPrivacy("example", 1.0, 1.0, seed=5)
    runs = []
    for _ in range(2):
        c = Client("x", PoissonStream(data, 4, seed=1), dp)
        runs.append(c.fit(model, start, cfg, model.head_parameter_names(), seed=9))
    assert "train_loss" not in runs[0].metrics  # computed from the sentences without noise: it stays home
    for k in start:
        assert torch.equal(runs[0].state[k], runs[1].state[k])
    other = Client("x", PoissonStream(data, 4, seed=1), ClientPrivacy("example", 1.0, 1.0, seed=6))
    u = other.fit(model, start, cfg, model.head_parameter_names(), seed=9)
    assert any(not torch.equal(u.state[k], runs[0].state[k]) for k in start)  # another noise seed, another update
    load_trainable_state(model, start)


def test_a_real_node_draws_its_noise_from_the_os(tiny_backbone):
    model, data = _setup(tiny_backbone)
    start = trainable_state(model)
    cfg = TrainConfig(batch_size=4, local_steps=2, lr=0.05)
    states = [Client("x", PoissonStream(data, 4, seed=1), ClientPrivacy("example", 1.0, 1.0, seed=None))
              .fit(model, start, cfg, model.head_parameter_names(), seed=9).state for _ in range(2)]
    assert any(not torch.equal(states[0][k], states[1][k]) for k in start)


def test_the_batched_soft_prompt_gradients_are_each_sentences_own(tiny_backbone):
    """The one-pass path (soft prompt + head) against a forward and backward pass per sentence."""
    from borderless.privacy.dp_sgd import _soft_prompt_table, prompt_per_sample_grads

    model, data = _setup(tiny_backbone)
    model.eval()
    assert _soft_prompt_table(model) is not None
    idx = [0, 3, 5, 11, 17]
    grads, losses = prompt_per_sample_grads(model, data, idx, restrict)
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    for k, i in enumerate(idx):
        for n, g in zip(names, _one_gradient(model, data, i)):
            assert torch.allclose(grads[n][k], g, atol=1e-5), (n, i)
    loop_model_sum = None
    clip = 0.05
    for i in idx:  # the clipped sum equals the per-sentence loop's
        g = _one_gradient(model, data, i)
        norm = torch.sqrt(sum(x.pow(2).sum() for x in g))
        g = [x * min(1.0, clip / float(norm)) for x in g]
        loop_model_sum = g if loop_model_sum is None else [a + b for a, b in zip(loop_model_sum, g)]
    got, _, _ = clipped_gradient_sum(model, data, idx, clip, restrict)
    for a, b in zip(got, loop_model_sum):
        assert torch.allclose(a, b, atol=1e-6)


@pytest.mark.real
def test_on_e5_small_the_batched_prompt_gradients_are_each_sentences_own(e5_backbone):
    """The one-pass path relies on how PEFT feeds a soft prompt to a real encoder: check it on e5-small."""
    from borderless.privacy.dp_sgd import prompt_per_sample_grads

    model = build_prompt_classifier(e5_backbone.model, e5_backbone.hidden_size, 7, MethodConfig(num_virtual_tokens=8), 0)
    try:
        model.eval()
        exs = [Example(f"x/{i}", f"Ein Satz über Dinge {i}. " * (1 + i % 4), i % 7, "x") for i in range(6)]
        data = tokenize(exs, e5_backbone.tokenizer, 64)
        idx = list(range(6))
        grads, _ = prompt_per_sample_grads(model, data, idx, restrict)
        names = [n for n, p in model.named_parameters() if p.requires_grad]
        for k in idx:
            for n, g in zip(names, _one_gradient(model, data, k)):
                assert torch.allclose(grads[n][k], g, atol=1e-5, rtol=1e-3), (n, k, float((grads[n][k] - g).abs().max()))
    finally:
        model.release()
