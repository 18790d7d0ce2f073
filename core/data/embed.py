"""Turn labelled units into window embeddings, decoding each file once and caching embeddings by content."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from core.audio.decode import AudioDecodeError, decode_audio
from core.encoders.cache import EmbeddingCache
from core.config import DEFAULT_HOP_SECONDS, SAMPLE_RATE, WINDOW_SAMPLES, QualityThresholds, single_threaded_worker
from core.data.datasets import Unit
from core.encoders.base import Encoder
from core.quality.gate import WindowQuality, assess_windows, recording_floor
from core.windows.framing import Window, describe, frame, span_starts, tile_span, window_starts

#: How an annotated event becomes windows. "context": one 2-s window centred on the event with the sound around
#: it, as the app's sliding windows see it. "event": only the event, repeated to fill the window (the challenge's
#: event-level view). Whole-recording units have only the context view.
VIEWS = ("context", "event")


@dataclass
class EmbeddedSet:
    units: list[Unit]
    X: np.ndarray  # [n_windows, dim]
    unit_of: np.ndarray  # [n_windows] index into units
    usable: np.ndarray  # [n_windows] passed the quality gate
    skipped: list[tuple[str, str]] = field(default_factory=list)
    view: np.ndarray | None = None  # [n_windows] entry of VIEWS; None means all "context"
    unit_features: np.ndarray | None = None  # [n_units, m] extra per-unit inputs of pooled heads (core.heads.stacking)
    start_s: np.ndarray | None = None  # [n_windows] where each window starts in its recording
    rms_dbfs: np.ndarray | None = None  # [n_windows] the quality gate's level measurement
    clip_ratio: np.ndarray | None = None  # [n_windows] share of clipped samples
    duration_s: np.ndarray | None = None  # [n_units] length of the unit's recording

    def __post_init__(self) -> None:
        if self.view is None:
            self.view = np.full(len(self.X), "context", dtype=object)
        n = len(self.X)
        for name in ("start_s", "rms_dbfs", "clip_ratio"):
            if getattr(self, name) is None:
                setattr(self, name, np.zeros(n))
        if self.duration_s is None:
            self.duration_s = np.zeros(len(self.units))

    def pooled(self) -> np.ndarray:
        """Per-unit [mean, std] of all its windows (pooled heads see the whole recording, quality included),
        followed by any per-unit features."""
        pooled = pool_windows(self.X, self.unit_of, len(self.units))
        if self.unit_features is None:
            return pooled
        return np.concatenate([pooled, self.unit_features.astype(np.float32)], axis=1)

    def subset(self, keep_units: np.ndarray) -> "EmbeddedSet":
        keep_units = np.asarray(keep_units)
        remap = -np.ones(len(self.units), int)
        remap[keep_units] = np.arange(len(keep_units))
        m = remap[self.unit_of] >= 0
        return EmbeddedSet([self.units[i] for i in keep_units], self.X[m], remap[self.unit_of[m]], self.usable[m],
                           self.skipped, self.view[m],
                           None if self.unit_features is None else self.unit_features[keep_units],
                           self.start_s[m], self.rms_dbfs[m], self.clip_ratio[m], self.duration_s[keep_units])


def pool_windows(X: np.ndarray, unit_of: np.ndarray, n_units: int) -> np.ndarray:
    d = X.shape[1]
    counts = np.bincount(unit_of, minlength=n_units).astype(np.float64)[:, None]
    s = np.zeros((n_units, d))
    np.add.at(s, unit_of, X)
    mean = s / np.maximum(counts, 1)
    sq = np.zeros((n_units, d))
    np.add.at(sq, unit_of, X.astype(np.float64) ** 2)
    std = np.sqrt(np.maximum(sq / np.maximum(counts, 1) - mean**2, 0.0))
    return np.concatenate([mean, std], axis=1).astype(np.float32)


def unit_starts(u: Unit, n_samples: int, hop_s: float) -> np.ndarray:
    if u.start_s is None:
        return window_starts(n_samples, int(round(hop_s * SAMPLE_RATE)))
    return span_starts(n_samples, u.start_s, u.end_s or u.start_s, hop_s)


def units_by_file(units: list[Unit]) -> dict[str, list[int]]:
    by_file: dict[str, list[int]] = defaultdict(list)
    for i, u in enumerate(units):
        by_file[str(u.path)].append(i)
    return dict(by_file)


@dataclass(frozen=True)
class WindowPart:
    """The windows one unit contributes in one view, with what the quality gate measured on them."""

    unit: int  # index into the units
    view: str
    batch: np.ndarray  # [k, 32000]
    windows: list[Window]
    quality: list[WindowQuality]

    @property
    def usable(self) -> np.ndarray:
        return np.array([q.usable for q in self.quality], bool)


@dataclass(frozen=True)
class FileWindows:
    """Every window one file contributes, in the order they are embedded (one cache entry per file): the local
    path and the Ray workers (`core.data.embed_ray`) build exactly the same batch, so they share cache entries."""

    parts: list[WindowPart]
    kept: list[int]
    skipped: list[tuple[str, str]]
    duration_s: float = 0.0

    def batch(self) -> np.ndarray:
        return np.concatenate([p.batch for p in self.parts])


def file_windows(path: str, idx: list[int], units: list[Unit], views: tuple[str, ...], hop_s: float,
                 thresholds: QualityThresholds | None) -> FileWindows:
    try:
        audio = decode_audio(path)
    except AudioDecodeError as exc:
        return FileWindows([], [], [(units[i].uid, f"undecodable audio: {exc}") for i in idx])
    n = len(audio.samples)
    floor = recording_floor(audio.samples, thresholds)  # the gate sees the whole recording, as in analysis
    parts, kept, skipped = [], [], []
    for i in idx:
        u = units[i]
        if u.start_s is not None and u.start_s * SAMPLE_RATE >= n:
            skipped.append((u.uid, "event starts after the end of the recording"))
            continue
        for view in views if u.start_s is not None else ("context",):
            if view == "event":
                batch, wins = tile_span(audio.samples, u.start_s, u.end_s or u.start_s, hop_s)
            else:
                st = unit_starts(u, n, hop_s)
                batch, wins = frame(audio.samples, st), describe(st, n)
            if not len(batch):
                continue
            q = assess_windows(batch, wins, clip_has_full_window=n >= WINDOW_SAMPLES, th=thresholds, floor_dbfs=floor)
            parts.append(WindowPart(i, view, batch, wins, q))
        kept.append(i)
    return FileWindows(parts, kept, skipped, n / SAMPLE_RATE)


_WORKER: dict = {}  # a worker process's encoder and cache (`embed_units(jobs > 1)`)


def _init_worker(encoder: str, window_features: tuple[str, ...], cache_folder: str | None) -> None:
    """In each worker: one OpenMP thread (the workers are the parallelism), its own encoder and the shared disk
    cache (entries are keyed by content, so workers never write the same entry differently)."""
    from pathlib import Path

    single_threaded_worker()
    from core.encoders import get_encoder

    _WORKER["encoder"] = get_encoder(encoder, allow_download=False, window_features=window_features)
    _WORKER["cache"] = EmbeddingCache(Path(cache_folder) if cache_folder else None)


def _embed_file(args: tuple) -> tuple[FileWindows, np.ndarray | None]:
    """One file in a worker: its windows' description and embeddings (the samples stay in the worker)."""
    path, idx, units, views, hop_s, thresholds = args
    fw = file_windows(path, idx, units, views, hop_s, thresholds)
    emb = _WORKER["cache"].embed(_WORKER["encoder"], fw.batch()) if fw.parts else None
    light = [WindowPart(p.unit, p.view, np.zeros((len(p.windows), 0), np.float32), p.windows, p.quality)
             for p in fw.parts]
    return FileWindows(light, fw.kept, fw.skipped, fw.duration_s), emb


