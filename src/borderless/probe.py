"""The frozen-feature linear probe of every paradigm: the floor a tuned model must clear, and the
head it starts from (LP-FT).

Multinomial logistic regression on cached features (``borderless.features``), solved with L-BFGS
(strong Wolfe line search) in float64; the L2 weight decay is chosen on dev from ``probe.weight_decays``.
- monolingual: one probe per language, trained on that language, chosen on its own dev split;
- centralized: one probe on the pooled training data, chosen on the mean dev accuracy over languages;
- federated: FedAvg rounds of the head alone: each client runs a few L-BFGS iterations from the
  global head on its own features, the server averages weighted by examples; the weight decay is
  chosen on the clients' own dev accuracies (each reports one number). Only head parameters cross
  the wire; their bytes are counted.
A probe's head maps onto ``EncoderClassifier.head`` exactly (same mean pooling of the real tokens).
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
from torch.nn import functional as F

HEAD_KEYS = ("head.weight", "head.bias")
State = dict[str, torch.Tensor]


@dataclass
class Probe:
    paradigm: str
    heads: dict[str, State]  # language → head state (the same object for every language when shared)
    weight_decay: dict[str, float]  # language → chosen weight decay (one value when shared)
    dev_score: dict[str, float]  # the run's metric on dev (what chose the weight decay)
    test_accuracy: dict[str, float] = field(default_factory=dict)
    bytes_per_client: int = 0  # federated: everything one client sent up and down to build the probe
    rounds: int = 0
    # language → every test metric (borderless.metrics: accuracy, macro_f1, ..., entity f1 for NER)
    test_metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    metric: str = "accuracy"

    @property
    def test_score(self) -> dict[str, float]:
        """The run's metric on test, per language (accuracy unless train.select_metric says otherwise)."""
        if self.metric == "accuracy" or not self.test_metrics:
            return self.test_accuracy
        return {l: m[self.metric] for l, m in self.test_metrics.items()}

    @property
    def mean_test(self) -> float:
        scores = self.test_score
        return statistics.fmean(scores.values()) if scores else float("nan")

    def summary(self, languages: list[str]) -> dict:
        out = {
            "test_accuracy": {l: self.test_accuracy[l] for l in languages},
            "mean_accuracy": statistics.fmean(self.test_accuracy[l] for l in languages),
            "dev_score": self.dev_score,
            "weight_decay": self.weight_decay,
            "bytes_per_client": self.bytes_per_client,
            "rounds": self.rounds,
            "zero_shot_accuracy": {l: a for l, a in self.test_accuracy.items() if l not in languages},
        }
        return out | metric_fields(self.test_metrics, languages)


def metric_fields(test: Mapping[str, Mapping[str, float]], languages: list[str]) -> dict:
    """``test_<m>``, ``mean_<m>`` and ``worst_<m>`` for every metric beyond accuracy the languages' test
    evaluations carry (macro-F1 and weighted-F1 always; entity precision, recall and F1 for NER)."""
    out = {}
    if not test or any(l not in test for l in languages):
        return out
    for m in EXTRA_METRICS:
        if all(m in test[l] for l in languages):
            per = {l: float(test[l][m]) for l in languages}
            out[f"test_{m}"] = per
            out[f"mean_{m}"] = statistics.fmean(per.values())
            out[f"worst_{m}"] = min(per.values())
    return out


EXTRA_METRICS = ("macro_f1", "weighted_f1", "f1", "precision", "recall")


def head_state(weight: torch.Tensor, bias: torch.Tensor) -> State:
    return {"head.weight": weight.detach().float().clone(), "head.bias": bias.detach().float().clone()}


