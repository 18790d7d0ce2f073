"""A researcher's own reference annotation for one recording, and how far the event timeline agrees with it.

Why: the timeline is validated on SPRSound as a whole (Model metrics page), but a researcher checking the app on
their own annotated recording wants to see, for *that* recording, which of the annotator's events the detector
found, which it missed and what it reported that nobody annotated. This module reads the annotation a researcher
uploads beside the audio and scores the timeline against it with the same one-to-one matching
(`core.evaluation.events.match`, overlap and onset criteria) and the same event-type -> detector-class mapping
(`core.tasks.RESP_DETECTOR_CLASSES`) that the shipped event scores use, so the figures mean the same thing.

Two formats are read:

- SPRSound JSON: ``{"record_annotation": "CAS", "event_annotation": [{"start": "4744", "end": "5514",
  "type": "Stridor"}, ...]}``, times in milliseconds (strings in the released files; numbers accepted too).
- CSV (or TSV / an Audacity label export): columns onset, offset, type with times in seconds. Header names are
  matched case-insensitively with their common variants (onset_s, start, "Onset (s)", end, label, ...); a column
  named ..._ms is read as milliseconds. A file without a header is read as onset, offset, type, Audacity's layout.

Event types are SPRSound's (Normal, Rhonchi, Wheeze, Stridor, Coarse Crackle, Fine Crackle, Wheeze+Crackle),
matched case-insensitively, or a detector class itself (CAS, DAS) for annotators who only mark continuous vs
discontinuous sounds. "Normal" events are annotated breath cycles, not adventitious sounds: they are kept for the
figure but belong to no detector class, so they are never scored (as in `core.windows.labels.label_windows`).

Everything a user can get wrong raises `ReferenceAnnotationError` (a ValueError) with a message fit to show them.
No Streamlit here: pages show the messages and figures.
"""
from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from core.decisions.timeline import Timeline
from core.evaluation.events import CRITERIA, ONSET_COLLAR_S, Counts, _prf, error_rate, recording_counts
from core.tasks import RECORD_PRESENCE, RESP_DETECTOR_CLASSES, RESP_EVENT_LABELS, RESP_RECORD_LABELS
from core.windows.labels import Event, clip_events

MAX_BYTES = 1_000_000  # an SPRSound annotation is < 2 kB; a 1-MB "annotation" is something else
MAX_EVENTS = 2000  # SPRSound has at most 19 events per recording
JSON_SUFFIXES = (".json",)
CSV_SUFFIXES = (".csv", ".tsv", ".txt")
SPRSOUND_JSON, CSV = "sprsound-json", "csv"
NORMAL = "Normal"

#: CSV header names (normalised: lower case, runs of other characters -> "_", unit suffix removed)
ONSET_NAMES = frozenset({"onset", "start", "begin", "from", "start_time", "onset_time", "t_start", "tstart"})
OFFSET_NAMES = frozenset({"offset", "end", "stop", "to", "end_time", "offset_time", "t_end", "tend"})
TYPE_NAMES = frozenset({"type", "label", "event", "event_type", "class", "annotation", "name"})
_SECONDS = ("_s", "_sec", "_secs", "_second", "_seconds")
_MILLIS = ("_ms", "_msec", "_millisecond", "_milliseconds")
EXPECTED_COLUMNS = ("the CSV needs three columns: onset, offset (times in seconds) and type; accepted header "
                    "variants include onset_s/offset_s, start/end, 'Onset (s)', start_ms/end_ms (milliseconds) and "
                    "label/event/class for the type")


class ReferenceAnnotationError(ValueError):
    """A reference annotation that cannot be read; the message says why, in words fit for the uploader."""


