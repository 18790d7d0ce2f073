"""Labels for the app's own sliding windows, read off annotated events (onset, offset, type).

A window is *positive* for a class when it holds at least `min(MIN_EVENT_FRACTION x the event's length,
MIN_OVERLAP_S)` of an event of that class, *negative* when it touches none, and *ambiguous* in between (it holds a
sliver of an event: neither a fair positive nor a fair negative, so it neither trains nor scores the detector).

Why half the event, capped at 1 s: SPRSound's adventitious events are short (median wheeze 0.5 s, crackle 0.9 s,
90 % under 1.5 s), so with 2-s windows and a 1-s hop every event shorter than 1 s lies wholly inside at least one
window, and the windows holding at least half of it are the ones whose embedding it can move. A long event (a 3-s
stridor) labels every window holding a full second of it. The choice is measured against "any overlap" and "the
whole event" in the respiratory model card's ablation table.

Events are clipped to the recording: one that starts after the end labels nothing and is counted by the caller.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

POSITIVE, NEGATIVE, AMBIGUOUS = 1, 0, -1
MIN_EVENT_FRACTION = 0.5
MIN_OVERLAP_S = 1.0


@dataclass(frozen=True)
class Event:
    """One annotated (or detected) event; times in seconds from the start of the recording."""

    start_s: float
    end_s: float
    type: str

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def clip_events(events: tuple[Event, ...] | list[Event], duration_s: float) -> tuple[list[Event], int]:
    """Events cut to [0, duration]; returns them and how many lay wholly past the end (dropped)."""
    kept, dropped = [], 0
    for e in events:
        a, b = max(0.0, e.start_s), min(duration_s, e.end_s)
        if b <= a:
            dropped += 1
            continue
        kept.append(Event(a, b, e.type))
    return kept, dropped


def label_windows(
    starts_s: np.ndarray,
    window_s: float,
    duration_s: float,
    events: tuple[Event, ...] | list[Event],
    classes: Mapping[str, frozenset[str] | set[str] | tuple[str, ...]],
    *,
    min_fraction: float = MIN_EVENT_FRACTION,
    min_overlap_s: float = MIN_OVERLAP_S,
) -> np.ndarray:
    """[n_windows, n_classes] int8 in {POSITIVE, NEGATIVE, AMBIGUOUS}; `classes` maps each class to the event
    types it covers (a type may belong to several, e.g. "Wheeze+Crackle" to both CAS and DAS). A window's real
    extent ends at the recording's end (the zero padding of the last window holds no event)."""
    starts = np.asarray(starts_s, float)
    ends = np.minimum(starts + window_s, duration_s)
    names = list(classes)
    out = np.full((len(starts), len(names)), NEGATIVE, np.int8)
    kept, _ = clip_events(events, duration_s)
    for e in kept:
        overlap = np.clip(np.minimum(ends, e.end_s) - np.maximum(starts, e.start_s), 0.0, None)
        need = min(min_fraction * e.duration_s, min_overlap_s)
        touched = overlap > 1e-9
        positive = touched & (overlap >= need - 1e-9)
        for j, name in enumerate(names):
            if e.type not in classes[name]:
                continue
            col = out[:, j]
            col[positive] = POSITIVE
            col[touched & ~positive & (col != POSITIVE)] = AMBIGUOUS
    return out
