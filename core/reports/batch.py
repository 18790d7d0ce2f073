"""Many recordings in one go: a row per file, one bad file never stops the others, zips opened safely in memory."""
from __future__ import annotations

import csv
import hashlib
import io
import sys
import threading
import zipfile
from dataclasses import dataclass, field, fields
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable, Iterator

import numpy as np

from core.answers.analyzer import AnalysisResult, Analyzer, HeadOutput, input_check_words, reference_words
from core.references.model import ReferenceSet
from core.audio.decode import AudioDecodeError
from core.config import Limits
from core.answers.examination import name_info
from core.data.datasets import AUDIO_EXTS
from core.encoders import EncoderUnavailable
from core.audio.filenames import display_name
from core.reports.provenance import app_version, now_utc


@dataclass(frozen=True)
class BatchItem:
    name: str
    data: bytes | None = None
    error: str = ""  # set when the item cannot be read (e.g. a zip member over the size limit)
    read: Callable[[], bytes] | None = None  # zip members are decompressed only when analysed, one at a time

    def load(self) -> bytes:
        """The item's bytes; raises BatchItemError with the reason it cannot be read."""
        if self.error:
            raise BatchItemError(self.error)
        if self.data is not None:
            return self.data
        if self.read is None:
            raise BatchItemError("nothing to read")
        return self.read()


class BatchItemError(ValueError):
    """A batch item that cannot be read; the message is meant for the user."""


def prob_column(label: str, head: str) -> str:
    """The column of one class probability: the class in words, the head's short name to tell heads apart."""
    return f"P({label}) [{head}]"


def answer_column(h: HeadOutput) -> str:
    return f"{h.title} [{h.name}]"


def recording_ids(name: str) -> tuple[str, str]:
    """(child, site) from an SPRSound-style name `patient_age_gender_location_recording` (zip members by their last
    path component), so a batch can be grouped by child; empty when the name does not say."""
    info = name_info(name)
    return (info.child, info.site) if info.child else ("", "")


@dataclass(frozen=True, eq=False)  # holds arrays: compared by identity
class WindowTrack:
    """One file's per-window rows, kept as arrays rather than dicts (about 40 bytes a window: some 15 MB for the
    largest batch, 200 files of 30 min), without keeping the analysis or its embeddings."""

    start_s: np.ndarray  # [n] float32
    end_s: np.ndarray
    usable: np.ndarray  # [n] bool
    flags: tuple[str, ...]  # the gate's reasons per window ("" when usable)
    rms_dbfs: np.ndarray
    columns: tuple[str, ...]  # probability columns, `P(<class>) [<head>]`
    probs: np.ndarray  # [n, len(columns)] float32

    @classmethod
    def from_result(cls, r: AnalysisResult) -> "WindowTrack":
        heads = [h for h in r.heads.values() if h.window_probs is not None]
        cols = tuple(prob_column(lab, h.name) for h in heads for lab in h.labels)
        n = len(r.windows)
        parts = [np.asarray(h.window_probs, np.float32).reshape(n, len(h.labels)) for h in heads]
        probs = np.concatenate(parts, axis=1) if parts else np.zeros((n, 0), np.float32)
        return cls(np.array([w.start_s for w in r.windows], np.float32),
                   np.array([w.end_s for w in r.windows], np.float32),
                   np.array([q.usable for q in r.quality], bool), tuple(sys.intern(q.reason()) for q in r.quality),
                   np.array([q.rms_dbfs for q in r.quality], np.float32), cols, probs)

    def __len__(self) -> int:
        return len(self.start_s)


@dataclass(frozen=True)
class BatchRow:
    file: str
    duration_s: float | None
    usable_windows: str
    verdict: str
    probability: float | None  # of the answer shown (the page's "Probability of this answer")
    flags: str
    error: str
    experimental_notes: str = ""
    screening: str = ""  # the other screening answers (respiratory: continuous adventitious sounds)
    input_check: str = ""  # the kind heard (or the refusal) and the familiarity caveat, as on the page
    references: str = ""  # the infant's reference cries the answer was judged against (count, SHA-256), as on the page
    calibration: str = ""  # the calibration profile the answers went through ("" = as shipped)
    timeline: str = ""  # event timeline summary: segments per type and the share of the recording they cover
    child: str = ""  # patient id and recording site, when the file name carries them (SPRSound naming)
    site: str = ""
    #: every head that ran: `<title> [<name>]` -> answer, `P(<class>) [<name>]` -> probability, and the timeline's
    #: segment count per event type; columns vary by task and heads, so they are not fields
    answers: dict[str, str | float | int | None] = field(default_factory=dict)
    analysed_at: str = ""  # provenance, so a downloaded table is traceable without the server
    app_version: str = ""
    encoder: str = ""
    models: str = ""  # each model's training date, encoder and file hash
    audio_sha256: str = ""
    windows: WindowTrack | None = field(default=None, compare=False, repr=False)  # only when asked for

    def to_dict(self) -> dict:
        """Columns in reading order: who, the answers, their probabilities, what went wrong, then provenance."""
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("answers", "windows")}
        head = ("file", "child", "site", "duration_s", "usable_windows", "verdict", "probability", "input_check",
                "references", "screening", "timeline")
        return {**{k: d.pop(k) for k in head}, **self.answers, **d}