@dataclass(frozen=True)
class ReferenceAnnotation:
    """One recording's annotated events, in seconds, sorted by onset."""

    name: str  # the uploaded file's name
    source_format: str  # SPRSOUND_JSON or CSV
    events: tuple[Event, ...]  # every annotated event, Normal breath cycles included; types canonical
    record_label: str | None = None  # SPRSound's record_annotation when the JSON has one ("CAS & DAS", ...)
    notes: tuple[str, ...] = ()  # what was done to the file's contents (clipping, header guesses, ...)

    @property
    def adventitious(self) -> tuple[Event, ...]:
        """The events a detector class covers (everything but Normal breath cycles)."""
        return tuple(e for e in self.events if e.type != NORMAL)

    @property
    def record_presence(self) -> frozenset[str] | None:
        """Detector classes the record label says are present (None: no label, an unknown one, or Poor Quality)."""
        return RECORD_PRESENCE.get(self.record_label) if self.record_label else None

    def counts(self) -> dict[str, int]:
        """Events per annotated type, in SPRSound's order."""
        order = {t: i for i, t in enumerate(ACCEPTED_TYPES)}
        out: dict[str, int] = {}
        for e in sorted(self.events, key=lambda e: order.get(e.type, len(order))):
            out[e.type] = out.get(e.type, 0) + 1
        return out


#: the types an annotation may use: SPRSound's event types, then the detector classes that group them
ACCEPTED_TYPES: tuple[str, ...] = RESP_EVENT_LABELS + tuple(c for c in RESP_DETECTOR_CLASSES if c != "Adventitious")


def _type_key(text: str) -> str:
    return re.sub(r"\s*\+\s*", "+", re.sub(r"[\s_]+", " ", text.strip().lower()))


_TYPE_LOOKUP = {_type_key(t): t for t in ACCEPTED_TYPES}


def _fail(name: str, what: str) -> ReferenceAnnotationError:
    return ReferenceAnnotationError(f"Reference annotation {name!r}: {what}")


def _number(value: object, name: str, where: str, field_: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise _fail(name, f"{where}: {field_} {value!r} is not a number")
    try:
        x = float(str(value).strip())
    except ValueError:
        raise _fail(name, f"{where}: {field_} {value!r} is not a number") from None
    if not math.isfinite(x):
        raise _fail(name, f"{where}: {field_} {value!r} is not a finite number")
    return x


def _check_times(name: str, where: str, start: float, end: float, unit: str) -> None:
    if start < 0 or end < 0:
        raise _fail(name, f"{where}: negative time (start {start:g} {unit}, end {end:g} {unit}); times count from "
                          "the start of the recording")
    if end <= start:
        raise _fail(name, f"{where}: ends at {end:g} {unit}, not after its start at {start:g} {unit}")


def _canonical_types(name: str, raw: list[tuple[str, object]]) -> list[str]:
    """Canonical type per event; every unknown type is reported at once (a file usually repeats one wrong name)."""
    out, unknown = [], {}
    for where, value in raw:
        text = value if isinstance(value, str) else ("" if value is None else str(value))
        canon = _TYPE_LOOKUP.get(_type_key(text))
        if canon is None:
            unknown.setdefault(text, []).append(where)
        out.append(canon or "")
    if unknown:
        listed = "; ".join(f"{t!r} ({', '.join(w[:3])}{', ...' if len(w) > 3 else ''})" for t, w in unknown.items())
        raise _fail(name, f"unknown event type{'s' if len(unknown) > 1 else ''} {listed}. Expected one of "
                          f"{', '.join(RESP_EVENT_LABELS)} (SPRSound's event types), or a detector class "
                          f"{', '.join(t for t in ACCEPTED_TYPES if t not in RESP_EVENT_LABELS)}")
    return out


def _parse_json(name: str, text: str) -> tuple[list[Event], str | None, list[str]]:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _fail(name, f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    shape = ('{"record_annotation": "...", "event_annotation": [{"start": "1234", "end": "2345", '
             '"type": "Wheeze"}, ...]} with times in milliseconds')
    if not isinstance(obj, dict):
        raise _fail(name, f"expected a JSON object in SPRSound's format, {shape}; found a JSON "
                          f"{type(obj).__name__}")
    if "event_annotation" not in obj:
        raise _fail(name, f"no 'event_annotation' key (found: {', '.join(map(str, obj)) or 'nothing'}); an SPRSound "
                          f"annotation is {shape}")
    items = obj["event_annotation"] if obj["event_annotation"] is not None else []
    if not isinstance(items, list):
        raise _fail(name, f"'event_annotation' must be a list of events, found a JSON {type(items).__name__}")
    if len(items) > MAX_EVENTS:
        raise _fail(name, f"{len(items)} events; at most {MAX_EVENTS} are read for one recording")
    notes: list[str] = []
    label = obj.get("record_annotation")
    if label is not None and not isinstance(label, str):
        raise _fail(name, f"'record_annotation' must be text such as 'CAS & DAS', found {label!r}")
    label = label.strip() if label else None
    if label and label not in RESP_RECORD_LABELS:
        notes.append(f"record label {label!r} is not one of SPRSound's ({', '.join(RESP_RECORD_LABELS)}); it is "
                     "shown but not used")
    times, raw_types = [], []
    for i, ev in enumerate(items, 1):
        where = f"event {i}"
        if not isinstance(ev, dict):
            raise _fail(name, f"{where} is not an object with start, end and type")
        missing = [k for k in ("start", "end", "type") if k not in ev]
        if missing:
            raise _fail(name, f"{where} has no {' / '.join(repr(k) for k in missing)} (each event needs start and "
                              "end in milliseconds and a type)")
        start = _number(ev["start"], name, where, "start")
        end = _number(ev["end"], name, where, "end")
        _check_times(name, where, start, end, "ms")
        times.append((start / 1000.0, end / 1000.0))
        raw_types.append((where, ev["type"]))
    types = _canonical_types(name, raw_types)
    return [Event(a, b, t) for (a, b), t in zip(times, types)], label, notes


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _header_role(cell: str) -> tuple[str | None, float]:
    """(onset/offset/type or None, scale to seconds) for one CSV header cell."""
    key = re.sub(r"[^a-z0-9]+", "_", cell.strip().lower()).strip("_")
    scale = 1.0
    for suffix in _MILLIS:
        if key.endswith(suffix) and key[: -len(suffix)]:
            key, scale = key[: -len(suffix)], 0.001
            break
    else:
        for suffix in _SECONDS:
            if key.endswith(suffix) and key[: -len(suffix)]:
                key = key[: -len(suffix)]
                break
    for role, names in (("onset", ONSET_NAMES), ("offset", OFFSET_NAMES), ("type", TYPE_NAMES)):
        if key in names:
            return role, scale
    return None, scale


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text.strip()))
    except ValueError:
        return False