def _file_results(files: dict[str, list[int]], units: list[Unit], encoder: Encoder, cache: EmbeddingCache,
                  views: tuple[str, ...], hop_s: float, thresholds: QualityThresholds | None, jobs: int):
    """(FileWindows, embeddings) per file in the files' order: here, or in `jobs` worker processes, each given
    only its file's units, with at most two files per worker in flight."""
    if jobs <= 1 or len(files) < 2:
        for path, idx in files.items():
            fw = file_windows(path, idx, units, views, hop_s, thresholds)
            yield fw, cache.embed(encoder, fw.batch()) if fw.parts else None
        return
    import multiprocessing as mp
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor

    args = ((path, list(range(len(idx))), [units[i] for i in idx], views, hop_s, thresholds)
            for path, idx in files.items())
    with ProcessPoolExecutor(jobs, mp.get_context("spawn"), initializer=_init_worker,
                             initargs=(encoder.info.name, tuple(getattr(encoder, "window_features", ()) or ()),
                                       str(cache.folder) if cache.folder else None)) as ex:
        pending: deque = deque()
        idxs = iter(files.values())
        for a in args:
            pending.append((next(idxs), ex.submit(_embed_file, a)))
            while len(pending) >= 2 * jobs:
                yield _renumber(*pending.popleft())
        while pending:
            yield _renumber(*pending.popleft())