def batch_records(rows: Iterable[BatchRow]) -> list[dict]:
    """The rows as dicts with the same columns in the same order (error rows get empty answer columns), whatever
    row comes first, so the table and its CSV keep one layout."""
    rows = list(rows)
    dicts = [r.to_dict() for r in rows]
    extra: dict[str, None] = {}
    for r in rows:
        extra.update(dict.fromkeys(r.answers))
    base = [k for k in BatchRow("", None, "", "", None, "", "").to_dict()]
    cut = base.index("timeline") + 1
    columns = base[:cut] + list(extra) + base[cut:]
    return [{c: d.get(c) for c in columns} for d in dicts]


def window_rows(rows: Iterable[BatchRow]) -> Iterator[dict]:
    """One row per window per analysed file (files analysed with `windows=True`): where it lies, whether the
    quality gate let it through and why not, and every window head's class probabilities. A generator, so a large
    batch is written out without ever holding all its rows."""
    for r in rows:
        t = r.windows
        if t is None:
            continue
        for i in range(len(t)):
            yield {"file": r.file, "child": r.child, "site": r.site, "window": i,
                   "start_s": round(float(t.start_s[i]), 3), "end_s": round(float(t.end_s[i]), 3),
                   "usable": bool(t.usable[i]), "flags": t.flags[i], "rms_dbfs": round(float(t.rms_dbfs[i]), 1),
                   **{c: round(float(p), 4) for c, p in zip(t.columns, t.probs[i])}}


def window_csv(rows: Iterable[BatchRow]) -> bytes:
    """The per-window table as CSV (columns: the union over files, in first-seen order)."""
    rows = list(rows)
    columns: dict[str, None] = dict.fromkeys(["file", "child", "site", "window", "start_s", "end_s", "usable",
                                              "flags", "rms_dbfs"])
    for r in rows:
        if r.windows is not None:
            columns.update(dict.fromkeys(r.windows.columns))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), restval="")
    w.writeheader()
    w.writerows(window_rows(rows))
    return buf.getvalue().encode()


class _Archive:
    """Reads members of one zip held in memory, never extracting to disk: each member is capped at the per-file
    limit and the archive as a whole at the archive limit, whatever the headers claim, so a zip bomb costs at most
    that much decompression and one member's memory."""

    def __init__(self, zf: zipfile.ZipFile, limits: Limits):
        self.zf, self.limits = zf, limits
        self.left = limits.max_archive_bytes
        self._lock = threading.Lock()

    def reader(self, member: zipfile.ZipInfo) -> Callable[[], bytes]:
        over_archive = (f"not read: the archive expands beyond {self.limits.max_archive_bytes / 1e6:.0f} MB "
                        "(the limit per archive)")

        def read() -> bytes:
            with self._lock:
                cap = min(self.limits.max_bytes, self.left)
                if cap <= 0:
                    raise BatchItemError(over_archive)
                try:
                    with self.zf.open(member) as fh:
                        blob = fh.read(cap + 1)
                except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as exc:
                    raise BatchItemError(f"this archive member cannot be read ({exc})") from None
                self.left -= len(blob)
            if len(blob) > self.limits.max_bytes:
                raise BatchItemError(f"larger than the {self.limits.max_bytes / 1e6:.0f} MB limit once decompressed "
                                     f"(the archive claims {member.file_size / 1e6:.1f} MB)")
            if len(blob) > cap:
                raise BatchItemError(over_archive)
            return blob
        return read


