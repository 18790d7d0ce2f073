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