def _renumber(idx: list[int], future) -> tuple[FileWindows, np.ndarray | None]:
    """A worker numbered the file's units 0..k-1: back to their indices in the caller's list."""
    fw, emb = future.result()
    parts = [WindowPart(idx[p.unit], p.view, p.batch, p.windows, p.quality) for p in fw.parts]
    return FileWindows(parts, [idx[k] for k in fw.kept], fw.skipped, fw.duration_s), emb


def embed_units(
    units: list[Unit],
    encoder: Encoder,
    cache: EmbeddingCache,
    *,
    hop_s: float = DEFAULT_HOP_SECONDS,
    thresholds: QualityThresholds | None = None,
    progress: Callable[[int, int], None] | None = None,
    views: tuple[str, ...] = ("context",),
    jobs: int = 1,
) -> EmbeddedSet:
    """Windows of every unit in every requested view; each file is decoded once. `jobs` > 1 decodes, frames and
    embeds files in that many worker processes (the built-in encoder; the same windows and embeddings, in the same
    order); the cache, if on disk, is shared."""
    unknown = set(views) - set(VIEWS)
    if unknown:
        raise ValueError(f"unknown view(s) {sorted(unknown)}; choose from {VIEWS}")
    Xs, owners, usable, view_of, starts, rms, clip = [], [], [], [], [], [], []
    skipped: list[tuple[str, str]] = []
    kept: list[int] = []
    durations: list[float] = []
    files = units_by_file(units)
    results = _file_results(files, units, encoder, cache, views, hop_s, thresholds, jobs)
    for n_done, (fw, emb) in enumerate(results, 1):
        skipped += fw.skipped
        position = {i: len(kept) + k for k, i in enumerate(fw.kept)}  # unit index -> row of the embedded set
        for part in fw.parts:
            owners.append(np.full(len(part.batch), position[part.unit]))
            view_of.append(np.full(len(part.batch), part.view, dtype=object))
            usable.append(part.usable)
            starts.append(np.array([w.start_s for w in part.windows]))
            rms.append(np.array([q.rms_dbfs for q in part.quality]))
            clip.append(np.array([q.clip_ratio for q in part.quality]))
        kept += fw.kept
        durations += [fw.duration_s] * len(fw.kept)
        if emb is not None:
            Xs.append(emb)
        if progress:
            progress(n_done, len(files))
    dim = encoder.info.dim
    return EmbeddedSet(
        units=[units[i] for i in kept],
        X=np.concatenate(Xs) if Xs else np.zeros((0, dim), np.float32),
        unit_of=np.concatenate(owners).astype(int) if owners else np.zeros(0, int),
        usable=np.concatenate(usable) if usable else np.zeros(0, bool),
        skipped=skipped,
        view=np.concatenate(view_of) if view_of else np.zeros(0, dtype=object),
        start_s=np.concatenate(starts) if starts else np.zeros(0),
        rms_dbfs=np.concatenate(rms) if rms else np.zeros(0),
        clip_ratio=np.concatenate(clip) if clip else np.zeros(0),
        duration_s=np.asarray(durations, float),
    )