def expand_zip(name: str, data: bytes, limits: Limits | None = None) -> list[BatchItem]:
    """The audio members of a zip as lazily read items; archives that are not zips, members over the size limit
    and encrypted members become error items instead of exceptions. Member names are labels only: a name such as
    `../x.wav` is shown, never used as a path."""
    limits = limits or Limits()
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return [BatchItem(name, error="not a readable zip archive")]
    archive = _Archive(zf, limits)
    members = [m for m in zf.infolist() if not m.is_dir()]
    audio = [m for m in members if PurePosixPath(m.filename).suffix.lower() in AUDIO_EXTS
             and not PurePosixPath(m.filename).name.startswith("._") and "__MACOSX" not in m.filename]
    if not audio:
        return [BatchItem(name, error="the archive holds no audio files "
                                      f"({', '.join(sorted(set(AUDIO_EXTS)))})")]
    items: list[BatchItem] = []
    for m in audio:
        label = f"{name}/{m.filename}"
        if m.flag_bits & 0x1:
            items.append(BatchItem(label, error="encrypted archive member; unzip it with its password first"))
        elif m.file_size > limits.max_bytes:
            items.append(BatchItem(label, error=f"{m.file_size / 1e6:.1f} MB uncompressed; the limit is "
                                                f"{limits.max_bytes / 1e6:.0f} MB"))
        else:
            items.append(BatchItem(label, read=archive.reader(m)))
    return items


def expand_uploads(files: Iterable[tuple[str, bytes]], limits: Limits | None = None) -> list[BatchItem]:
    """Uploads and the members of uploaded zips, at most `limits.max_files` of them; the rest are named in one row
    so the user knows what was left out."""
    limits = limits or Limits()
    out: list[BatchItem] = []
    for name, data in files:
        if name.lower().endswith(".zip"):
            out += expand_zip(name, data, limits)
        else:
            out.append(BatchItem(name, data))
    if len(out) > limits.max_files:
        extra = len(out) - limits.max_files
        out = out[: limits.max_files] + [BatchItem(
            f"{extra} more file(s)", error=f"not analysed: at most {limits.max_files} files per batch "
                                          f"(HEAR_SCREENING_MAX_FILES); split the batch")]
    return out


def analyze_batch(analyzer: Analyzer, items: list[BatchItem],
                  progress: Callable[[int, int, str], None] | None = None, *,
                  experimental: bool = False, windows: bool = False, jobs: int = 1,
                  references: ReferenceSet | None = None) -> list[BatchRow]:
    """One row per file, in input order; experimental heads' labels only when asked for (`Analyzer.analyze`);
    each row's per-window track (`window_rows`) only when `windows` is asked for, since it costs memory per window.
    `jobs` > 1 analyses in that many worker processes (`core.answers.parallel`), each with its own copy of this
    analyzer's task and encoder; an item is read (a zip member decompressed) only when it is sent. `references`
    (checked once, `Analyzer.check_references`): every file is a cry of that one infant, judged against them."""
    if jobs <= 1 or len(items) < 2:
        rows = []
        for i, item in enumerate(items, 1):
            rows.append(_row(analyzer, item, experimental, windows, references))
            if progress:
                progress(i, len(items), display_name(item.name))
        return rows
    from core.answers.parallel import WorkerError, map_in_order

    def prepare(item: BatchItem) -> tuple:
        try:
            return item.name, item.load(), "", experimental, windows, references, analyzer.calibration
        except BatchItemError as exc:
            return item.name, None, str(exc), experimental, windows, references, analyzer.calibration

    def failed(item: BatchItem, exc: BaseException) -> BatchRow:
        why = str(exc) if isinstance(exc, WorkerError) else "its worker process stopped"
        return BatchRow(display_name(item.name), None, "", "", None, "",
                        f"analysis failed ({why}); the other files are unaffected",
                        analysed_at=now_utc(), app_version=app_version(), encoder=analyzer.encoder.info.identity)

    return map_in_order(_row_in_worker, items, analyzer.task.name, analyzer.encoder.info.name, jobs,
                        (lambda done, total, item: progress(done, total, display_name(item.name))) if progress
                        else None, prepare, failed)


def _row_in_worker(analyzer: Analyzer, payload: tuple) -> "BatchRow":
    name, data, error, experimental, windows, references, profile = payload
    if profile is not None and analyzer.calibration is None:  # a worker process: its analyzer is the shipped one
        analyzer = analyzer.with_calibration(profile)
    return _row(analyzer, BatchItem(name, data=data, error=error), experimental, windows, references)


def _head_columns(r: AnalysisResult) -> dict[str, str | float | int | None]:
    """Every recording-level answer that ran, with its class probabilities (the window detector's track is not an
    answer: it is in the per-window table), and the timeline's segment count per event type."""
    out: dict[str, str | float | int | None] = {}
    for h in r.heads.values():
        if h.unit == "window" and h.verdict.abstained:
            continue
        v = h.verdict
        out[answer_column(h)] = f"no answer: {v.reason}" if v.abstained else str(v.label)
        for lab in h.labels:
            p = v.probabilities.get(lab)
            out[prob_column(lab, h.name)] = None if p is None else round(float(p), 3)
    if r.timeline is not None:
        for t, n in r.timeline.counts().items():
            out[f"segments: {r.class_names.get(t, t)}"] = n
    return out


