"""The linear probe under DP: DP-SGD on frozen (or prompted-start) features, so a DP run can still
start its head from a probe (LP-FT) and still stand beside a probe fitted under the same guarantee.

A step Poisson-samples the party's sentences (rate q), takes each sentence's gradient of the
softmax head in closed form ((softmax − one-hot) ⊗ [x, 1]), clips it to C, sums, adds N(0, (σC)²)
and divides by the expected batch before an Adam step. The party's σ is the one its tuning uses
(borderless.privacy.plan): the probe's steps and the tuning's are one composition in the accountant.

Before that, the features are centred, projected on their top ``privacy.probe_dims`` principal
directions and scaled to unit mean norm, all three taken from the party's DEV features (which DP
does not protect; docs/privacy.md): a multilingual encoder's pooled features share a large common
component, and noise in every one of 384 × labels coordinates drowns a 200-sentence signal
(measured on e5-small, ε = 8, 4 languages: 36 % raw, 49 % centred, 55 % centred on 16 directions,
67 % without DP). The head returned acts on the raw features (the map is linear).
"""

from __future__ import annotations

import random

import torch

from borderless.probe import _masked
from borderless.tuning.state import State


def dp_logreg(x: torch.Tensor, y: torch.Tensor, num_labels: int, mask: torch.Tensor | None, *, steps: int,
              batch_size: int, clip_norm: float, noise_multiplier: float, lr: float, scale: float,
              seed: int, generator: torch.Generator, start: State | None = None) -> State:
    """A head {"head.weight", "head.bias"} after ``steps`` DP-SGD steps on (x, y) from ``start``
    (zeros by default). ``scale``: features are divided by it while training."""
    n, h = x.shape
    xs = torch.cat([x.double() / scale, torch.ones(n, 1, dtype=torch.float64)], 1)
    w = torch.zeros(num_labels, h + 1, dtype=torch.float64)
    if start is not None:
        w[:, :h] = start["head.weight"].double() * scale
        w[:, h] = start["head.bias"].double()
    w.requires_grad_(True)
    opt = torch.optim.Adam([w], lr=lr)
    rng = random.Random(seed)
    q = min(1.0, batch_size / max(n, 1))
    for _ in range(steps):
        idx = torch.tensor([i for i in range(n) if rng.random() < q], dtype=torch.long)
        with torch.no_grad():
            total = torch.zeros_like(w)
            if len(idx):
                xb = xs[idx]
                p = torch.softmax(_masked(xb @ w.T, None if mask is None else mask[idx]), -1)
                p[torch.arange(len(idx)), y[idx]] -= 1.0
                norms = p.norm(dim=1) * xb.norm(dim=1)  # ||outer(a, b)|| = ||a||·||b||
                factor = (clip_norm / (norms + 1e-12)).clamp(max=1.0)
                total = (p * factor[:, None]).T @ xb
            noise = torch.normal(0.0, noise_multiplier * clip_norm, size=w.shape, generator=generator,
                                 dtype=torch.float64)
            w.grad = (total + noise) / batch_size
        opt.step()
    w = w.detach()
    return {"head.weight": (w[:, :h] / scale).float(), "head.bias": w[:, h].float().clone()}


def feature_scale(dev_x: torch.Tensor) -> float:
    """The public scale: the mean L2 norm of the dev split's features (dev is not what DP protects)."""
    return float(dev_x.double().norm(dim=1).mean()) if len(dev_x) else 1.0


def public_map(dev_x: torch.Tensor, dims: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    """(mean, projection [h, k], scale) from dev features: x ↦ ((x − mean) @ projection) / scale."""
    dev = dev_x.double()
    mu = dev.mean(0)
    centred = dev - mu
    if dims and dims < min(centred.shape):
        _, _, v = torch.linalg.svd(centred, full_matrices=False)
        proj = v[:dims].T
    else:
        proj = torch.eye(dev.shape[1], dtype=torch.float64)
    z = centred @ proj
    scale = float(z.norm(dim=1).mean()) or 1.0
    return mu, proj, scale


def fit_dp_head(x: torch.Tensor, y: torch.Tensor, dev_x: torch.Tensor, num_labels: int, mask, *, dims: int,
                steps: int, batch_size: int, clip_norm: float, noise_multiplier: float, lr: float, seed: int,
                generator: torch.Generator) -> State:
    """``dp_logreg`` in the public map of ``dev_x``, returned as a head on the raw features."""
    mu, proj, scale = public_map(dev_x, dims)
    z = ((x.double() - mu) @ proj).float()
    h = dp_logreg(z, y, num_labels, mask, steps=steps, batch_size=batch_size, clip_norm=clip_norm,
                  noise_multiplier=noise_multiplier, lr=lr, scale=scale, seed=seed, generator=generator)
    w = h["head.weight"].double() @ proj.T  # logits = W' (P^T (x − mu)) + b' = (W' P^T) x + (b' − W' P^T mu)
    return {"head.weight": w.float(), "head.bias": (h["head.bias"].double() - w @ mu).float()}
