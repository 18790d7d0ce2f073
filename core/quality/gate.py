"""Quality gate: windows that are silent, clipped, mostly padding or (cry task) hold no crying do not vote, and the
reason is kept."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.config import SAMPLE_RATE, QualityThresholds
from core.windows.framing import Window

SILENT = "silent"
CLIPPED = "clipped"
PADDING = "mostly padding"
NO_CRY = "no crying"


@dataclass(frozen=True)
class WindowQuality:
    rms_dbfs: float
    peak: float
    clip_ratio: float
    flags: tuple[str, ...]
    cry_voicing: float | None = None  # share of loud frames voiced in the cry pitch range (cry task only)

    @property
    def usable(self) -> bool:
        return not self.flags

    def reason(self) -> str:
        return ", ".join(self.flags)


@dataclass(frozen=True)
class ClipQuality:
    duration_s: float
    rms_dbfs: float
    clip_ratio: float
    short: bool  # shorter than one window: analysed as one zero-padded window
    too_short: bool  # too short to analyse at all
    usable_windows: int
    total_windows: int
    flag_counts: dict[str, int]

    def summary(self) -> str:
        parts = [f"{self.usable_windows}/{self.total_windows} windows usable"]
        parts += [f"{n} {flag}" for flag, n in self.flag_counts.items() if n]
        if self.short:
            parts.append(f"clip is {self.duration_s:.2f} s, shorter than one 2-s window (zero-padded)")
        return "; ".join(parts)


def _dbfs(rms: np.ndarray) -> np.ndarray:
    return 20.0 * np.log10(np.maximum(rms, 1e-10))


FLOOR_FRAME = 1024  # 64 ms at 16 kHz
FLOOR_PERCENTILE = 10.0
VOICING_BATCH = 16  # windows per batch of the cry-voicing measure (batches run side by side, core.threads)


def noise_floor_dbfs(samples: np.ndarray) -> float | None:
    """The recording's background level: the 10th percentile of its 64-ms frame levels (floored at -120 dBFS, so
    digital silence between bouts reads as a very low background). Cries come in bouts with breaths between them,
    so even a recording that is all crying has quiet frames."""
    x = np.asarray(samples, np.float32)
    m = len(x) // FLOOR_FRAME
    if m == 0:
        return None
    power = np.mean(np.square(x[: m * FLOOR_FRAME].reshape(m, FLOOR_FRAME), dtype=np.float64), axis=1)
    levels = 10.0 * np.log10(np.maximum(power, 1e-12))
    return float(np.percentile(levels, FLOOR_PERCENTILE))


def recording_floor(samples: np.ndarray, th: QualityThresholds | None) -> float | None:
    """The floor `assess_windows` needs for this recording: measured only when the task's gate adapts to it
    (`th` None is the default gate, which does not)."""
    return noise_floor_dbfs(samples) if th is not None and th.above_floor_db is not None else None


def silence_level(th: QualityThresholds, floor_dbfs: float | None) -> float:
    """The level below which a window is silence: fixed, or relative to the recording's own floor when the task's
    gate adapts (never below the fixed level)."""
    if th.above_floor_db is None or floor_dbfs is None:
        return th.silence_dbfs
    return max(th.silence_dbfs, floor_dbfs + th.above_floor_db)


def assess_windows(
    batch: np.ndarray, windows: list[Window], clip_has_full_window: bool, th: QualityThresholds | None = None,
    floor_dbfs: float | None = None,
) -> list[WindowQuality]:
    """Measure level and clipping on the real-audio part of each window (padding is not counted as silence).
    `floor_dbfs`: the whole recording's `noise_floor_dbfs`, for a gate that adapts to it."""
    th = th or QualityThresholds()
    silent_below = silence_level(th, floor_dbfs)
    voicing = [None] * len(windows)
    if th.min_cry_voicing is not None and len(windows):
        from core.quality.cry_activity import cry_voicing
        from core.threads import map_batches

        voicing = map_batches(cry_voicing, VOICING_BATCH, np.asarray(batch, np.float32),
                              np.array([w.content_s for w in windows])).tolist()
    out = []
    for x, w, v in zip(batch, windows, voicing):
        n = max(1, int(round(w.content_s * SAMPLE_RATE)))
        seg = x[:n]
        rms = float(np.sqrt(np.mean(np.square(seg, dtype=np.float64))))
        peak = float(np.max(np.abs(seg)))
        clip_ratio = float(np.mean(np.abs(seg) >= th.clip_level))
        flags = []
        level = float(_dbfs(np.asarray(rms)))
        if level < th.silence_dbfs:
            flags.append(SILENT)
        elif level < silent_below:  # sound, but nothing above the recording's own background
            flags.append(NO_CRY if th.min_cry_voicing is not None else SILENT)
        if clip_ratio > th.max_clip_ratio:
            flags.append(CLIPPED)
        if clip_has_full_window and w.content_s < th.min_window_content_s:
            flags.append(PADDING)
        if v is not None and v < th.min_cry_voicing and not {SILENT, NO_CRY} & set(flags):
            flags.append(NO_CRY)
        out.append(WindowQuality(level, peak, clip_ratio, tuple(flags), v))
    return out


def assess_clip(
    samples: np.ndarray, per_window: list[WindowQuality], th: QualityThresholds | None = None
) -> ClipQuality:
    th = th or QualityThresholds()
    duration = len(samples) / SAMPLE_RATE
    counts: dict[str, int] = {}
    for q in per_window:
        for f in q.flags:
            counts[f] = counts.get(f, 0) + 1
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if len(samples) else 0.0
    return ClipQuality(
        duration_s=duration,
        rms_dbfs=float(_dbfs(np.asarray(rms))),
        clip_ratio=float(np.mean(np.abs(samples) >= th.clip_level)) if len(samples) else 0.0,
        short=duration < 2.0,
        too_short=duration < th.min_clip_seconds,
        usable_windows=sum(q.usable for q in per_window),
        total_windows=len(per_window),
        flag_counts=counts,
    )