def _parse_csv(name: str, text: str) -> tuple[list[Event], list[str]]:
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith(("#", "\\"))]
    # "\" lines are an Audacity label export's frequency ranges; "#" lines are comments
    if not lines:
        raise _fail(name, f"no rows; {EXPECTED_COLUMNS}")
    delimiter = max(("\t", ",", ";"), key=lambda d: lines[0].count(d))
    if lines[0].count(delimiter) == 0:
        raise _fail(name, f"the first line {lines[0][:80]!r} has a single column; {EXPECTED_COLUMNS}")
    rows = [[c.strip() for c in r] for r in csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter)]
    notes: list[str] = []
    head = rows[0]
    if len(head) >= 2 and _is_number(head[0]) and _is_number(head[1]):
        if len(head) < 3:
            raise _fail(name, f"no header row and only {len(head)} columns; {EXPECTED_COLUMNS}")
        cols, scales, body, first = {"onset": 0, "offset": 1, "type": 2}, {"onset": 1.0, "offset": 1.0}, rows, 1
        notes.append("no header row: columns read as onset, offset (seconds), type, as in an Audacity label export")
    else:
        cols, scales = {}, {}
        for j, cell in enumerate(head):
            role, scale = _header_role(cell)
            if role is None:
                continue
            if role in cols:
                raise _fail(name, f"two columns could be the {role} ({head[cols[role]]!r} and {cell!r}); keep one")
            cols[role], scales[role] = j, scale
        missing = [r for r in ("onset", "offset", "type") if r not in cols]
        if missing:
            found = ", ".join(repr(c) for c in head) or "none"
            raise _fail(name, f"missing the {_and(missing)} column{'s' if len(missing) > 1 else ''} "
                              f"(found columns {found}); {EXPECTED_COLUMNS}")
        body, first = rows[1:], 2
    if len(body) > MAX_EVENTS:
        raise _fail(name, f"{len(body)} events; at most {MAX_EVENTS} are read for one recording")
    width = max(cols.values()) + 1
    times, raw_types = [], []
    for i, row in enumerate(body, first):
        where = f"row {i}"
        if len(row) < width:
            raise _fail(name, f"{where} has {len(row)} field{'s' if len(row) != 1 else ''}, expected at least {width}")
        start = _number(row[cols["onset"]], name, where, "onset") * scales["onset"]
        end = _number(row[cols["offset"]], name, where, "offset") * scales["offset"]
        _check_times(name, where, start, end, "s")
        times.append((start, end))
        raw_types.append((where, row[cols["type"]]))
    types = _canonical_types(name, raw_types)
    return [Event(a, b, t) for (a, b), t in zip(times, types)], notes


