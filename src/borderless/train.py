"""The one local training loop and the one evaluation loop.

Speed basics: texts are tokenized once per client; batches are formed from length-sorted buckets
and padded only to their own longest sequence; evaluation runs under ``torch.inference_mode``.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.nn import functional as F

from borderless.config import TrainConfig
from borderless.data.types import Example

BUCKET_BATCHES = 50  # batches per length-sorted bucket: sorting within buckets keeps batches random
IGNORE = -100  # token tasks: the label of positions that are not a word's first sub-word (no loss, not scored)


@dataclass
class TokenizedSet:
    """Token ids of one client's (or one evaluation split's) examples. Stays on its client."""

    input_ids: list[np.ndarray]  # one int32 array per example (compact: 4 bytes a token, not a Python int's 36)
    labels: list[int]
    uids: list[str]
    pad_id: int
    # per example, the label indices its language has (() = all); None: every example may take every label
    allowed: list[tuple[int, ...]] | None = None
    # token tasks (borderless.token_alignment): per example, the position in input_ids of each kept word's
    # first sub-word, and that word's tag; ``labels`` are then 0 (no sentence label)
    word_starts: list[np.ndarray] | None = None
    tags: list[np.ndarray] | None = None
    label_names: tuple[str, ...] = ()  # token tasks: the tag names (entity F1 reads BIO spans from them)
    metric: str = "accuracy"  # what "score" is in this set's evaluations (train.select_metric, resolved)

    def __post_init__(self) -> None:
        self.input_ids = [x if isinstance(x, np.ndarray) and x.dtype == np.int32 else np.asarray(x, dtype=np.int32)
                          for x in self.input_ids]

    @property
    def token_task(self) -> bool:
        return self.tags is not None

    def __len__(self) -> int:
        return len(self.labels)

    def collate(self, idx: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        width = max(len(self.input_ids[i]) for i in idx)
        ids = torch.full((len(idx), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(idx), width), dtype=torch.long)
        for row, i in enumerate(idx):
            seq = self.input_ids[i]
            ids[row, : len(seq)] = torch.from_numpy(seq)
            mask[row, : len(seq)] = 1
        if self.tags is not None:  # (batch, width): each word's tag at its first sub-word, IGNORE elsewhere
            labels = torch.full((len(idx), width), IGNORE, dtype=torch.long)
            for row, i in enumerate(idx):
                labels[row, torch.from_numpy(self.word_starts[i]).long()] = torch.from_numpy(self.tags[i]).long()
            return ids, mask, labels
        return ids, mask, torch.tensor([self.labels[i] for i in idx], dtype=torch.long)

    def label_mask(self, idx: list[int], num_labels: int) -> torch.Tensor | None:
        """(len(idx), num_labels) booleans: the labels each example's language has; None = all."""
        if self.allowed is None:
            return None
        mask = torch.ones((len(idx), num_labels), dtype=torch.bool)
        for row, i in enumerate(idx):
            if self.allowed[i]:
                mask[row] = False
                mask[row, list(self.allowed[i])] = True
        return mask

    def select(self, idx: list[int]) -> "TokenizedSet":
        def pick(values):
            return None if values is None else [values[i] for i in idx]

        return TokenizedSet([self.input_ids[i] for i in idx], [self.labels[i] for i in idx],
                            [self.uids[i] for i in idx], self.pad_id, pick(self.allowed),
                            pick(self.word_starts), pick(self.tags), self.label_names, self.metric)

    @staticmethod
    def concat(sets: list["TokenizedSet"]) -> "TokenizedSet":
        allowed = None
        if any(s.allowed is not None for s in sets):
            allowed = [a for s in sets for a in (s.allowed if s.allowed is not None else [()] * len(s))]
        if len({s.token_task for s in sets}) > 1:
            raise ValueError("cannot join a token task's sentences with a sentence task's")
        token = sets[0].token_task
        return TokenizedSet(
            [x for s in sets for x in s.input_ids], [y for s in sets for y in s.labels],
            [u for s in sets for u in s.uids], sets[0].pad_id, allowed,
            [w for s in sets for w in s.word_starts] if token else None,
            [t for s in sets for t in s.tags] if token else None, sets[0].label_names, sets[0].metric,
        )


