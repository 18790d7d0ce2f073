"""Event-based scoring of a timeline against annotated events (sound event detection metrics).

Two matching criteria, both one-to-one per class (each reference and each detected segment is used at most once,
as in sed_eval's event-based metrics, Mesaros et al. 2016):

- *overlap*: a segment and a reference event of the same class match when they overlap in time; pairs are taken in
  order of decreasing overlap. This is what a clinician checks on the timeline ("is the wheeze inside a wheeze
  segment?").
- *onset*: they match when the segment's onset is within `collar_s` of the reference's onset (1 s, the timeline's
  resolution: a hop).
- *onset_offset*: sed_eval's event-based rule with DESED's collars (onset within 200 ms, offset within 200 ms or
  20 % of the event's length): the criterion of the sound event detection literature, reported with its F-score and
  error rate (deletions + insertions over reference events). A 1-s timeline rarely meets 200-ms collars; the figure
  says how far its resolution is from event boundaries.

Precision, recall and F1 are micro-averaged over recordings; 95 % intervals come from a cluster bootstrap over
patients. A merged segment covering three crackle events in consecutive breaths matches one of them: the rest
count as missed, which the per-recording summary (any event found?) complements.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np

from core.decisions.timeline import Segment
from core.windows.labels import Event, clip_events

CRITERIA = ("overlap", "onset", "onset_offset")
ONSET_COLLAR_S = 1.0
#: sed_eval's event-based collars as DCASE's DESED evaluation sets them (also used for SPRSound 2024 detection
#: results): onset within 200 ms, offset within 200 ms or 20 % of the reference event's length, whichever is longer
SED_T_COLLAR_S = 0.2
SED_OFFSET_SHARE = 0.2


@dataclass(frozen=True)
class Counts:
    tp: int
    fp: int
    fn: int

    def __add__(self, other: "Counts") -> "Counts":
        return Counts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)


def match(references: list[Event], detections: list[Segment], criterion: str = "overlap",
          collar_s: float = ONSET_COLLAR_S) -> Counts:
    """One class, one recording: greedy one-to-one matching (best pairs first)."""
    if criterion not in CRITERIA:
        raise ValueError(f"unknown criterion {criterion!r}; choose from {CRITERIA}")
    pairs = []
    for i, r in enumerate(references):
        for j, d in enumerate(detections):
            if criterion == "overlap":
                ov = min(r.end_s, d.offset_s) - max(r.start_s, d.onset_s)
                if ov > 0:
                    pairs.append((-ov, i, j))
            elif criterion == "onset":
                dist = abs(r.start_s - d.onset_s)
                if dist <= collar_s + 1e-9:
                    pairs.append((dist, i, j))
            else:
                on, off = abs(r.start_s - d.onset_s), abs(r.end_s - d.offset_s)
                if on <= SED_T_COLLAR_S + 1e-9 and off <= max(SED_T_COLLAR_S,
                                                               SED_OFFSET_SHARE * (r.end_s - r.start_s)) + 1e-9:
                    pairs.append((on + off, i, j))
    pairs.sort()
    used_r, used_d = set(), set()
    for _, i, j in pairs:
        if i in used_r or j in used_d:
            continue
        used_r.add(i)
        used_d.add(j)
    tp = len(used_r)
    return Counts(tp, len(detections) - tp, len(references) - tp)


def recording_counts(events: Iterable[Event], segments: Iterable[Segment], duration_s: float,
                     classes: Mapping[str, frozenset[str]], types: tuple[str, ...], criterion: str = "overlap"
                     ) -> dict[str, Counts]:
    """Per class: reference events of the types the class covers (clipped to the recording) against its segments."""
    kept, _ = clip_events(list(events), duration_s)
    segs = list(segments)
    return {t: match([e for e in kept if e.type in classes[t]], [s for s in segs if s.type == t], criterion)
            for t in types}


def error_rate(c: Counts) -> float:
    """sed_eval's event-based error rate of one class: (deletions + insertions) / reference events; NaN without
    reference events (undefined, shown as "–")."""
    n = c.tp + c.fn
    return (c.fn + c.fp) / n if n else float("nan")


def _prf(c: Counts) -> tuple[float, float, float]:
    p = c.tp / (c.tp + c.fp) if c.tp + c.fp else float("nan")
    r = c.tp / (c.tp + c.fn) if c.tp + c.fn else float("nan")
    f = 2 * c.tp / (2 * c.tp + c.fp + c.fn) if (2 * c.tp + c.fp + c.fn) else float("nan")
    return p, r, f


def event_scores(per_recording: list[dict[str, Counts]], groups: np.ndarray, types: tuple[str, ...], *, split: str,
                 criterion: str, n_boot: int = 1000, seed: int = 0) -> dict:
    """Micro precision/recall/F1 per class, with patient-cluster bootstrap intervals."""
    groups = np.asarray(groups)
    ug, inv = np.unique(groups, return_inverse=True)
    out: dict = {"split": split, "criterion": criterion, "collar_s": ONSET_COLLAR_S if criterion == "onset" else None,
                 "n_recordings": len(per_recording), "n_groups": int(len(ug)), "classes": {}}
    rng = np.random.default_rng(seed)
    boots = [rng.integers(0, len(ug), len(ug)) for _ in range(n_boot)]
    for t in types:
        per_group = [Counts(0, 0, 0) for _ in ug]
        for c, g in zip(per_recording, inv):
            per_group[g] = per_group[g] + c[t]
        total = sum(per_group, Counts(0, 0, 0))
        p, r, f = _prf(total)
        samples = []
        for pick in boots:
            samples.append(_prf(sum((per_group[g] for g in pick), Counts(0, 0, 0))))
        s = np.array(samples, float)

        def ci(col: int) -> list[float] | None:
            v = s[:, col][np.isfinite(s[:, col])]
            return [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))] if len(v) >= 20 else None

        out["classes"][t] = {"precision": p, "recall": r, "f1": f, "tp": total.tp, "fp": total.fp, "fn": total.fn,
                             "ci95": {"precision": ci(0), "recall": ci(1), "f1": ci(2)}}
    return out
