"""Many recordings in one go: a row per file, one bad file never stops the others, zips opened safely in memory."""
from __future__ import annotations

import io
import threading
import zipfile
from dataclasses import asdict, dataclass
from pathlib import PurePosixPath
from typing import Callable, Iterable

from core.answers.analyzer import Analyzer
from core.audio.decode import AudioDecodeError
from core.config import Limits
from core.data.datasets import AUDIO_EXTS
from core.encoders import EncoderUnavailable
from core.audio.filenames import display_name


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


@dataclass(frozen=True)
class BatchRow:
    file: str
    duration_s: float | None
    usable_windows: str
    verdict: str
    confidence: float | None
    flags: str
    error: str
    experimental_notes: str = ""
    screening: str = ""  # the other screening answers (respiratory: asthma-indicative)
    timeline: str = ""  # event timeline summary: segments per type and the share of the recording they cover

    def to_dict(self) -> dict:
        return asdict(self)


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
                  experimental: bool = False) -> list[BatchRow]:
    """One row per file; experimental heads' labels only when asked for (`Analyzer.analyze`)."""
    rows = []
    for i, item in enumerate(items, 1):
        rows.append(_row(analyzer, item, experimental))
        if progress:
            progress(i, len(items), display_name(item.name))
    return rows


def _row(analyzer: Analyzer, item: BatchItem, experimental: bool = False) -> BatchRow:
    name = display_name(item.name)
    try:
        data = item.load()
    except BatchItemError as exc:
        return BatchRow(name, None, "", "", None, "", str(exc))
    try:
        r = analyzer.analyze(data, name=name, experimental=experimental)
    except AudioDecodeError as exc:
        return BatchRow(name, None, "", "", None, "", f"cannot analyse: {exc}")
    except EncoderUnavailable as exc:
        return BatchRow(name, None, "", "", None, "", f"encoder unavailable: {exc}")
    except Exception as exc:  # one file hitting an unforeseen failure must not take the batch down with it
        return BatchRow(name, None, "", "", None, "", f"analysis failed ({type(exc).__name__}); the other files "
                                                      "are unaffected")
    v = r.verdict
    flags = ", ".join(f"{n} {f}" for f, n in r.clip_quality.flag_counts.items() if n)
    notes = "; ".join(f"{h.title}: {h.verdict.text()}" for h in r.heads.values() if h.experimental)
    screens = "; ".join(f"{h.title}: {h.verdict.text()}" for h in r.screening_heads())
    return BatchRow(
        file=name, duration_s=round(r.duration_s, 2),
        usable_windows=f"{v.usable_windows}/{v.total_windows}",
        verdict=f"no verdict: {v.reason}" if v.abstained else str(v.label),
        confidence=None if v.abstained else round(float(v.confidence), 4),
        flags=flags, error="", experimental_notes=notes, screening=screens,
        timeline=r.timeline.summary(r.class_names) if r.timeline is not None else "",
    )
