"""Readers for the dataset layouts we train on, all yielding the same labelled `Unit`s with a group id.

The group is the person (SPRSound patient, cry_pain infant, donateacry app install ~ family); every split in
this project is by group so no person is ever on both sides. Anything unreadable is counted in `skipped` with a
reason instead of crashing or vanishing.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from core.windows.labels import Event

AUDIO_EXTS = (".wav", ".flac", ".ogg", ".mp3", ".webm", ".m4a", ".mp4", ".opus")


@dataclass(frozen=True)
class Unit:
    uid: str
    path: Path
    label: str
    group: str
    split: str = "train"
    start_s: float | None = None  # None: the whole recording
    end_s: float | None = None
    meta: tuple[tuple[str, str], ...] = ()
    events: tuple[Event, ...] = ()  # annotated events inside a whole-recording unit (SPRSound records)

    def meta_dict(self) -> dict[str, str]:
        return dict(self.meta)


@dataclass
class DatasetScan:
    layout: str
    root: Path
    units: list[Unit]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (item, reason)

    def summary(self) -> dict:
        return {
            "layout": self.layout,
            "units": len(self.units),
            "groups": len({u.group for u in self.units}),
            "labels": dict(sorted(Counter(u.label for u in self.units).items())),
            "splits": dict(sorted(Counter(u.split for u in self.units).items())),
            "skipped": len(self.skipped),
            "skipped_reasons": dict(Counter(r for _, r in self.skipped)),
        }


def _audio_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_EXTS)


# ---------------------------------------------------------------- SPRSound

SPR_NAME = re.compile(r"^(?P<patient>\d+)_(?P<age>[\d.]+)_(?P<gender>[01])_(?P<loc>p[1-4])_(?P<rec>\d+)$")


def _spr_split(prefix: str) -> str:
    p = prefix.lower()
    if "intra" in p:
        return "test_intra"
    if "inter" in p:
        return "test_inter"
    if p.startswith("train"):
        return "train"
    return p


def _spr_pairs(root: Path) -> list[tuple[str, Path, Path]]:
    """(split, json_dir, audio_dir) for every `<prefix>_json` folder with a `<prefix>_wav|_flac` sibling."""
    out = []
    for jdir in sorted(root.rglob("*_json")):
        if not jdir.is_dir():
            continue
        prefix = jdir.name[: -len("_json")]
        for suffix in ("_flac", "_wav", ""):
            adir = jdir.parent / f"{prefix}{suffix}" if suffix else jdir
            if adir.is_dir() and any(p.suffix.lower() in (".wav", ".flac") for p in adir.iterdir()):
                out.append((_spr_split(prefix), jdir, adir))
                break
    return out


def _spr_audio(adir: Path, stem: str) -> Path | None:
    for ext in (".flac", ".wav", ".FLAC", ".WAV"):
        p = adir / f"{stem}{ext}"
        if p.is_file():
            return p
    return None


def read_sprsound(root: Path, level: str) -> DatasetScan:
    """level "event" gives one unit per annotated event (times in ms in the JSON), "record" one per recording."""
    root = Path(root)
    units: list[Unit] = []
    skipped: list[tuple[str, str]] = []
    for split, jdir, adir in _spr_pairs(root):
        for jf in sorted(jdir.glob("*.json")):
            stem = jf.stem
            m = SPR_NAME.match(stem)
            if not m:
                skipped.append((jf.name, "file name not patient_age_gender_location_recording"))
                continue
            audio = _spr_audio(adir, stem)
            if audio is None:
                skipped.append((jf.name, "no matching audio file"))
                continue
            try:
                ann = json.loads(jf.read_text())
            except (OSError, ValueError):
                skipped.append((jf.name, "unreadable JSON"))
                continue
            meta = (("age", m["age"]), ("gender", "m" if m["gender"] == "0" else "f"), ("location", m["loc"]))
            group = m["patient"]
            events: list[tuple[int, Event]] = []
            for i, ev in enumerate(ann.get("event_annotation") or []):
                try:
                    start, end = float(ev["start"]) / 1000.0, float(ev["end"]) / 1000.0
                    label = str(ev["type"]).strip()
                except (KeyError, TypeError, ValueError):
                    skipped.append((f"{jf.name}#{i}", "malformed event"))
                    continue
                if end <= start:
                    skipped.append((f"{jf.name}#{i}", "zero-length or reversed event"))
                    continue
                events.append((i, Event(start, end, label)))
            if level == "record":
                label = str(ann.get("record_annotation", "")).strip()
                if not label:
                    skipped.append((jf.name, "no record annotation"))
                    continue
                units.append(Unit(f"{split}/{stem}", audio, label, group, split, meta=meta,
                                  events=tuple(e for _, e in events)))
                continue
            for i, e in events:
                units.append(Unit(f"{split}/{stem}#{i}", audio, e.type, group, split, e.start_s, e.end_s, meta))
    return DatasetScan(f"sprsound_{level}s", root, units, skipped)


# ---------------------------------------------------------------- infant cries

CRY_PAIN_FOLDERS = {"discomfort_bath": "discomfort", "pain_vaccination": "pain"}


def read_cry_pain(root: Path) -> DatasetScan:
    """Infant code = the 3-letter prefix of `<BABY>_<B|D><nn>`."""
    root = Path(root)
    units, skipped = [], []
    for folder, label in CRY_PAIN_FOLDERS.items():
        d = root / folder
        if not d.is_dir():
            continue
        for p in _audio_files(d):
            baby = p.stem.split("_")[0]
            if not baby:
                skipped.append((p.name, "no infant code in file name"))
                continue
            units.append(Unit(f"{folder}/{p.stem}", p, label, baby, meta=(("situation", folder),)))
    return DatasetScan("cry_pain", root, units, skipped)


DAC_NAME = re.compile(
    r"^(?P<uuid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})-(?P<ts>\d+)-(?P<ver>[\d.]+)"
    r"-(?P<gender>[mf])-(?P<age>\d+)-(?P<code>[a-z]+)$"
)


def read_donateacry(root: Path) -> DatasetScan:
    """Group = the app-instance uuid (one installed phone app, roughly one family)."""
    root = Path(root)
    units, skipped = [], []
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        for p in _audio_files(d):
            m = DAC_NAME.match(p.stem)
            if not m:
                skipped.append((p.name, "file name does not follow the donateacry pattern"))
                continue
            meta = (("gender", m["gender"]), ("age_code", m["age"]))
            units.append(Unit(f"{d.name}/{p.stem}", p, d.name, m["uuid"].lower(), meta=meta))
    return DatasetScan("donateacry", root, units, skipped)


def read_folder(root: Path, group_pattern: str | None = None) -> DatasetScan:
    """One sub-folder per class. `group_pattern` is a regex whose first group (or whole match) in the file stem
    names the person; without it every file is its own group, which is only honest if each file is a different
    person."""
    root = Path(root)
    rx = re.compile(group_pattern) if group_pattern else None
    units, skipped = [], []
    for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for p in _audio_files(d):
            group = p.stem
            if rx is not None:
                m = rx.search(p.stem)
                if not m:
                    skipped.append((p.name, "group pattern did not match"))
                    continue
                group = m.group(1) if m.groups() else m.group(0)
            units.append(Unit(f"{d.name}/{p.stem}", p, d.name, group))
    return DatasetScan("folder", root, units, skipped)


def detect_layout(root: Path) -> str:
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset folder not found: {root}")
    if _spr_pairs(root):
        return "sprsound"
    if any((root / f).is_dir() for f in CRY_PAIN_FOLDERS):
        return "cry_pain"
    subs = [p for p in root.iterdir() if p.is_dir()]
    if subs and any(DAC_NAME.match(f.stem) for s in subs for f in _audio_files(s)[:3]):
        return "donateacry"
    return "folder"


def scan(root: Path, dataset: str, group_pattern: str | None = None) -> DatasetScan:
    """Read `root` as the layout a head needs (`HeadSpec.dataset`)."""
    root = Path(root)
    if dataset == "sprsound_events":
        return read_sprsound(root, "event")
    if dataset == "sprsound_records":
        return read_sprsound(root, "record")
    if dataset == "cry_pain":
        return read_cry_pain(root)
    if dataset == "donateacry":
        return read_donateacry(root)
    if dataset == "folder":
        return read_folder(root, group_pattern)
    raise ValueError(f"unknown dataset layout {dataset!r}")


#: which heads a detected layout can train
LAYOUT_HEADS = {
    "sprsound": ("respiratory", ("recording", "event_screen", "event_type")),
    "cry_pain": ("cry", ("pain",)),
    "donateacry": ("cry", ("reason",)),
}


def describe_uid(uid: str) -> dict[str, str]:
    """What a unit id says about its recording (SPRSound: age, gender, location; donateacry: gender, age code), so
    projections stored with ids only can still be coloured by them."""
    stem = uid.split("/")[-1].split("#")[0]
    m = SPR_NAME.match(stem)
    if m:
        return {"age": m["age"], "gender": "m" if m["gender"] == "0" else "f", "location": m["loc"]}
    m = DAC_NAME.match(stem)
    if m:
        return {"gender": m["gender"], "age": m["age"]}
    return {}