def parse_reference(name: str, data: bytes, duration_s: float | None = None) -> ReferenceAnnotation:
    """Read an uploaded SPRSound JSON or onset/offset/type CSV. With `duration_s` (the recording's length),
    events are clipped to it with `clip_events` and the notes say how many were cut or dropped."""
    name = Path(name or "annotation").name
    if len(data) > MAX_BYTES:
        raise _fail(name, f"{len(data) / 1e6:.1f} MB; a reference annotation is at most {MAX_BYTES / 1e6:g} MB")
    try:
        text = bytes(data).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _fail(name, "not a text file; expected an SPRSound JSON (.json) or a CSV of onset, offset, type "
                          "(.csv/.tsv/.txt)") from None
    if not text.strip():
        raise _fail(name, "the file is empty")
    suffix = Path(name).suffix.lower()
    looks_json = text.lstrip()[:1] in ("{", "[")
    if suffix in JSON_SUFFIXES or (suffix not in CSV_SUFFIXES and looks_json):
        events, label, notes = _parse_json(name, text)
        fmt = SPRSOUND_JSON
    elif suffix in CSV_SUFFIXES or not re.fullmatch(r"\.[a-z][a-z0-9]{0,4}", suffix):
        # no extension, or a dot inside an SPRSound-style stem ("41267028_0.2_0_p1_2439"): read it as a CSV
        (events, notes), label, fmt = _parse_csv(name, text), None, CSV
    else:
        raise _fail(name, f"'{suffix}' files are not read; expected an SPRSound JSON (.json) or a CSV of onset, "
                          "offset, type (.csv/.tsv/.txt)")
    if label == "Poor Quality":
        notes.append("the record is labelled Poor Quality: SPRSound annotates no events in such records, so "
                     "agreement figures say nothing about the detector")
    if duration_s is not None:
        events, clip_notes = _clip(events, float(duration_s))
        notes += clip_notes
    events.sort(key=lambda e: (e.start_s, e.end_s, e.type))
    return ReferenceAnnotation(name, fmt, tuple(events), label, tuple(notes))


def _clip(events: list[Event], duration_s: float) -> tuple[list[Event], list[str]]:
    kept, dropped = clip_events(events, duration_s)
    cut = sum(1 for e in events if e.start_s < duration_s < e.end_s)
    notes = []
    if dropped:
        notes.append(f"{dropped} event{'s' if dropped > 1 else ''} starting after the recording's end "
                     f"({duration_s:.2f} s) dropped")
    if cut:
        notes.append(f"{cut} event{'s' if cut > 1 else ''} past the recording's end clipped at {duration_s:.2f} s")
    return kept, notes


# ---------------------------------------------------------------- agreement with the timeline


@dataclass(frozen=True)
class TypeScore:
    """Event-based agreement for one detector class under one matching criterion."""

    type: str  # a timeline type (CAS, DAS)
    criterion: str  # "overlap", "onset" or "onset_offset" (core.evaluation.events.CRITERIA)
    tp: int  # reference events matched by a segment (one-to-one)
    fp: int  # segments matching no reference event
    fn: int  # reference events no segment matched

    @property
    def counts(self) -> Counts:
        return Counts(self.tp, self.fp, self.fn)

    @property
    def precision(self) -> float:
        return _prf(self.counts)[0]

    @property
    def recall(self) -> float:
        return _prf(self.counts)[1]

    @property
    def f1(self) -> float:
        return _prf(self.counts)[2]


@dataclass(frozen=True)
class Presence:
    """Recording level: is there any event of this class in the reference, any segment in the timeline?"""

    type: str
    in_reference: bool
    in_timeline: bool

    @property
    def agrees(self) -> bool:
        return self.in_reference == self.in_timeline


