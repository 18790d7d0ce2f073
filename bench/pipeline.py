"""End-to-end analysis cost by stage and duration, against a naive pipeline measured in the same run.

The naive baseline is what a first script would do: `librosa.load` with its defaults, then a Python loop that frames,
gates, embeds and classifies one window at a time, and a librosa-default mel spectrogram of the whole clip.
"""
from __future__ import annotations

import gc
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.answers.analyzer import Analyzer
from core.encoders.cache import EmbeddingCache
from core.config import SAMPLE_RATE, WINDOW_SAMPLES
from core.heads.recording import RecordingModelArtifact
from core.quality.gate import assess_windows, recording_floor
from core.timing import StageTimer
from core.windows.framing import describe, frame, window_starts

STAGES = ("decode", "resample", "windowing", "quality", "embedding", "heads", "projection", "spectrogram", "figures")


@dataclass(frozen=True)
class PipelineFigures:
    seconds: float  # recording duration
    stages: dict[str, float]  # wall seconds per stage, first (uncached) analysis
    total_s: float  # analysis + figures
    cached_s: float  # second analysis of the same file (embedding cache warm) + figures
    naive_s: float | None  # the naive pipeline on the same file (None when skipped)
    peak_mb: float  # Python-tracked peak memory of one analysis (NumPy arrays included)


def recording(path: Path, seconds: float, rate: int = 44_100) -> Path:
    """Breath-like noise with wheeze-like tones, at a device's rate (so resampling is part of the cost)."""
    import soundfile as sf

    rng = np.random.default_rng(int(seconds))
    t = np.arange(int(seconds * rate)) / rate
    breath = 0.5 * (1 + np.sin(2 * np.pi * 0.3 * t))
    x = 0.05 * rng.standard_normal(len(t)) * breath + 0.02 * np.sin(2 * np.pi * 420 * t) * (breath > 1.2)
    sf.write(path, x.astype(np.float32), rate, subtype="PCM_16")
    return path


def cry_recording(path: Path, seconds: float, rate: int = 44_100) -> Path:
    """Cry-like bursts: a 450-Hz voiced tone with vibrato and harmonics, 1.2 s on and 0.6 s off, over room noise."""
    import soundfile as sf

    rng = np.random.default_rng(int(seconds) + 1)
    t = np.arange(int(seconds * rate)) / rate
    f0 = 450.0 * (1 + 0.05 * np.sin(2 * np.pi * 5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voice = sum(np.sin(k * phase) / k for k in range(1, 5)) * ((t % 1.8) < 1.2)
    x = 0.2 * voice + 0.005 * rng.standard_normal(len(t))
    sf.write(path, x.astype(np.float32), rate, subtype="PCM_16")
    return path


def analysis_seconds(analyzer: Analyzer, path: Path, repeats: int = 3, threads: int | None = None) -> float:
    """Median wall time of an uncached in-process analysis with the models loaded (what the speed targets are
    about), on `threads` analysis threads (default: as configured, every core)."""
    import os

    before = os.environ.get("HEAR_SCREENING_THREADS")
    if threads is not None:
        os.environ["HEAR_SCREENING_THREADS"] = str(threads)
    try:
        times = []
        for _ in range(repeats):
            analyzer.cache = EmbeddingCache()
            t0 = time.perf_counter()
            analyzer.analyze(path, name=path.name)
            times.append(time.perf_counter() - t0)
    finally:
        if before is None:
            os.environ.pop("HEAR_SCREENING_THREADS", None)
        else:
            os.environ["HEAR_SCREENING_THREADS"] = before
        analyzer.cache = EmbeddingCache()
    return float(np.median(times))


def naive_seconds(analyzer: Analyzer, path: Path) -> float:
    t0 = time.perf_counter()
    naive(analyzer, path)
    return time.perf_counter() - t0


def figures(analyzer: Analyzer, result) -> None:
    """What the Analyze page builds for a result: the spectrogram with the window track, and the PCA placement."""
    from ui.figures import pca_placement, spectrogram_with_track

    track = next(h for h in result.heads.values() if h.window_probs is not None)
    spectrogram_with_track(result, track).to_dict()
    for name, placement in result.placements.items():
        pca_placement(placement, analyzer.artifact_of(result, name).projection, "unit").to_dict()


def analyze_once(analyzer: Analyzer, path: Path, timer: StageTimer) -> None:
    result = analyzer.analyze(path, name=path.name, timer=timer)
    with timer.stage("figures"):
        figures(analyzer, result)


def naive(analyzer: Analyzer, path: Path) -> None:
    import librosa

    x, _ = librosa.load(path, sr=SAMPLE_RATE, mono=True)  # librosa defaults (soxr_hq resampling)
    starts = window_starts(len(x), SAMPLE_RATE)
    wins = describe(starts, len(x))
    embs, quality = [], []
    floor = recording_floor(x, analyzer.thresholds)  # one per recording, as the gate defines it
    for i, s in enumerate(starts):
        w = frame(x, np.array([s]))
        quality += assess_windows(w, [wins[i]], clip_has_full_window=len(x) >= WINDOW_SAMPLES,
                                  th=analyzer.thresholds, floor_dbfs=floor)
        e = analyzer.encoder.embed(w)
        for art in analyzer.heads.values():
            if isinstance(art, RecordingModelArtifact):
                art.window_probabilities(e)
            elif not art.pooled:
                art.probabilities(e)
        embs.append(e)
    emb = np.concatenate(embs)
    usable = np.array([q.usable for q in quality], bool)
    for art in analyzer.heads.values():
        if isinstance(art, RecordingModelArtifact):  # the recording answers from the same windows
            art.analyse(emb, usable, np.array([q.rms_dbfs for q in quality]),
                        np.array([q.clip_ratio for q in quality]), len(x) / SAMPLE_RATE)
        elif art.pooled:
            art.probabilities(art.pooled_features(emb, usable))
    librosa.power_to_db(librosa.feature.melspectrogram(y=x, sr=SAMPLE_RATE))


def measure(analyzer: Analyzer, path: Path, seconds: float, with_naive: bool = True) -> PipelineFigures:
    analyzer.cache = EmbeddingCache()  # uncached first analysis
    gc.collect()
    timer = StageTimer()
    t0 = time.perf_counter()
    analyze_once(analyzer, path, timer)
    total = time.perf_counter() - t0
    t0 = time.perf_counter()
    analyze_once(analyzer, path, StageTimer())  # same file again: embeddings come from the cache
    cached = time.perf_counter() - t0
    naive_s = naive_seconds(analyzer, path) if with_naive else None
    analyzer.cache = EmbeddingCache()
    gc.collect()
    tracemalloc.start()
    try:
        analyzer.analyze(path, name=path.name)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return PipelineFigures(seconds, {k: timer.seconds.get(k, 0.0) for k in STAGES}, total, cached, naive_s,
                           peak / 1e6)