def task_loss(logits: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy of sentence logits (batch, labels), or of token logits (batch, width, labels) over the
    words' first sub-words (the other positions carry IGNORE)."""
    if labels.dim() == 2:
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=IGNORE,
                               reduction=reduction)
    return F.cross_entropy(logits, labels, reduction=reduction)


def restrict(logits: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Logits of labels an example's language does not have pushed to the lowest value: they take no
    probability in the loss and are never predicted (per-language label sets, e.g. MasakhaNEWS)."""
    return logits if mask is None else logits.masked_fill(~mask, torch.finfo(logits.dtype).min)


def tokenize(examples: list[Example], tokenizer, max_length: int, prefix: str = "",
             allowed: tuple[int, ...] | None = None, template: str = "") -> TokenizedSet:
    """Token ids of each example; a sentence pair is encoded as the tokenizer's pair (``prefix`` goes
    before the first text). ``allowed``: the label indices of these examples' language (None = all).
    ``template`` (e.g. ``"{text}\\nTopic:"``): the text the model reads; truncation shortens ``{text}``
    only, so what follows it (a verbalizer's cue) is always kept."""
    if template:
        ids = [templated_ids(ex, tokenizer, max_length, prefix, template) for ex in examples]
    else:
        texts = [prefix + ex.text for ex in examples]
        pairs = [ex.text_pair for ex in examples]
        if any(p is not None for p in pairs):
            if any(p is None for p in pairs):
                raise ValueError("a split mixes sentence pairs and single texts")
            ids = list(tokenizer(texts, pairs, truncation=True, max_length=max_length)["input_ids"])
        else:
            ids = list(tokenizer(texts, truncation=True, max_length=max_length)["input_ids"])
    return TokenizedSet(ids, [ex.label for ex in examples], [ex.uid for ex in examples],
                        tokenizer.pad_token_id, None if allowed is None else [allowed] * len(examples))


def fill_template(template: str, text: str, text_pair: str | None) -> tuple[str, str]:
    """(what comes before the first ``{text}``, the rest) with the placeholders filled (the texts are
    inserted verbatim: braces in them are not format fields)."""
    import string

    before, after, seen = [], [], False
    for literal, name, _, _ in string.Formatter().parse(template):
        out = after if seen else before
        out.append(literal)
        if name == "text" and not seen:
            seen = True
        elif name is not None:
            out.append(text if name == "text" else (text_pair or ""))
    return "".join(before), "".join(after)


def templated_ids(ex: Example, tokenizer, max_length: int, prefix: str, template: str) -> list[int]:
    """The template filled with the example; when too long, ``{text}`` is cut so that the template's
    part after it still fits whole (and, if even that is too long, the end of it is what is kept)."""
    before, after = fill_template(template, ex.text, ex.text_pair)
    ids = tokenizer(prefix + before + ex.text + after)["input_ids"]
    if len(ids) <= max_length:
        return list(ids)
    tail = tokenizer(after, add_special_tokens=False)["input_ids"][-(max_length - 2):] if after else []
    head = tokenizer(prefix + before + ex.text, truncation=True, max_length=max_length - len(tail))["input_ids"]
    return list(head) + list(tail)


def bucketed_batches(indices: list[int], lengths: list[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Sort ``indices`` by length, cut into batches, shuffle the batch order."""
    chunk = sorted(indices, key=lambda i: lengths[i])
    batches = [chunk[j : j + batch_size] for j in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


@dataclass
class BatchStream:
    """An endless, seeded sequence of full training batches over one TokenizedSet.

    Indices come from back-to-back shuffled epochs; every ``BUCKET_BATCHES`` batches' worth of them
    is sorted by length (so padding stays small) and cut into full batches, so every step trains on
    exactly ``batch_size`` examples. Its position persists between calls: a client that trains k
    steps in each of R rounds sees exactly the batches one run of k·R steps would see, which keeps
    the paradigms comparable.
    """

    data: TokenizedSet
    batch_size: int
    seed: int
    _rng: random.Random = field(init=False)
    _lengths: list[int] = field(init=False)
    _pending: list[int] = field(init=False, default_factory=list)
    _queue: list[list[int]] = field(init=False, default_factory=list)
    epochs: int = field(init=False, default=0)

    def __post_init__(self):
        self._rng = random.Random(self.seed)
        self._lengths = [len(x) for x in self.data.input_ids]

    def next(self) -> list[int]:
        if not self._queue:
            bucket = self.batch_size * BUCKET_BATCHES
            while len(self._pending) < bucket:
                epoch = list(range(len(self.data)))
                self._rng.shuffle(epoch)
                self._pending.extend(epoch)
                self.epochs += 1
            chunk, self._pending = self._pending[:bucket], self._pending[bucket:]
            self._queue = bucketed_batches(chunk, self._lengths, self.batch_size, self._rng)
        return self._queue.pop(0)

    def skip(self, batches: int) -> None:
        """Move past ``batches`` batches, as if they had been trained on (a client in a fresh process
        resumes its stream where its previous round stopped)."""
        for _ in range(batches):
            self.next()


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig, head_names: set[str]) -> torch.optim.Optimizer:
    head, body = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (head if name in head_names else body).append(p)
    groups = [g for g in ({"params": body, "lr": cfg.lr}, {"params": head, "lr": cfg.head_lr or cfg.lr}) if g["params"]]
    for g in groups:
        g["base_lr"] = g["lr"]  # what lr_factor scales
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
    # the fused kernels update all parameters in one pass: 25 % faster full fine-tuning steps on CPU
    fused = all(p.dtype.is_floating_point for g in groups for p in g["params"])
    if cfg.optimizer == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=fused)
    return torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=fused)


def lr_factor(step: int, total: int, cfg: TrainConfig) -> float:
    """The learning-rate multiplier of step ``step`` (0-based) of a run of ``total`` steps: linear
    warm-up over ``cfg.warmup`` of the steps, then constant, linear decay to 0, or cosine decay."""
    warm = int(round(cfg.warmup * total))
    if step < warm:
        return (step + 1) / warm
    if cfg.schedule == "constant":
        return 1.0
    progress = min(1.0, (step - warm) / max(1, total - warm))
    if cfg.schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    return max(0.0, 1.0 - progress)


def schedule_factors(cfg: TrainConfig, offset: int, steps: int, total: int) -> list[float]:
    """Multipliers of the ``steps`` steps that start at global step ``offset`` of ``total``."""
    return [lr_factor(offset + i, total, cfg) for i in range(steps)]


def train_steps(model: torch.nn.Module, stream: BatchStream, steps: int, optimizer: torch.optim.Optimizer,
                prox_anchor: dict[str, torch.Tensor] | None = None, prox_mu: float = 0.0,
                lr_factors: list[float] | None = None, dp=None, noise_seed: int = 0) -> dict[str, float]:
    """``steps`` optimizer steps on batches from ``stream``. Returns mean loss and examples seen.

    With ``prox_mu > 0`` (FedProx) the loss gains mu/2 · ||w − anchor||² over the trainable
    parameters, anchoring the client to the global state it started the round from.
    ``lr_factors[i]`` scales every group's base learning rate at step i (the run's schedule).
    ``dp`` (a ``borderless.privacy.plan.ClientPrivacy`` with mechanism "example"): every step is a
    DP-SGD step on a Poisson batch from ``stream`` (a ``PoissonStream``), noise seeded by ``noise_seed``."""
    model.train()
    total_loss, seen = 0.0, 0
    prox = [(p, prox_anchor[n]) for n, p in model.named_parameters() if p.requires_grad] if prox_mu > 0 else []
    if dp is not None and dp.mechanism == "example":
        from borderless.privacy.dp_sgd import dp_sgd_step

        generator = dp.generator(noise_seed)
        for step in range(steps):
            if lr_factors is not None:
                for g in optimizer.param_groups:
                    g["lr"] = g.get("base_lr", g["lr"]) * lr_factors[step]
            idx = stream.next()
            total_loss += dp_sgd_step(model, stream.data, idx, optimizer, dp.clip_norm, dp.noise_multiplier,
                                      stream.batch_size, generator, restrict, prox, prox_mu)
            seen += len(idx)
        return {"train_loss": total_loss / max(seen, 1), "train_examples": float(seen)}
    for step in range(steps):
        if lr_factors is not None:
            for g in optimizer.param_groups:
                g["lr"] = g.get("base_lr", g["lr"]) * lr_factors[step]
        idx = stream.next()
        ids, mask, labels = stream.data.collate(idx)
        logits = model(ids, mask)
        loss = task_loss(restrict(logits, stream.data.label_mask(idx, logits.shape[-1])), labels)
        if prox:
            loss = loss + 0.5 * prox_mu * sum(((p - a) ** 2).sum() for p, a in prox)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total_loss += loss.item() * len(labels)
        seen += len(labels)
    return {"train_loss": total_loss / max(seen, 1), "train_examples": float(seen)}


@torch.inference_mode()
def evaluate_many(model: torch.nn.Module, sets: dict[str, TokenizedSet], batch_size: int) -> dict[str, dict[str, float]]:
    """``evaluate`` on every set with one model state, in batches drawn across all of them (sorted by
    length), so 205 languages' small test sets fill whole batches instead of 205 part-empty ones.
    The same examples and the same per-example predictions as one ``evaluate`` per set."""
    names = [k for k in sets if len(sets[k])]
    if len(names) <= 1:
        return {k: evaluate(model, sets[k], batch_size) for k in sets}
    whole = TokenizedSet.concat([sets[k] for k in names])
    owner = np.repeat(np.arange(len(names)), [len(sets[k]) for k in names])
    preds, losses = _predict(model, whole, batch_size)
    out = {k: evaluate(model, sets[k], batch_size) for k in sets if not len(sets[k])}
    for j, k in enumerate(names):
        rows = np.flatnonzero(owner == j)
        out[k] = scores(sets[k], [preds[i] for i in rows], float(losses[rows].sum()))
    return {k: out[k] for k in sets}


@torch.inference_mode()
def evaluate(model: torch.nn.Module, data: TokenizedSet, batch_size: int) -> dict[str, float]:
    """Accuracy, mean loss, the task's other metrics (``borderless.metrics``) and ``score`` (the set's
    ``metric``: what selection compares), batches sorted by length, no autograd."""
    preds, losses = _predict(model, data, batch_size)
    return scores(data, preds, float(losses.sum()))


def _predict(model: torch.nn.Module, data: TokenizedSet, batch_size: int) -> tuple[list, np.ndarray]:
    """Each example's prediction (a label index; a token task's: one tag per kept word) and summed loss."""
    model.eval()
    order = sorted(range(len(data)), key=lambda i: len(data.input_ids[i]))
    preds: list = [None] * len(data)
    losses = np.zeros(len(data))
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        ids, mask, labels = data.collate(idx)
        logits = model(ids, mask)
        logits = restrict(logits, data.label_mask(idx, logits.shape[-1]))
        per = task_loss(logits, labels, "none").double()
        best = logits.argmax(-1).numpy()
        if data.token_task:  # a row's loss: the sum over its words; its prediction: a tag per word
            per = per.reshape(labels.shape).sum(1)
            for row, i in enumerate(idx):
                preds[i] = best[row, data.word_starts[i]]
        else:
            for row, i in enumerate(idx):
                preds[i] = int(best[row])
        losses[idx] = per.numpy()
    return preds, losses


def scores(data: TokenizedSet, preds: list, loss_sum: float) -> dict[str, float]:
    from borderless.metrics import sentence_scores, token_scores

    if data.token_task:
        out = token_scores(data.tags, preds, data.label_names)
        out["loss"] = loss_sum / max(out["words"], 1)  # per word, as training's mean
    else:
        out = sentence_scores(np.asarray(data.labels), np.asarray(preds, dtype=np.int64))
        out["loss"] = loss_sum / max(len(data), 1)
    out["examples"] = float(len(data))
    out["score"] = out[data.metric]  # what dev selection and early stopping compare
    return out
