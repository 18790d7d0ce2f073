"""Cut audio into HeAR-sized windows (exactly 32 000 samples) that remember where they came from."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from core.config import DEFAULT_HOP_SECONDS, SAMPLE_RATE, WINDOW_SAMPLES


@dataclass(frozen=True)
class Window:
    index: int
    start_s: float
    end_s: float  # nominal end (start + 2 s), may lie past the end of the audio
    content_s: float  # seconds of real audio inside the window; the rest is zero padding

    @property
    def padded(self) -> bool:
        return self.content_s < (self.end_s - self.start_s) - 1e-9


def window_starts(n_samples: int, hop_samples: int, win: int = WINDOW_SAMPLES) -> np.ndarray:
    """Starts so that every sample is covered; the last window may run past the end (then zero-padded)."""
    if hop_samples <= 0:
        raise ValueError("hop must be positive")
    if n_samples <= win:
        return np.zeros(1, dtype=np.int64)
    count = 1 + math.ceil((n_samples - win) / hop_samples)
    return np.arange(count, dtype=np.int64) * hop_samples


def frame(samples: np.ndarray, starts: np.ndarray, win: int = WINDOW_SAMPLES) -> np.ndarray:
    """Gather windows at the given starts into a [n, win] float32 array, zero-padding past the end. Memory is the
    output only (no index array, no padded copy of the recording), so long recordings can be framed chunk by chunk."""
    x = np.asarray(samples, dtype=np.float32)
    out = np.zeros((len(starts), win), dtype=np.float32)
    for i, s in enumerate(np.asarray(starts, dtype=np.int64).tolist()):
        seg = x[s: s + win]
        out[i, : len(seg)] = seg
    return out


def short_frames(x: np.ndarray, length: int, hop: int) -> np.ndarray:
    """The short-time frames of a batch of windows: [n, samples] -> [n, frames, length] (every frame whole; the
    features of every encoder and of the quality gate read their frames through this one indexing)."""
    n_frames = 1 + (x.shape[1] - length) // hop
    return x[:, np.arange(n_frames)[:, None] * hop + np.arange(length)[None, :]]


@dataclass(frozen=True)
class SharedFrames:
    """The short-time frames of a batch of windows with each distinct frame once: row i's frame t is
    `frames[index[i, t]]`."""

    frames: np.ndarray  # [U, length]
    index: np.ndarray  # [n, T] int

    def per_window(self, v: np.ndarray) -> np.ndarray:
        """A per-frame measure [U, ...] laid out per window: [n, T, ...]."""
        return v[self.index]


def shared_frames(x: np.ndarray, length: int, hop: int) -> SharedFrames:
    """`short_frames`, computed once where consecutive windows overlap. A recording's windows at a 1-s hop share
    half their samples; where the next window continues this one by a whole number of hops (found from the
    samples themselves, so any batch is safe: the cache's misses, an event's windows, a live chunk), its first
    frames are this window's last ones, and every per-frame transform on the shared frames costs about half."""
    x = np.asarray(x)
    n, width = x.shape
    n_frames = 1 + (width - length) // hop
    if n == 0:
        return SharedFrames(np.zeros((0, length), x.dtype), np.zeros((0, n_frames), np.int64))
    seg_starts, offsets = [0], np.zeros(n, np.int64)  # row i starts offsets[i] frames into its segment
    pieces = [x[0]]
    for i in range(1, n):
        d = _continuation(x[i - 1], x[i], length, hop)
        if d:
            offsets[i] = offsets[i - 1] + d // hop
            pieces.append(x[i, width - d:])
        else:
            seg_starts.append(i)
            pieces.append(x[i])
    frames, index, base = [], np.empty((n, n_frames), np.int64), 0
    bounds = seg_starts + [n]
    for a, b in zip(bounds[:-1], bounds[1:]):
        seg = np.concatenate(pieces[a:b])
        fr = short_frames(seg[None], length, hop)[0]
        frames.append(fr)
        index[a:b] = base + offsets[a:b, None] + np.arange(n_frames)[None, :]
        base += len(fr)
    shared = np.concatenate(frames)
    if n > 1:  # laid out as `short_frames` lays out a batch (window axis innermost), so sums along a frame
        shared = np.ascontiguousarray(shared.T).T  # run in the same order and give the same bits
    return SharedFrames(shared, index)