def _masked(logits: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    return logits if mask is None else logits.masked_fill(~mask, torch.finfo(logits.dtype).min)


def fit_logreg(x: torch.Tensor, y: torch.Tensor, num_labels: int, weight_decay: float,
               init: State | None = None, max_iter: int = 100, mask: torch.Tensor | None = None) -> State:
    """argmin_W,b mean CE(xWᵀ + b, y) + wd/2 ‖W‖², by L-BFGS from ``init`` (zeros by default).
    ``mask`` (rows × labels, bool): the labels each row's language has (per-language label sets)."""
    x, y = x.double(), y.long()
    if init is not None:
        w = init["head.weight"].double().clone().requires_grad_(True)
        b = init["head.bias"].double().clone().requires_grad_(True)
    else:
        w = torch.zeros(num_labels, x.shape[1], dtype=torch.float64, requires_grad=True)
        b = torch.zeros(num_labels, dtype=torch.float64, requires_grad=True)
    if len(y) == 0:
        return head_state(w, b)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=max_iter, history_size=20, line_search_fn="strong_wolfe",
                            tolerance_grad=1e-9, tolerance_change=1e-12)

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(_masked(x @ w.T + b, mask), y) + 0.5 * weight_decay * (w * w).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    return head_state(w, b)


def predict(head: State, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """The head's label for each row of ``x`` (labels a row's language lacks never win)."""
    return _masked(x.float() @ head["head.weight"].T + head["head.bias"], mask).argmax(-1)


def accuracy(head: State, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None = None) -> float:
    if len(y) == 0:
        return float("nan")
    # counted exactly, as the training loop's evaluation counts (correct / n): a float32 mean is off in
    # the 8th digit, and a tuned run that keeps its probe-initialised start must equal its probe exactly
    return int((predict(head, x, mask) == y).sum()) / len(y)


@dataclass
class ProbeData:
    """Cached features and labels per language and split, and the federated clients' training rows."""

    languages: list[str]  # training languages
    evaluated: list[str]  # training + zero-shot
    num_labels: int
    x: dict[tuple[str, str], torch.Tensor]  # (language, split) → features
    y: dict[tuple[str, str], torch.Tensor]
    clients: dict[str, list[tuple[str, int]]]  # client → (language, training row)
    nearest: dict[str, str] = field(default_factory=dict)  # zero-shot language → nearest training language
    allowed: dict[str, tuple[int, ...]] = field(default_factory=dict)  # languages with fewer labels → theirs
    # token tasks: (language, split) → where each sentence's words start in x / y (n + 1 offsets)
    words: dict[tuple[str, str], "np.ndarray"] = field(default_factory=dict)
    label_names: tuple[str, ...] = ()
    metric: str = "accuracy"  # what chooses a weight decay (train.select_metric, resolved)

    def metrics(self, head: State, lang: str, split: str) -> dict[str, float]:
        """Every metric of ``head`` on one language's split, as the evaluation loop reports them."""
        import numpy as np

        from borderless.metrics import sentence_scores, token_scores

        x, y, m = self.xym(lang, split)
        pred, gold = predict(head, x, m).numpy(), y.numpy()
        if (lang, split) in self.words:
            off = self.words[(lang, split)]
            cut = [slice(int(a), int(b)) for a, b in zip(off[:-1], off[1:])]
            return token_scores([gold[c] for c in cut], [pred[c] for c in cut], self.label_names)
        return sentence_scores(gold, pred)

    def score(self, head: State, lang: str, split: str) -> float:
        """The run's metric (accuracy, counted exactly, unless train.select_metric chose another)."""
        if self.metric == "accuracy":
            return accuracy(head, *self.xym(lang, split))
        return self.metrics(head, lang, split)[self.metric]

    def mask(self, langs: list[str]) -> torch.Tensor | None:
        """One row per language in ``langs``: the labels it has; None when every language has them all."""
        if not any(l in self.allowed for l in langs):
            return None
        m = torch.ones((len(langs), self.num_labels), dtype=torch.bool)
        for r, l in enumerate(langs):
            if l in self.allowed:
                m[r] = False
                m[r, list(self.allowed[l])] = True
        return m

    def xym(self, lang: str, split: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        y = self.y[(lang, split)]
        return self.x[(lang, split)], y, self.mask([lang] * len(y))

    def client_xy(self, cid: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        rows = self.clients[cid]
        if self.words:  # a token task: a client's rows are sentences, the probe's rows their words
            rows = [(l, w) for l, i in rows
                    for w in range(int(self.words[(l, "train")][i]), int(self.words[(l, "train")][i + 1]))]
        xs = [self.x[(l, "train")][i] for l, i in rows]
        ys = [int(self.y[(l, "train")][i]) for l, i in rows]
        return ((torch.stack(xs) if xs else torch.zeros(0, 1)), torch.tensor(ys, dtype=torch.long),
                self.mask([l for l, _ in rows]))

    def pooled(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        return (torch.cat([self.x[(l, "train")] for l in self.languages]),
                torch.cat([self.y[(l, "train")] for l in self.languages]),
                self.mask([l for l in self.languages for _ in range(len(self.y[(l, "train")]))]))

    def mean_dev(self, head: State) -> float:
        return statistics.fmean(self.score(head, l, "dev") for l in self.languages)


def _evaluate(probe: Probe, data: ProbeData) -> Probe:
    for lang in data.evaluated:
        head = probe.heads.get(lang) or probe.heads.get(data.nearest.get(lang, "")) or next(iter(probe.heads.values()))
        if (lang, "test") in data.x:  # start-feature probes (LP-FT heads) have no test features
            probe.test_accuracy[lang] = accuracy(head, *data.xym(lang, "test"))
            probe.test_metrics[lang] = data.metrics(head, lang, "test") | {"accuracy": probe.test_accuracy[lang]}
        if (lang, "dev") in data.x:
            probe.dev_score.setdefault(lang, data.score(head, lang, "dev"))
    probe.metric = data.metric
    return probe


def _best(candidates: list[tuple[float, float, State]]) -> tuple[float, State]:
    """Highest dev score; ties go to the stronger regularisation (listed later)."""
    acc, wd, head = max(candidates, key=lambda c: (c[0], c[1]))
    return wd, head


def monolingual_probe(data: ProbeData, weight_decays: tuple[float, ...], max_iter: int = 100) -> Probe:
    heads, wds, dev = {}, {}, {}
    for lang in data.languages:
        x, y, m = data.xym(lang, "train")
        cands = []
        for wd in weight_decays:
            head = fit_logreg(x, y, data.num_labels, wd, max_iter=max_iter, mask=m)
            cands.append((data.score(head, lang, "dev"), wd, head))
        wds[lang], heads[lang] = _best(cands)
        dev[lang] = data.score(heads[lang], lang, "dev")
    return _evaluate(Probe("monolingual", heads, wds, dev), data)


def centralized_probe(data: ProbeData, weight_decays: tuple[float, ...], max_iter: int = 100) -> Probe:
    x, y, m = data.pooled()
    cands = [(data.mean_dev(h), wd, h) for wd in weight_decays
             for h in [fit_logreg(x, y, data.num_labels, wd, max_iter=max_iter, mask=m)]]
    wd, head = _best(cands)
    return _evaluate(Probe("centralized", {l: head for l in data.languages}, {"all": wd}, {}), data)


def fedavg_heads(updates: list[tuple[State, int]]) -> State:
    total = sum(n for _, n in updates)
    return {k: sum(s[k].double() * (n / total) for s, n in updates).float() for k in HEAD_KEYS}


def sampled_rounds(clients: list[str], rounds: int, per_round: int, seed: int) -> list[list[str]]:
    """The clients of each round: all of them, or ``per_round`` drawn without replacement (seeded)."""
    if not per_round or per_round >= len(clients):
        return [list(clients)] * rounds
    rng = random.Random(f"federated-probe-{seed}")
    return [sorted(rng.sample(list(clients), per_round)) for _ in range(rounds)]


def federated_probe(data: ProbeData, weight_decays: tuple[float, ...], rounds: int = 20,
                    local_iters: int = 10, clients_per_round: int = 0, seed: int = 0) -> Probe:
    """FedAvg of the head on the clients' cached features, ``clients_per_round`` sampled each round
    (0: all), the same draws for every weight decay; the weight decay is chosen on the clients' dev
    accuracies of each candidate's global head."""
    clients = {cid: data.client_xy(cid) for cid in data.clients}
    schedule = sampled_rounds([c for c, (_, y, _) in clients.items() if len(y)], rounds, clients_per_round, seed)
    hidden = next(iter(data.x.values())).shape[1]
    cands = []
    for wd in weight_decays:
        head = head_state(torch.zeros(data.num_labels, hidden), torch.zeros(data.num_labels))
        for chosen in schedule:
            updates = [(fit_logreg(x, y, data.num_labels, wd, init=head, max_iter=local_iters, mask=m), len(y))
                       for x, y, m in (clients[c] for c in chosen)]
            head = fedavg_heads(updates)
        cands.append((data.mean_dev(head), wd, head))
    wd, head = _best(cands)
    head_bytes = sum(t.numel() * t.element_size() for t in head.values())
    # per client, on average: a sampled client sends and receives the head in the rounds it takes part in
    share = sum(map(len, schedule)) / (rounds * max(len(clients), 1))
    probe = Probe("federated", {l: head for l in data.languages}, {"all": wd}, {},
                  bytes_per_client=round(2 * head_bytes * rounds * len(weight_decays) * share),
                  rounds=rounds * len(weight_decays))
    return _evaluate(probe, data)


def all_probes(data: ProbeData, weight_decays: tuple[float, ...], fed_rounds: int, fed_local_iters: int,
               max_iter: int = 100, clients_per_round: int = 0, seed: int = 0,
               paradigms: tuple[str, ...] = ("monolingual", "centralized", "federated")) -> Mapping[str, Probe]:
    """The probes of ``paradigms`` (monolingual, centralized, federated)."""
    fit = {
        "monolingual": lambda: monolingual_probe(data, weight_decays, max_iter),
        "centralized": lambda: centralized_probe(data, weight_decays, max_iter),
        "federated": lambda: federated_probe(data, weight_decays, fed_rounds, fed_local_iters, clients_per_round, seed),
    }
    return {p: fit[p]() for p in paradigms}


PERSONAL_ITERS = (5, 20, 50)  # L-BFGS iterations the personalised probe tries on each client


def personalised_probe(data: ProbeData, federated: Probe, iters: tuple[int, ...] = PERSONAL_ITERS) -> Probe:
    """Federated + personal for the head alone: each language client continues L-BFGS from the
    federated head on its own features for each of ``iters`` iterations and keeps whichever (or the
    global head itself) does best on its own dev split."""
    wd = federated.weight_decay["all"]
    heads, wds, dev = {}, {}, {}
    for lang in data.languages:
        global_head = federated.heads[lang]
        x, y, m = data.xym(lang, "train")
        cands = [(data.score(global_head, lang, "dev"), 0, global_head)]
        for n in iters:
            head = fit_logreg(x, y, data.num_labels, wd, init=global_head, max_iter=n, mask=m)
            cands.append((data.score(head, lang, "dev"), -n, head))  # ties: fewer iterations
        acc, _, heads[lang] = max(cands, key=lambda c: (c[0], c[1]))
        wds[lang], dev[lang] = wd, acc
    for z in data.evaluated[len(data.languages):]:
        heads[z] = federated.heads[data.languages[0]]
    probe = Probe("federated_personal", heads, wds, dev, bytes_per_client=federated.bytes_per_client,
                  rounds=federated.rounds)
    return _evaluate(probe, data)
