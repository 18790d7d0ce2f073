"""The event timeline: where in a recording the window detector hears each kind of event.

Windows are 2 s long and start every hop (1 s), so every hop-long frame of the recording lies under one or two
windows. A frame's score for a class is the mean of the detector's probabilities of the usable windows covering it;
consecutive frames at or above the class's window threshold merge into one segment (onset, offset, type, the
highest frame score inside). The resolution is therefore the hop: a 0.4-s wheeze is reported as a 1-s or 2-s
segment around it. Frames under no usable window (silence, clipping) are never part of a segment.

`refine` then cuts each segment at the breathing pauses inside it and trims it to the sound it holds, from the
recording's 10-ms breath envelope (`core.windows.envelope`): the window detector says what and roughly where, the
envelope says where each breath's sound starts and stops.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.config import WINDOW_SECONDS


@dataclass(frozen=True)
class Segment:
    onset_s: float
    offset_s: float
    type: str  # a detector class
    probability: float  # highest frame score inside the segment

    @property
    def duration_s(self) -> float:
        return self.offset_s - self.onset_s

    def to_dict(self) -> dict:
        return {"onset_s": round(self.onset_s, 3), "offset_s": round(self.offset_s, 3), "type": self.type,
                "probability": round(self.probability, 4)}


@dataclass(frozen=True)
class Timeline:
    segments: tuple[Segment, ...]
    duration_s: float
    types: tuple[str, ...]  # the classes that make segments, in display order
    thresholds: dict[str, float]  # the window threshold each type's segments were cut at

    def of(self, kind: str) -> list[Segment]:
        return [s for s in self.segments if s.type == kind]

    def counts(self) -> dict[str, int]:
        return {t: len(self.of(t)) for t in self.types}

    def share(self) -> dict[str, float]:
        """Share of the recording inside a segment of each type."""
        d = max(self.duration_s, 1e-9)
        return {t: float(sum(s.duration_s for s in self.of(t)) / d) for t in self.types}

    def share_any(self) -> float:
        """Share of the recording inside a segment of any type (overlaps counted once)."""
        spans = sorted((s.onset_s, s.offset_s) for s in self.segments)
        total, end = 0.0, -np.inf
        for a, b in spans:
            if b <= end:
                continue
            total += b - max(a, end)
            end = b
        return float(total / max(self.duration_s, 1e-9))

    def summary(self, names: dict[str, str] | None = None) -> str:
        names = names or {}
        if not self.segments:
            return "no segments"
        parts = [f"{names.get(t, t)}: {n} segment(s), {self.share()[t]:.0%} of the recording"
                 for t, n in self.counts().items() if n]
        return "; ".join(parts)

    def to_dict(self) -> dict:
        return {"segments": [s.to_dict() for s in self.segments], "counts": self.counts(),
                "share": {t: round(v, 4) for t, v in self.share().items()}, "share_any": round(self.share_any(), 4),
                "thresholds": {t: round(v, 4) for t, v in self.thresholds.items()},
                "duration_s": round(self.duration_s, 3)}


@dataclass(frozen=True)
class Refinement:
    """How a segment is cut by the breath envelope: frames louder than `level` of the way from the recording's
    quiet (10th percentile) to its loud (90th percentile) level are sound; gaps shorter than `min_gap_s` are bridged
    and pieces shorter than `min_len_s` dropped. A segment with no sound frame is kept whole."""

    level: float
    min_gap_s: float = 0.15
    min_len_s: float = 0.1

    def to_dict(self) -> dict:
        return {"level": self.level, "min_gap_s": self.min_gap_s, "min_len_s": self.min_len_s}


def _runs(on: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index runs of True."""
    edges = np.diff(np.r_[0, on.astype(np.int8), 0])
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def refine(timeline: Timeline, envelope_db: np.ndarray, hop_s: float, rule: Refinement | None) -> Timeline:
    """`timeline` with each segment cut into the breaths' sounds inside it (see `Refinement`); unchanged without a
    rule or an envelope."""
    env = np.asarray(envelope_db, float)
    if rule is None or not len(env) or not timeline.segments:
        return timeline
    lo, hi = np.percentile(env, [10, 90])
    sound = env >= lo + rule.level * (hi - lo)
    gap, short = int(round(rule.min_gap_s / hop_s)), int(round(rule.min_len_s / hop_s))
    out: list[Segment] = []
    for seg in timeline.segments:
        a, b = int(seg.onset_s / hop_s), min(len(env), int(np.ceil(seg.offset_s / hop_s)))
        on = sound[a:b].copy()
        for s0, e0 in _runs(~on):  # bridge short pauses inside the segment
            if 0 < s0 and e0 < len(on) and e0 - s0 < gap:
                on[s0:e0] = True
        pieces = [(s0, e0) for s0, e0 in _runs(on) if e0 - s0 >= short]
        if not pieces:
            out.append(seg)
            continue
        out += [Segment(float(max(seg.onset_s, (a + s0) * hop_s)), float(min(seg.offset_s, (a + e0) * hop_s)),
                        seg.type, seg.probability) for s0, e0 in pieces]
    out.sort(key=lambda s: (s.onset_s, timeline.types.index(s.type)))
    return Timeline(tuple(out), timeline.duration_s, timeline.types, timeline.thresholds)


def frame_scores(window_probs: np.ndarray, starts_s: np.ndarray, usable: np.ndarray, duration_s: float,
                 hop_s: float, window_s: float = WINDOW_SECONDS) -> tuple[np.ndarray, np.ndarray]:
    """(frame starts [F], scores [F, k]): per hop-long frame, the mean probability of the usable windows covering
    it; NaN where no usable window does."""
    n_frames = max(1, int(np.ceil(duration_s / hop_s - 1e-9)))
    f_start = np.arange(n_frames) * hop_s
    f_end = np.minimum(f_start + hop_s, duration_s)
    k = window_probs.shape[1] if window_probs.ndim == 2 else 0
    sums, counts = np.zeros((n_frames, k)), np.zeros(n_frames)
    for p, s, ok in zip(window_probs, np.asarray(starts_s, float), np.asarray(usable, bool)):
        if not ok:
            continue
        covered = (f_start < s + window_s - 1e-9) & (f_end > s + 1e-9)
        sums[covered] += p
        counts[covered] += 1
    with np.errstate(invalid="ignore"):
        scores = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], np.nan)
    return f_start, scores


def build_timeline(window_probs: np.ndarray, starts_s: np.ndarray, usable: np.ndarray, duration_s: float,
                   classes: tuple[str, ...], thresholds: dict[str, float], types: tuple[str, ...], hop_s: float,
                   window_s: float = WINDOW_SECONDS) -> Timeline:
    """Segments of each class in `types` (a subset of `classes`) where frame scores reach `thresholds`."""
    f_start, scores = frame_scores(np.asarray(window_probs, float), starts_s, usable, duration_s, hop_s, window_s)
    segments: list[Segment] = []
    for t in types:
        j = classes.index(t)
        on = np.nan_to_num(scores[:, j], nan=-1.0) >= thresholds[t]
        i = 0
        while i < len(on):
            if not on[i]:
                i += 1
                continue
            e = i
            while e + 1 < len(on) and on[e + 1]:
                e += 1
            segments.append(Segment(float(f_start[i]), float(min(f_start[e] + hop_s, duration_s)), t,
                                    float(np.nanmax(scores[i:e + 1, j]))))
            i = e + 1
    segments.sort(key=lambda s: (s.onset_s, types.index(s.type)))
    return Timeline(tuple(segments), float(duration_s), tuple(types), {t: float(thresholds[t]) for t in types})