def _continuation(prev: np.ndarray, nxt: np.ndarray, length: int, hop: int) -> int:
    """Samples by which `nxt` continues `prev` on the frame grid (a multiple of `hop`, sharing at least one whole
    frame), or 0: the smallest d with nxt[:-d] == prev[d:]."""
    width = len(prev)
    grid = np.arange(hop, width - length + 1, hop)
    for d in grid[prev[grid] == nxt[0]]:
        if np.array_equal(prev[d:], nxt[: width - d]):
            return int(d)
    return 0


def plan_windows(
    n_samples: int, hop_s: float = DEFAULT_HOP_SECONDS, sr: int = SAMPLE_RATE
) -> tuple[np.ndarray, list[Window]]:
    """Whole-clip window starts and their descriptions, without the samples: inference frames them chunk by chunk."""
    starts = window_starts(n_samples, int(round(hop_s * sr)))
    return starts, describe(starts, n_samples, sr)


def make_windows(
    samples: np.ndarray, hop_s: float = DEFAULT_HOP_SECONDS, sr: int = SAMPLE_RATE
) -> tuple[np.ndarray, list[Window]]:
    """Whole-clip windowing (the plan inference uses), framed at once."""
    starts, windows = plan_windows(len(samples), hop_s, sr)
    return frame(samples, starts), windows


def describe(starts: np.ndarray, n_samples: int, sr: int = SAMPLE_RATE, win: int = WINDOW_SAMPLES) -> list[Window]:
    out = []
    for i, s in enumerate(starts.tolist()):
        content = max(0, min(win, n_samples - s))
        out.append(Window(index=i, start_s=s / sr, end_s=(s + win) / sr, content_s=content / sr))
    return out


def span_starts(
    n_samples: int, start_s: float, end_s: float, hop_s: float = DEFAULT_HOP_SECONDS, sr: int = SAMPLE_RATE
) -> np.ndarray:
    """Window starts for an annotated span (an event).

    A span shorter than 2 s gets one window centred on it, filled with the surrounding real audio (as the app sees
    it) rather than zeros; it is clamped to the recording. A longer span is covered by hop-spaced windows whose last
    one is aligned to the span's end, so no window leaves the span.
    """
    win = WINDOW_SAMPLES
    a = max(0, int(round(start_s * sr)))
    b = min(n_samples, int(round(end_s * sr)))
    if b - a <= win:
        centre = (a + b) // 2
        s = min(max(0, centre - win // 2), max(0, n_samples - win))
        return np.array([s], dtype=np.int64)
    hop = int(round(hop_s * sr))
    starts = list(range(a, b - win + 1, hop))
    if starts[-1] != b - win:
        starts.append(b - win)
    return np.asarray(starts, dtype=np.int64)


def tile_span(
    samples: np.ndarray, start_s: float, end_s: float, hop_s: float = DEFAULT_HOP_SECONDS, sr: int = SAMPLE_RATE
) -> tuple[np.ndarray, list[Window]]:
    """The event-only view of an annotated span, the way the BioCAS challenge scores events.

    A span shorter than 2 s is repeated end to end until it fills one window, so the window holds nothing but the
    event (a 0.4-s wheeze centred in 2 s of breathing is a small part of what the encoder summarises); a longer
    span is cut like `span_starts`. Returns an empty batch when the span holds no audio.
    """
    win = WINDOW_SAMPLES
    a = max(0, int(round(start_s * sr)))
    b = min(len(samples), int(round(end_s * sr)))
    if b - a <= 0:
        return np.zeros((0, win), np.float32), []
    if b - a > win:
        starts = span_starts(len(samples), start_s, end_s, hop_s, sr)
        return frame(samples, starts), describe(starts, len(samples), sr)
    seg = np.asarray(samples[a:b], dtype=np.float32)
    tiled = np.resize(seg, win)  # np.resize repeats the segment cyclically
    return tiled[None, :], [Window(index=0, start_s=a / sr, end_s=a / sr + win / sr, content_s=win / sr)]
