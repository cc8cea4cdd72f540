"""Frozen features, computed once: the backbone's mean-pooled last hidden state of each sentence.

Forward-only (``torch.inference_mode``), batched by length, and cached on disk keyed by the
backbone (a fingerprint of its weights and name) and the exact token ids (which fix the text, the
input prefix and the max length). Reused across paradigms, seeds, runs and compare cells: the linear
probe (``borderless.probe``) and probe-initialised heads never run the backbone twice on a sentence.

Cache layout: ``<cache_dir>/features/<backbone key>/shard-*.safetensors``, each shard holding
``keys`` (sha1 of the token ids, uint8 [n, 20]) and ``features`` (float32 [n, hidden]). Shards are
written atomically (temporary file, then rename), so a killed run leaves no half-written shard.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np
import torch

from borderless.backbones.precision import frozen_dtype, running_in
from borderless.train import TokenizedSet


def backbone_key(name: str, model: torch.nn.Module) -> str:
    """Name + a fingerprint of the weights (so a changed or retrained backbone never reuses features)."""
    h = hashlib.sha1(name.encode())
    for pname, p in model.named_parameters():
        flat = p.detach().reshape(-1)
        h.update(pname.encode())
        h.update(np.float64(flat.double().sum()).tobytes())
        h.update(flat[:: max(1, flat.numel() // 64)][:64].float().numpy().tobytes())
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name.split("/")[-1])[:40]
    return f"{safe}-{h.hexdigest()[:16]}"


def ids_key(ids: list[int]) -> bytes:
    return hashlib.sha1(np.asarray(ids, dtype=np.int64).tobytes()).digest()


def word_key(ids, position: int) -> bytes:
    """A token task's feature key: the sentence's ids and the word's first sub-word position."""
    return hashlib.sha1(np.asarray(ids, dtype=np.int64).tobytes() + b"@" + str(position).encode()).digest()