def _row(analyzer: Analyzer, item: BatchItem, experimental: bool = False, windows: bool = False,
         references: ReferenceSet | None = None) -> BatchRow:
    name = display_name(item.name)
    child, site = recording_ids(name)

    def failed(error: str, data: bytes | None = None) -> BatchRow:
        """A row that says why, still stamped with the app and encoder (and the bytes' hash when they were read)."""
        return BatchRow(name, None, "", "", None, "", error, child=child, site=site, analysed_at=now_utc(),
                        app_version=app_version(), encoder=analyzer.encoder.info.identity,
                        audio_sha256=hashlib.sha256(data).hexdigest() if data is not None else "")

    try:
        data = item.load()
    except BatchItemError as exc:
        return failed(str(exc))
    try:
        r = analyzer.analyze(data, name=name, experimental=experimental, references=references)
    except AudioDecodeError as exc:
        return failed(f"cannot analyse: {exc}", data)
    except EncoderUnavailable as exc:
        return failed(f"encoder unavailable: {exc}", data)
    except Exception as exc:  # one file hitting an unforeseen failure must not take the batch down with it
        return failed(f"analysis failed ({type(exc).__name__}); the other files are unaffected", data)
    v = r.verdict
    flags = ", ".join(f"{n} {f}" for f, n in r.clip_quality.flag_counts.items() if n)
    notes = "; ".join(f"{h.title}: {h.verdict.text()}" for h in r.heads.values() if h.experimental)
    screens = "; ".join(f"{h.title}: {h.verdict.text()}" for h in r.screening_heads())
    prov = r.provenance
    return BatchRow(
        file=name, duration_s=round(r.duration_s, 2),
        usable_windows=f"{v.usable_windows}/{v.total_windows}",
        verdict=f"no verdict: {v.reason}" if v.abstained else str(v.label),
        probability=None if v.abstained else round(float(v.confidence), 4),
        input_check=input_check_words(r).removeprefix("Input check: "), flags=flags, error="",
        references=reference_words(r), calibration=r.calibration,
        experimental_notes=notes, screening=screens,
        timeline=r.timeline.summary(r.class_names) if r.timeline is not None else "",
        child=child, site=site, answers=_head_columns(r),
        analysed_at=prov.analysed_at if prov else now_utc(), app_version=prov.app_version if prov else app_version(),
        encoder=prov.encoder if prov else r.encoder.identity,
        models="; ".join(f"{n}: {d}" for n, d in prov.models.items()) if prov else "",
        audio_sha256=prov.audio_sha256 if prov else hashlib.sha256(data).hexdigest(),
        windows=WindowTrack.from_result(r) if windows else None,
    )


def unpack_zip(data: bytes, dest: Path, limits: Limits | None = None, extra_exts: tuple[str, ...] = (".json",)
               ) -> int:
    """The audio (and `extra_exts`, e.g. SPRSound's JSON annotations) members of a zip written under `dest`, for
    readers that need a folder (a calibration set). Member paths are sanitised (no absolute paths, no `..`), each
    member and the archive are capped as in `expand_zip`, and at most `limits.max_files` audio files are taken.
    Returns the number of audio files; raises BatchItemError with the reason in words."""
    limits = limits or Limits()
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise BatchItemError("not a readable zip archive") from None
    archive = _Archive(zf, limits)
    n_audio = 0
    for m in zf.infolist():
        path = PurePosixPath(m.filename.replace("\\", "/"))
        parts = [p for p in path.parts if p not in ("", "/")]
        if m.is_dir() or not parts or path.is_absolute() or ".." in parts or "__MACOSX" in parts \
                or parts[-1].startswith("."):
            continue
        suffix = path.suffix.lower()
        if suffix not in AUDIO_EXTS and suffix not in extra_exts:
            continue
        if suffix in AUDIO_EXTS:
            if n_audio >= limits.max_files:
                raise BatchItemError(f"the archive holds more than {limits.max_files} audio files (the limit per "
                                     "upload, HEAR_SCREENING_MAX_FILES)")
            n_audio += 1
        target = dest.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(archive.reader(m)())
    if not n_audio:
        raise BatchItemError(f"the archive holds no audio files ({', '.join(sorted(set(AUDIO_EXTS)))})")
    return n_audio
