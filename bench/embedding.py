"""Encoder throughput: batched versus one window at a time, windows/s by batch size, cached versus uncached.

HeAR is measured on the stand-in SavedModel with HeAR's exact signature (tests/standin_hear.py), loaded by the
unchanged production loader; its figures show the loader's batching and call overhead, not the cost of HeAR's ViT.
"""
from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.encoders.cache import EmbeddingCache
from core.config import WINDOW_SAMPLES


@dataclass(frozen=True)
class EncoderFigures:
    encoder: str
    device: str
    batched_wps: float  # windows/s at the encoder's own batch size
    one_at_a_time_wps: float
    by_batch_size: dict[int, float]  # windows/s
    uncached_s: float  # embedding a 60-s recording's windows through the cache, first time
    cached_s: float  # the same again


def windows(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.1 * rng.standard_normal((n, WINDOW_SAMPLES))).astype(np.float32)


def _rate(fn, n: int, repeat: int = 2) -> float:
    best = float("inf")
    for _ in range(repeat):  # best of `repeat`: the least disturbed run
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return n / best


def measure(encoder, n: int = 128, sizes=(1, 4, 16, 64, 256)) -> EncoderFigures:
    x = windows(max(n, max(sizes)))
    encoder.embed(x[:4])  # warm up (graph tracing, filter banks)
    default = int(getattr(encoder, "batch_size", 64))
    batched = _rate(lambda: encoder.embed(x[:n]), n)
    single = _rate(lambda: [encoder.embed(x[i:i + 1]) for i in range(n)], n, repeat=1)
    by_size = {}
    for b in sizes:
        encoder.batch_size = b
        m = max(b, 64)
        by_size[b] = _rate(lambda: encoder.embed(x[:m]), m, repeat=3)
    encoder.batch_size = default
    clip = windows(59, seed=1)  # a 60-s recording at hop 1 s
    cache = EmbeddingCache()
    t0 = time.perf_counter()
    cache.embed(encoder, clip)
    uncached = time.perf_counter() - t0
    t0 = time.perf_counter()
    cache.embed(encoder, clip)
    cached = time.perf_counter() - t0
    return EncoderFigures(encoder.info.name, getattr(encoder, "device", "CPU"), batched, single, by_size, uncached,
                          cached)


def standin_hear():
    """The production HeAR encoder on a stand-in SavedModel built in a temporary folder (imports TensorFlow)."""
    from core.encoders import get_encoder, reset_encoders
    from tests.standin_hear import build

    folder = Path(tempfile.mkdtemp(prefix="hear-standin-")) / "model"
    build(folder)
    os.environ["HEAR_MODEL_DIR"] = str(folder)
    reset_encoders()
    return get_encoder("hear", allow_download=False)