@dataclass(frozen=True)
class Agreement:
    duration_s: float
    types: tuple[str, ...]  # the timeline's types, in its display order
    scores: dict[str, dict[str, TypeScore]]  # criterion -> type -> score
    presence: dict[str, Presence]  # per timeline type, then "Adventitious" (any of them)
    n_scored: int  # reference events some detector class covers, within the recording
    n_normal: int  # Normal breath-cycle events: not adventitious, never scored
    n_dropped: int  # reference events starting after the recording's end
    collar_s: float = ONSET_COLLAR_S
    notes: tuple[str, ...] = field(default_factory=tuple)

    def score(self, kind: str, criterion: str = "overlap") -> TypeScore:
        return self.scores[criterion][kind]

    def rows(self, names: Mapping[str, str] | None = None) -> list[dict]:
        """One row per (type, criterion) for a table: counts, precision/recall/F1 (None when undefined)."""
        names = names or {}

        def r(x: float) -> float | None:
            return None if math.isnan(x) else round(x, 3)

        return [{"type": t, "what": names.get(t, t), "criterion": c, "tp": s.tp, "fp": s.fp, "fn": s.fn,
                 "precision": r(s.precision), "recall": r(s.recall), "f1": r(s.f1),
                 "error rate": r(error_rate(s.counts)),
                 "in reference": self.presence[t].in_reference, "in timeline": self.presence[t].in_timeline}
                for c in self.scores for t, s in self.scores[c].items()]

    def to_dict(self) -> dict:
        return {"duration_s": round(self.duration_s, 3), "types": list(self.types), "collar_s": self.collar_s,
                "rows": self.rows(), "presence": {k: {"in_reference": p.in_reference, "in_timeline": p.in_timeline,
                                                      "agrees": p.agrees} for k, p in self.presence.items()},
                "n_scored": self.n_scored, "n_normal": self.n_normal, "n_dropped": self.n_dropped,
                "notes": list(self.notes)}


def class_coverage(classes: Mapping[str, frozenset[str]] = RESP_DETECTOR_CLASSES) -> dict[str, frozenset[str]]:
    """The annotation types each detector class covers: its SPRSound event types (from `classes`), its own name,
    and the names of the classes it contains (an event typed "CAS" counts for CAS and for Adventitious)."""
    return {c: frozenset(types | {c} | {d for d, sub in classes.items() if sub <= types})
            for c, types in classes.items()}


def agreement(reference: ReferenceAnnotation, timeline: Timeline, duration_s: float,
              classes: Mapping[str, frozenset[str]] = RESP_DETECTOR_CLASSES) -> Agreement:
    """Per timeline type and matching criterion: tp/fp/fn of the timeline's segments against the reference's events
    (clipped to the recording), with `core.evaluation.events` one-to-one matching; and per type whether reference
    and timeline agree that the recording holds any such event."""
    unknown = [t for t in timeline.types if t not in classes]
    if unknown:
        raise ValueError(f"timeline types {unknown} are not detector classes {list(classes)}")
    cover = class_coverage(classes)
    kept, dropped = clip_events(list(reference.events), float(duration_s))
    scores = {}
    for crit in CRITERIA:
        counts = recording_counts(kept, timeline.segments, float(duration_s), cover, timeline.types, crit)
        scores[crit] = {t: TypeScore(t, crit, c.tp, c.fp, c.fn) for t, c in counts.items()}
    presence = {t: Presence(t, any(e.type in cover[t] for e in kept), bool(timeline.of(t))) for t in timeline.types}
    union = next((c for c in classes if c not in timeline.types and all(cover[t] <= cover[c] for t in timeline.types)),
                 None)
    if union is not None:  # "Adventitious": any event of any timeline type
        presence[union] = Presence(union, any(e.type in cover[union] for e in kept), bool(timeline.segments))
    n_normal = sum(1 for e in kept if not any(e.type in cover[c] for c in classes))
    scored = sum(1 for e in kept if any(e.type in cover[t] for t in timeline.types))
    notes = []
    if n_normal:
        what = "s are not adventitious sounds" if n_normal > 1 else " is not an adventitious sound"
        notes.append(f"{n_normal} {NORMAL} (breath-cycle) event{what} and not scored")
    if dropped:
        notes.append(f"{dropped} reference event{'s' if dropped > 1 else ''} after the recording's end "
                     f"({duration_s:.2f} s) not scored")
    return Agreement(float(duration_s), tuple(timeline.types), scores, presence, scored, n_normal, dropped,
                     ONSET_COLLAR_S, tuple(notes))
