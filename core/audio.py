"""Decode whatever clinicians and browsers produce into float32 mono 16 kHz samples in [-1, 1].

libsndfile (via soundfile) covers WAV/FLAC/OGG/Opus/MP3 exactly and fast; browser recordings (WebM/Opus,
MP4/M4A/AAC) go through FFmpeg's libraries as bundled in the PyAV wheel, so no system FFmpeg is needed.
Resampling uses soxr (high quality), channels are averaged.
"""
from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from .config import SAMPLE_RATE, Limits


class AudioDecodeError(ValueError):
    """Raised with a message meant for the person who supplied the file."""


@dataclass(frozen=True)
class DecodedAudio:
    samples: np.ndarray  # float32, mono, SAMPLE_RATE, within [-1, 1]
    source_rate: int
    source_channels: int
    source_format: str
    notes: tuple[str, ...] = field(default=())

    sample_rate: int = SAMPLE_RATE

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate

    def content_hash(self) -> str:
        return hashlib.blake2b(self.samples.tobytes(), digest_size=16).hexdigest()


AudioSource = bytes | bytearray | memoryview | str | Path


def _read_bytes(source: AudioSource, limits: Limits) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    else:
        path = Path(source)
        if not path.is_file():
            raise AudioDecodeError(f"File not found: {path.name}")
        size = path.stat().st_size
        if size > limits.max_bytes:
            raise AudioDecodeError(
                f"File is {size / 1e6:.1f} MB; the limit is {limits.max_bytes / 1e6:.0f} MB."
            )
        data = path.read_bytes()
    if len(data) == 0:
        raise AudioDecodeError("The file is empty (0 bytes).")
    if len(data) > limits.max_bytes:
        raise AudioDecodeError(f"File is {len(data) / 1e6:.1f} MB; the limit is {limits.max_bytes / 1e6:.0f} MB.")
    return data


def _decode_soundfile(data: bytes, max_seconds: float) -> tuple[np.ndarray, int, str]:
    with sf.SoundFile(io.BytesIO(data)) as f:
        if f.frames > max_seconds * f.samplerate and f.frames > 0:
            frames = int(max_seconds * f.samplerate)
        else:
            frames = -1
        x = f.read(frames=frames, dtype="float32", always_2d=True)
        return x, f.samplerate, f.format


def _decode_av(data: bytes, max_seconds: float) -> tuple[np.ndarray, int, str]:
    import av  # imported lazily: only browser/container formats need it

    try:
        container = av.open(io.BytesIO(data), mode="r")
    except Exception as exc:  # PyAV raises several error types for unknown containers
        raise AudioDecodeError("Not a recognised audio file (unknown or damaged format).") from exc
    with container:
        streams = [s for s in container.streams if s.type == "audio"]
        if not streams:
            raise AudioDecodeError("Not a recognised audio file: it contains no audio stream (an image or a document?).")
        stream = streams[0]
        chunks: list[np.ndarray] = []
        rate = stream.codec_context.sample_rate or stream.rate
        total = 0
        try:
            for frame in container.decode(stream):
                arr = frame.to_ndarray()
                if frame.format.is_planar:
                    arr = arr.reshape(len(frame.layout.channels), -1)
                else:
                    arr = arr.reshape(-1, len(frame.layout.channels)).T
                arr = _to_float(arr)
                chunks.append(arr)
                rate = frame.sample_rate or rate
                total += arr.shape[1]
                if rate and total > max_seconds * rate:
                    break
        except Exception as exc:
            if not chunks:
                raise AudioDecodeError("The audio stream could not be decoded (damaged or unsupported codec).") from exc
        if not chunks or not rate:
            raise AudioDecodeError("The file contains no decodable audio.")
        x = np.concatenate(chunks, axis=1).T
        if rate and x.shape[0] > max_seconds * rate:
            x = x[: int(max_seconds * rate)]
        return np.ascontiguousarray(x, dtype=np.float32), int(rate), container.format.name


def _to_float(arr: np.ndarray) -> np.ndarray:
    if arr.dtype.kind == "f":
        return arr.astype(np.float32, copy=False)
    if arr.dtype.kind == "i":
        return (arr.astype(np.float32) / float(np.iinfo(arr.dtype).max + 1)).astype(np.float32)
    if arr.dtype.kind == "u":
        info = np.iinfo(arr.dtype)
        mid = (info.max + 1) / 2
        return ((arr.astype(np.float32) - mid) / mid).astype(np.float32)
    raise AudioDecodeError(f"Unsupported sample type {arr.dtype}.")


def decode_audio(source: AudioSource, *, limits: Limits | None = None) -> DecodedAudio:
    """Decode a path or raw bytes; raise AudioDecodeError with a user-facing message on anything unusable."""
    limits = limits or Limits()
    data = _read_bytes(source, limits)
    notes: list[str] = []
    try:
        x, rate, fmt = _decode_soundfile(data, limits.max_seconds)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        x, rate, fmt = _decode_av(data, limits.max_seconds)
    if x.size == 0 or x.shape[0] == 0:
        raise AudioDecodeError("The file decodes to no samples (header only or empty stream).")
    if rate <= 0:
        raise AudioDecodeError("The file reports an invalid sample rate.")
    channels = x.shape[1]
    if x.shape[0] >= int(limits.max_seconds * rate):
        notes.append(f"only the first {limits.max_seconds / 60:.0f} min were analysed")
    finite = np.isfinite(x)
    if not finite.all():
        bad = int((~finite).sum())
        x = np.where(finite, x, 0.0).astype(np.float32)
        notes.append(f"{bad} non-finite samples (NaN/Inf) replaced by silence")
    mono = x.mean(axis=1, dtype=np.float64).astype(np.float32) if channels > 1 else x[:, 0]
    if channels > 1:
        notes.append(f"{channels} channels averaged to mono")
    peak = float(np.max(np.abs(mono))) if mono.size else 0.0
    if peak > 1.0:
        mono = (mono / peak).astype(np.float32)
        notes.append(f"float samples exceeded full scale (peak {peak:.2f}); scaled down")
    if rate != SAMPLE_RATE:
        mono = soxr.resample(mono, rate, SAMPLE_RATE, quality="HQ").astype(np.float32)
        notes.append(f"resampled from {rate} Hz to {SAMPLE_RATE} Hz")
    mono = np.clip(mono, -1.0, 1.0, out=mono)
    return DecodedAudio(
        samples=np.ascontiguousarray(mono, dtype=np.float32),
        source_rate=int(rate),
        source_channels=int(channels),
        source_format=str(fmt),
        notes=tuple(notes),
    )


def from_array(samples: np.ndarray, rate: int) -> DecodedAudio:
    """Wrap samples already in memory (live microphone, tests) through the same normalisation path."""
    buf = io.BytesIO()
    x = np.asarray(samples, dtype=np.float32)
    sf.write(buf, x, rate, format="WAV", subtype="FLOAT")
    return decode_audio(buf.getvalue())


def window_audio(source: AudioSource, window) -> np.ndarray:
    """The real audio of one analysis window (a `core.windows.Window`), decoded again from the source: played
    back when a user picks a window, so nothing is kept in memory between reruns."""
    x = decode_audio(source).samples
    a = int(round(window.start_s * SAMPLE_RATE))
    return x[a : a + int(round(window.content_s * SAMPLE_RATE))]
