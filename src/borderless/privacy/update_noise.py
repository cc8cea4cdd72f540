"""Update-level mechanisms, on a client's round update Δ = state − the state it started from.

``client`` (client-level central DP, the pattern of Flower's ``DifferentialPrivacyClientSideFixedClipping``):
each client clips Δ to L2 norm C; the server sums the clipped updates of the clients it sampled,
adds N(0, (σC)²) to every value and divides by the expected number of sampled clients. ``local``:
the client clips Δ to C and adds N(0, (σC)²) itself, so the server never sees a noiseless update.
"""

from __future__ import annotations

import math

import torch

from borderless.tuning.state import State


def update_norm(state: State, start: State) -> float:
    return math.sqrt(sum(float((state[k].double() - start[k].double()).pow(2).sum()) for k in start))


def clip_update(state: State, start: State, clip_norm: float) -> State:
    """``start`` + Δ scaled down to L2 norm ``clip_norm`` over all tensors together (unchanged if shorter)."""
    scale = min(1.0, clip_norm / (update_norm(state, start) + 1e-12))
    return {k: start[k] + (state[k] - start[k]) * scale for k in start}


def add_noise(state: State, std: float, generator: torch.Generator) -> State:
    return {k: v + torch.normal(0.0, std, size=v.shape, generator=generator, dtype=v.dtype) for k, v in state.items()}


def noisy_mean(start: State, clipped: list[State], std: float, expected_count: float,
               generator: torch.Generator) -> State:
    """The server's step under ``client``: start + (Σ clipped Δ + N(0, std²)) / expected_count."""
    out = {}
    for k, v in start.items():
        delta = sum((s[k] - v for s in clipped), torch.zeros_like(v))
        noise = torch.normal(0.0, std, size=v.shape, generator=generator, dtype=v.dtype)
        out[k] = v + (delta + noise) / expected_count
    return out