def _pooled_backbone(model: torch.nn.Module, pooling: str = "mean"):
    from borderless.tuning.classifier import pool

    dtype = frozen_dtype(model)

    def run(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        with running_in(dtype, ids.device.type):
            hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state
        return pool(hidden.float(), mask, pooling)
    return run


@torch.inference_mode()
def _batched(pool, data: TokenizedSet, idx: list[int], batch_size: int) -> torch.Tensor:
    """``pool(ids, mask)`` over the rows ``idx`` in length-sorted batches, returned in ``idx`` order.
    A token task's: one row per kept word (its first sub-word's hidden state), the sentences' words
    one after the other in ``idx`` order."""
    order = sorted(range(len(idx)), key=lambda j: len(data.input_ids[idx[j]]))
    if data.token_task:
        rows: list = [None] * len(idx)
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            ids, mask, _ = data.collate([idx[j] for j in chunk])
            hidden = pool(ids, mask).float()
            for r, j in enumerate(chunk):
                rows[j] = hidden[r, torch.from_numpy(data.word_starts[idx[j]]).long()]
        return torch.cat(rows) if rows else torch.zeros(0)
    out = None
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        ids, mask, _ = data.collate([idx[j] for j in chunk])
        feats = pool(ids, mask).float()
        if out is None:
            out = torch.zeros(len(idx), feats.shape[1])
        out[chunk] = feats
    return out if out is not None else torch.zeros(0)


def pooled_features(model: torch.nn.Module, data: TokenizedSet, idx: list[int], batch_size: int,
                    pooling: str = "mean") -> torch.Tensor:
    """The last hidden state pooled over the real tokens (mean) or at the last real token (last): the
    same pooling as the classifier's head."""
    model.eval()
    return _batched(_pooled_backbone(model, pooling), data, idx, batch_size)


class FeatureStore:
    """Features of one backbone, on disk and in memory. ``get`` computes only what is missing.

    The cache folder grows with every run on that backbone, so opening it reads only each shard's
    keys; a feature is read from its shard when a run asks for it, and only then held in memory."""

    def __init__(self, folder: Path | None, model: torch.nn.Module, batch_size: int = 64, pooling: str = "mean"):
        self.folder = Path(folder) if folder else None
        self.model = model
        self.batch_size = batch_size
        self.pooling = pooling
        self._mem: dict[bytes, torch.Tensor] = {}
        self._on_disk: dict[bytes, tuple[Path, int]] = {}  # key → (shard, row), read on demand
        self.computed = 0  # sentences run through the backbone by this store (for tests and logs)
        if self.folder and self.folder.is_dir():
            from safetensors import safe_open

            for shard in sorted(self.folder.glob("shard-*.safetensors")):
                try:
                    with safe_open(shard, framework="pt") as fh:
                        keys = fh.get_tensor("keys").numpy()
                except Exception:  # noqa: BLE001 - a damaged shard is only a cache miss
                    continue
                for row, k in enumerate(keys):
                    self._on_disk[k.tobytes()] = (shard, row)

    def _read(self, keys: list[bytes]) -> None:
        """Bring the cached features of ``keys`` into memory, one read per shard."""
        from safetensors import safe_open

        by_shard: dict[Path, list[tuple[bytes, int]]] = {}
        for k in keys:
            if k not in self._mem and k in self._on_disk:
                shard, row = self._on_disk[k]
                by_shard.setdefault(shard, []).append((k, row))
        for shard, wanted in by_shard.items():
            try:
                with safe_open(shard, framework="pt") as fh:
                    feats = fh.get_tensor("features")
            except Exception:  # noqa: BLE001 - removed or damaged since: recompute
                continue
            for k, row in wanted:
                self._mem[k] = feats[row].clone()

    def get(self, data: TokenizedSet) -> torch.Tensor:
        """One feature row per example; a token task's: one per kept word, sentence after sentence (each
        keyed by the sentence's ids and the word's first sub-word position: the alignment)."""
        if data.token_task:
            return self._get_words(data)
        keys = [ids_key(ids) for ids in data.input_ids]
        self._read(keys)
        missing = sorted({i for i, k in enumerate(keys) if k not in self._mem}, key=lambda i: keys[i])
        missing = list({keys[i]: i for i in missing}.values())  # one forward per distinct sentence
        if missing:
            feats = pooled_features(self.model, data, missing, self.batch_size, self.pooling)
            self.computed += len(missing)
            new = {keys[i]: f for i, f in zip(missing, feats)}
            self._mem.update(new)
            self._save(new)
        if not keys:
            return torch.zeros(0, 0)
        return torch.stack([self._mem[k] for k in keys])

    def _get_words(self, data: TokenizedSet) -> torch.Tensor:
        keys = [[word_key(ids, int(p)) for p in starts] for ids, starts in zip(data.input_ids, data.word_starts)]
        flat = [k for ks in keys for k in ks]
        self._read(flat)
        missing = [i for i, ks in enumerate(keys) if any(k not in self._mem for k in ks)]
        missing = list({ids_key(data.input_ids[i]): i for i in missing}.values())  # one forward per distinct sentence
        if missing:
            feats = pooled_features(self.model, data, missing, self.batch_size, "token")
            new, row = {}, 0
            for i in missing:
                for k in keys[i]:
                    new[k] = feats[row]
                    row += 1
            self.computed += len(missing)
            self._mem.update(new)
            self._save(new)
        if not flat:
            return torch.zeros(0, 0)
        return torch.stack([self._mem[k] for k in flat])

    def _save(self, new: dict[bytes, torch.Tensor]) -> None:
        if not self.folder:
            return
        from safetensors.torch import save_file

        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            keys = torch.from_numpy(np.frombuffer(b"".join(new), dtype=np.uint8).reshape(len(new), 20).copy())
            name = hashlib.sha1(b"".join(sorted(new))).hexdigest()[:16]
            fd, tmp = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
            os.close(fd)
            save_file({"keys": keys, "features": torch.stack(list(new.values())).contiguous()}, tmp)
            os.replace(tmp, self.folder / f"shard-{name}.safetensors")
        except OSError:
            pass  # a cache that cannot be written only costs recomputation next time


def feature_store(cache_dir: Path | None, backbone_name: str, model: torch.nn.Module, batch_size: int = 64,
                  pooling: str = "mean") -> FeatureStore:
    """Mean-pooled features keep the folder they always had; other poolings get their own (a token task's
    per-word features sit beside the mean-pooled ones: their keys include the word's position)."""
    key = backbone_key(backbone_name, model) + ("" if pooling in ("mean", "token") else f"-{pooling}")
    key += "" if frozen_dtype(model) == torch.float32 else f"-{str(frozen_dtype(model)).removeprefix('torch.')}"
    folder = Path(cache_dir) / "features" / key if cache_dir else None
    return FeatureStore(folder, model, batch_size, pooling)


def start_features(classifier: torch.nn.Module, data: TokenizedSet, batch_size: int) -> torch.Tensor:
    """What the classifier's head sees before any training (a method's untrained prompt included):
    the features its LP-FT head is fitted on. Not cached: they depend on the method's seeded start."""
    classifier.eval()
    return _batched(classifier.pooled, data, list(range(len(data))), batch_size)


def return_free_memory() -> None:
    """Hand the heap pages that feature extraction freed back to the OS before training allocates its own
    (glibc's ``malloc_trim``; a no-op elsewhere): batches of many lengths leave freed memory in pieces.
    Measured with benchmarks/memory.py --stages: ~40 MiB less resident at the start of training with
    50 and 205 clients; most of what the probe stages hold stays in use."""
    import ctypes
    import ctypes.util

    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass

