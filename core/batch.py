"""Many recordings in one go: a row per file, one bad file never stops the others, zips opened safely in memory."""
from __future__ import annotations

import io
import zipfile
from dataclasses import asdict, dataclass
from pathlib import PurePosixPath
from typing import Callable, Iterable

from .analysis import Analyzer
from .audio import AudioDecodeError
from .config import Limits
from .datasets import AUDIO_EXTS

MAX_ZIP_MEMBERS = 1000


@dataclass(frozen=True)
class BatchItem:
    name: str
    data: bytes | None
    error: str = ""  # set when the item could not even be read (e.g. a zip member over the size limit)


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

    def to_dict(self) -> dict:
        return asdict(self)


def expand_zip(name: str, data: bytes, limits: Limits | None = None) -> list[BatchItem]:
    """The audio members of a zip, read into memory (never extracted to disk); members over the size limit, and
    archives that are not zips, become error items instead of exceptions."""
    limits = limits or Limits()
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        return [BatchItem(name, None, "not a readable zip archive")]
    items: list[BatchItem] = []
    with zf:
        members = [m for m in zf.infolist() if not m.is_dir()]
        audio = [m for m in members if PurePosixPath(m.filename).suffix.lower() in AUDIO_EXTS
                 and not PurePosixPath(m.filename).name.startswith(".") and "__MACOSX" not in m.filename]
        if len(audio) > MAX_ZIP_MEMBERS:
            return [BatchItem(name, None, f"{len(audio)} audio files in the archive; the limit is {MAX_ZIP_MEMBERS}")]
        for m in audio:
            label = f"{name}/{m.filename}"
            if m.file_size > limits.max_bytes:
                items.append(BatchItem(label, None, f"{m.file_size / 1e6:.1f} MB uncompressed; the limit is "
                                                    f"{limits.max_bytes / 1e6:.0f} MB"))
                continue
            with zf.open(m) as fh:  # read at most the limit + 1 byte, whatever the header claims
                blob = fh.read(limits.max_bytes + 1)
            if len(blob) > limits.max_bytes:
                items.append(BatchItem(label, None, f"larger than the {limits.max_bytes / 1e6:.0f} MB limit"))
            else:
                items.append(BatchItem(label, blob))
        if not audio:
            items.append(BatchItem(name, None, "the archive holds no audio files "
                                               f"({', '.join(sorted(set(AUDIO_EXTS)))})"))
    return items


def expand_uploads(files: Iterable[tuple[str, bytes]], limits: Limits | None = None) -> list[BatchItem]:
    out: list[BatchItem] = []
    for name, data in files:
        if name.lower().endswith(".zip"):
            out += expand_zip(name, data, limits)
        else:
            out.append(BatchItem(name, data))
    return out


def analyze_batch(analyzer: Analyzer, items: list[BatchItem],
                  progress: Callable[[int, int, str], None] | None = None) -> list[BatchRow]:
    rows = []
    for i, item in enumerate(items, 1):
        rows.append(_row(analyzer, item))
        if progress:
            progress(i, len(items), item.name)
    return rows


def _row(analyzer: Analyzer, item: BatchItem) -> BatchRow:
    if item.data is None:
        return BatchRow(item.name, None, "", "", None, "", item.error)
    try:
        r = analyzer.analyze(item.data, name=item.name)
    except AudioDecodeError as exc:
        return BatchRow(item.name, None, "", "", None, "", f"cannot analyse: {exc}")
    v = r.verdict
    flags = ", ".join(f"{n} {f}" for f, n in r.clip_quality.flag_counts.items() if n)
    notes = "; ".join(f"{h.title}: {h.verdict.text()}" for h in r.heads.values() if h.experimental)
    return BatchRow(
        file=item.name, duration_s=round(r.duration_s, 2),
        usable_windows=f"{v.usable_windows}/{v.total_windows}",
        verdict=f"no verdict: {v.reason}" if v.abstained else str(v.label),
        confidence=None if v.abstained else round(float(v.confidence), 4),
        flags=flags, error="", experimental_notes=notes,
    )
