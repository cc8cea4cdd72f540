"""(ε, δ) of the run's Gaussian mechanisms with dp-accounting (Google's accountants, the ones
``flwr[dp]`` brings), and the noise multiplier that reaches a target ε.

Every mechanism here is a Gaussian mechanism on an L2-clipped quantity, composed over steps or
rounds, with Poisson sampling where the run samples:

- ``example`` (DP-SGD): each step samples each of the client's sentences with probability
  q = batch_size / n and adds N(0, (σC)²) to the sum of per-sentence gradients clipped to C;
  ``PoissonSampledDpEvent(q, GaussianDpEvent(σ))`` composed over the client's steps.
- ``client``: each round samples each client with probability q = clients_per_round / clients (1 when
  every client trains every round) and the server adds N(0, (σC)²) to the sum of updates clipped to C.
- ``local``: a client adds N(0, (σC)²) to its own update clipped to C before it leaves; the record is
  the client's whole data and any two clipped updates differ by up to 2C, so each round is a
  Gaussian mechanism of multiplier σ/2, composed over the rounds the client took part in (no
  sampling amplification: the client knows it was sampled).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from functools import lru_cache

import dp_accounting
from dp_accounting import mechanism_calibration
from dp_accounting.pld import pld_privacy_accountant
from dp_accounting.rdp import rdp_privacy_accountant

# the RDP accountant logs a warning for every Rényi order it leaves out of a bound (harmless: the bound
# takes the minimum over the orders that converged); keep them out of the user's terminal
logging.getLogger("absl").setLevel(logging.ERROR)

ACCOUNTANTS = ("rdp", "pld")
MECHANISMS = ("none", "example", "client", "local")


def sampled_gaussian(noise_multiplier: float, sampling_rate: float, steps: int) -> dp_accounting.DpEvent:
    """``steps`` compositions of the Gaussian mechanism of ``noise_multiplier``, each on a Poisson
    sample of rate ``sampling_rate`` (1: no sampling)."""
    event: dp_accounting.DpEvent = dp_accounting.GaussianDpEvent(noise_multiplier)
    if sampling_rate < 1.0:
        event = dp_accounting.PoissonSampledDpEvent(sampling_rate, event)
    return dp_accounting.SelfComposedDpEvent(event, steps)


Phases = tuple[tuple[float, int], ...]  # earlier DP-SGD phases on the same sentences: (sampling rate, steps)


def accounting_event(mechanism: str, noise_multiplier: float, sampling_rate: float, steps: int,
                     before: Phases = ()) -> dp_accounting.DpEvent:
    """The dp-accounting event of ``steps`` steps (example) or rounds (client, local) of ``mechanism``,
    after the ``before`` phases (example: the DP probe's steps, same σ, their own sampling rate)."""
    if mechanism == "local":  # sensitivity 2C: any clipped update can be replaced by any other
        return sampled_gaussian(noise_multiplier / 2.0, 1.0, steps)
    if mechanism not in ("example", "client"):
        raise ValueError(f"no accounting for privacy.mechanism {mechanism!r}; one of example, client, local")
    events = [sampled_gaussian(noise_multiplier, q, t) for q, t in (*before, (sampling_rate, steps)) if t > 0]
    if not events:
        return dp_accounting.NoOpDpEvent()
    return events[0] if len(events) == 1 else dp_accounting.ComposedDpEvent(events)


def fresh_accountant(name: str) -> dp_accounting.PrivacyAccountant:
    if name == "rdp":
        return rdp_privacy_accountant.RdpAccountant()
    if name == "pld":
        return pld_privacy_accountant.PLDAccountant()
    raise ValueError(f"unknown privacy.accountant {name!r}; one of {', '.join(ACCOUNTANTS)}")


def epsilon(mechanism: str, noise_multiplier: float, sampling_rate: float, steps: int, delta: float,
            accountant: str = "rdp", before: Phases = ()) -> float:
    """ε at ``delta`` after ``steps`` (and the ``before`` phases); 0 when nothing was released, inf without noise."""
    if steps + sum(t for _, t in before) <= 0:
        return 0.0
    if noise_multiplier <= 0:
        return float("inf")
    acc = fresh_accountant(accountant)
    acc.compose(accounting_event(mechanism, noise_multiplier, sampling_rate, steps, before))
    return float(acc.get_epsilon(delta))


@lru_cache(maxsize=1024)
def calibrate(mechanism: str, target_epsilon: float, sampling_rate: float, steps: int, delta: float,
              accountant: str = "rdp", before: Phases = ()) -> float:
    """The smallest noise multiplier (to dp-accounting's tolerance, rounded up) whose ε after
    ``steps`` is at most ``target_epsilon``."""
    if steps + sum(t for _, t in before) <= 0:
        return 0.0
    # RDP first (cheap, and an upper bound on ε, so its σ is at least PLD's); PLD then searches below it,
    # above a floor where its discretisation stays small (a tiny σ needs gigabytes)
    rdp_sigma = float(mechanism_calibration.calibrate_dp_mechanism(
        lambda: fresh_accountant("rdp"), lambda s: accounting_event(mechanism, s, sampling_rate, steps, before),
        target_epsilon, delta, mechanism_calibration.LowerEndpointAndGuess(0.05, 1.0), tol=1e-4))
    if accountant == "rdp":
        return rdp_sigma
    low = max(0.25, rdp_sigma / 2)
    if epsilon(mechanism, low, sampling_rate, steps, delta, accountant, before) <= target_epsilon:
        return low
    return float(mechanism_calibration.calibrate_dp_mechanism(
        lambda: fresh_accountant(accountant), lambda s: accounting_event(mechanism, s, sampling_rate, steps, before),
        target_epsilon, delta, mechanism_calibration.ExplicitBracketInterval(low, rdp_sigma), tol=1e-4))


@dataclass(frozen=True)
class Guarantee:
    """What results.json records for one protected party (a language's client, or the pooled set)."""

    mechanism: str
    noise_multiplier: float
    clip_norm: float
    sampling_rate: float
    steps: int  # DP-SGD steps (example) or rounds taken part in (client, local)
    delta: float
    epsilon: float
    accountant: str
    protects: str  # what one record is: "a sentence", "a client's whole data"
    probe_steps: int = 0  # example + LP-FT: the DP probe's steps before tuning (same σ)
    probe_sampling_rate: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


def guarantee(mechanism: str, noise_multiplier: float, clip_norm: float, sampling_rate: float, steps: int,
              delta: float, accountant: str, before: Phases = ()) -> Guarantee:
    probe_q, probe_t = before[0] if before else (0.0, 0)
    return Guarantee(mechanism, noise_multiplier, clip_norm, sampling_rate, steps, delta,
                     epsilon(mechanism, noise_multiplier, sampling_rate, steps, delta, accountant, before), accountant,
                     "one training sentence" if mechanism == "example" else "one client's whole training data",
                     probe_t, probe_q)
