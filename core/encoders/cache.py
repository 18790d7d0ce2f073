"""Embedding cache keyed by window content + encoder identity, so the same audio is never embedded twice.

The key hashes the exact [n, 32000] batch handed to the encoder, so it already covers the decoded content, the
window length, the hop and any padding; the encoder identity (name, feature version, weights fingerprint) keeps
two encoders or two versions apart. Only embeddings are stored, never audio.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from core.encoders.base import Encoder


def cache_key(windows: np.ndarray, encoder_identity: str) -> str:
    h = hashlib.blake2b(digest_size=20)
    h.update(encoder_identity.encode())
    h.update(np.asarray(windows.shape, np.int64).tobytes())
    h.update(np.ascontiguousarray(windows, dtype=np.float32).tobytes())
    return h.hexdigest()


class EmbeddingCache:
    """In-memory LRU, optionally backed by a folder of .npy files (the CLIs use disk; the app keeps memory only)."""

    def __init__(self, folder: Path | None = None, max_items: int = 256):
        self.folder = folder
        self.max_items = max_items
        self._mem: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def _path(self, key: str) -> Path:
        assert self.folder is not None
        return self.folder / key[:2] / f"{key}.npy"

    def get(self, key: str) -> np.ndarray | None:
        with self._lock:
            if key in self._mem:
                self._mem.move_to_end(key)
                return self._mem[key]
        if self.folder is not None:
            p = self._path(key)
            if p.is_file():
                try:
                    arr = np.load(p, allow_pickle=False)
                except (OSError, ValueError):
                    return None  # a torn write from a killed process: recompute
                self._remember(key, arr)
                return arr
        return None

    def on_disk(self, key: str) -> bool:
        """Whether a finished entry exists in the folder (distributed fills check this to resume)."""
        return self.folder is not None and self._path(key).is_file()

    def put(self, key: str, value: np.ndarray) -> None:
        self._remember(key, value)
        if self.folder is not None:
            p = self._path(key)
            p.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=p.parent, suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                np.save(f, value, allow_pickle=False)
            os.replace(tmp, p)  # atomic: concurrent writers never leave a half file behind

    def _remember(self, key: str, value: np.ndarray) -> None:
        with self._lock:
            self._mem[key] = value
            self._mem.move_to_end(key)
            while len(self._mem) > self.max_items:
                self._mem.popitem(last=False)

    def embed(self, encoder: Encoder, windows: np.ndarray) -> np.ndarray:
        key = cache_key(windows, encoder.info.identity)
        hit = self.get(key)
        if hit is not None and hit.shape == (len(windows), encoder.info.dim):
            self.hits += 1
            return hit
        self.misses += 1
        emb = np.asarray(encoder.embed(windows), dtype=np.float32)
        self.put(key, emb)
        return emb
