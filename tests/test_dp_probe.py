"""The DP probe: DP-SGD on features in a public (dev) map, returned as a head on the raw features."""

from __future__ import annotations

import torch

from borderless.privacy.dp_probe import fit_dp_head, public_map
from borderless.privacy.dp_sgd import noise_generator
from borderless.probe import accuracy


def _blobs(n: int, seed: int, offset: float = 5.0):
    """Three classes in 12 dimensions, sharing a large common component (as a sentence encoder's do)."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(3, 12, generator=g)
    y = torch.arange(n) % 3
    x = centres[y] + 0.3 * torch.randn(n, 12, generator=g) + offset
    return x, y


def test_with_little_noise_the_dp_probe_learns_and_its_raw_head_is_the_mapped_one():
    x, y = _blobs(300, 0)
    dev, _ = _blobs(90, 0)
    head = fit_dp_head(x, y, dev, 3, None, dims=4, steps=60, batch_size=64, clip_norm=1.0, noise_multiplier=1e-6,
                       lr=0.2, seed=0, generator=noise_generator(0))
    xt, yt = _blobs(150, 0)
    assert accuracy(head, xt, yt) > 0.9
    mu, proj, scale = public_map(dev, 4)
    assert proj.shape == (12, 4) and torch.allclose(((dev.double() - mu) @ proj).norm(dim=1).mean(), torch.tensor(scale, dtype=torch.float64))


def test_the_noise_costs_accuracy_as_it_grows():
    x, y = _blobs(300, 1)
    dev, _ = _blobs(90, 1)
    xt, yt = _blobs(150, 1)
    accs = [accuracy(fit_dp_head(x, y, dev, 3, None, dims=4, steps=30, batch_size=64, clip_norm=1.0, noise_multiplier=s,
                                 lr=0.2, seed=0, generator=noise_generator(0)), xt, yt) for s in (1e-6, 200.0)]
    assert accs[0] > 0.9 and accs[1] < accs[0] - 0.2
