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

from core.config import SAMPLE_RATE, Limits
from core.timing import NO_TIMER, StageTimer


class AudioDecodeError(ValueError):
    """Raised with a message meant for the person who supplied the file."""


@dataclass(frozen=True)
class DecodedAudio:
    samples: np.ndarray  # float32, mono, SAMPLE_RATE, within [-1, 1]
    source_rate: int
    source_channels: int
    source_format: str
    notes: tuple[str, ...] = field(default=())
    #: SHA-256 of the bytes as given (the file a report names), "" for audio that never was a file (live stream)
    sha256: str = ""

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


class _Mono16k:
    """Collects decoded blocks as mono 16 kHz: each block is repaired (NaN/Inf), averaged over channels and
    resampled as it arrives, so memory follows the 16-kHz mono output, never the source's rate x channels (a 6-channel
    192-kHz file is not held at 192 kHz), and decoding stops at the duration limit."""

    def __init__(self, rate: int, max_seconds: float, timer: StageTimer = NO_TIMER):
        self.timer = timer
        if not rate or rate <= 0:
            raise AudioDecodeError("The file reports an invalid sample rate.")
        self.rate = int(rate)
        self.room = int(max_seconds * rate)  # source frames still accepted
        self.taken = 0  # source frames accepted
        self.truncated = False
        self.nonfinite = 0
        self.channels = 0
        self.source_peak = 0.0  # largest |sample| as decoded, before resampling (a resampler may overshoot it)
        self._parts: list[np.ndarray] = []
        self._stream = None if rate == SAMPLE_RATE else soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32")

    @property
    def full(self) -> bool:
        return self.room <= 0

    def add(self, block: np.ndarray) -> None:
        """`block` is [frames, channels] float32 at the source rate."""
        if block.shape[0] == 0:
            return
        if block.shape[0] > self.room:
            block, self.truncated = block[: self.room], True
        self.room -= block.shape[0]
        self.taken += block.shape[0]
        self.channels = max(self.channels, block.shape[1])
        finite = np.isfinite(block)
        if not finite.all():
            self.nonfinite += int((~finite).sum())
            block = np.where(finite, block, 0.0)
        self.source_peak = max(self.source_peak, float(block.max()), -float(block.min()))
        mono = block.mean(axis=1, dtype=np.float64).astype(np.float32) if block.shape[1] > 1 else block[:, 0]
        if self._stream is None:
            self._parts.append(mono.copy())
        else:
            with self.timer.stage("resample"):
                self._parts.append(self._stream.resample_chunk(mono))

    def samples(self) -> np.ndarray:
        if self._stream is not None:
            with self.timer.stage("resample"):
                self._parts.append(self._stream.resample_chunk(np.zeros(0, np.float32), last=True))
        return np.concatenate(self._parts).astype(np.float32, copy=False) if self._parts else np.zeros(0, np.float32)


_BLOCK_FRAMES = 1 << 16


def _decode_soundfile(data: bytes, max_seconds: float,
                      timer: StageTimer = NO_TIMER) -> tuple[_Mono16k, str, str]:
    """libsndfile, read block by block; a file damaged part-way keeps what decoded before the damage."""
    damaged = ""
    with sf.SoundFile(io.BytesIO(data)) as f:
        out = _Mono16k(f.samplerate, max_seconds, timer)
        fmt = f.format
        if f.frames > out.room:
            out.truncated = True
        while not out.full:
            try:
                block = f.read(frames=min(_BLOCK_FRAMES, out.room), dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError):
                if not out.taken:
                    raise
                damaged = f"the file is damaged after {out.taken / out.rate:.1f} s; the part before was analysed"
                break
            if block.shape[0] == 0:
                break
            out.add(block)
    return out, fmt, damaged


def _decode_av(data: bytes, max_seconds: float, timer: StageTimer = NO_TIMER
               ) -> tuple[_Mono16k, str, str]:
    """FFmpeg (PyAV's wheel) for browser containers, frame by frame."""
    import av  # imported lazily: only browser/container formats need it

    try:
        container = av.open(io.BytesIO(data), mode="r")
    except Exception as exc:  # PyAV raises several error types for unknown containers
        raise AudioDecodeError("Not a recognised audio file (unknown or damaged format).") from exc
    damaged = ""
    with container:
        streams = [s for s in container.streams if s.type == "audio"]
        if not streams:
            raise AudioDecodeError("Not a recognised audio file: it contains no audio stream (an image or a document?).")
        stream = streams[0]
        out = None
        try:
            for frame in container.decode(stream):
                if out is None:
                    rate = frame.sample_rate or stream.codec_context.sample_rate or 0
                    out = _Mono16k(rate, max_seconds, timer)
                arr = frame.to_ndarray()
                if frame.format.is_planar:
                    arr = arr.reshape(len(frame.layout.channels), -1)
                else:
                    arr = arr.reshape(-1, len(frame.layout.channels)).T
                out.add(_to_float(arr).T)
                if out.full:
                    out.truncated = True  # FFmpeg does not know the length up front; stop at the limit
                    break
        except AudioDecodeError:
            raise
        except Exception as exc:
            if out is None or not out.taken:
                raise AudioDecodeError("The audio stream could not be decoded (damaged or unsupported codec).") from exc
            damaged = "the file is damaged part-way; the part before the damage was analysed"
        if out is None:
            raise AudioDecodeError("The file contains no decodable audio.")
        return out, container.format.name, damaged


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


def decode_audio(source: AudioSource, *, limits: Limits | None = None,
                 timer: StageTimer = NO_TIMER) -> DecodedAudio:
    """Decode a path or raw bytes; raise AudioDecodeError with a user-facing message on anything unusable. The size
    limit is checked before reading, the duration limit while decoding."""
    limits = limits or Limits()
    data = _read_bytes(source, limits)
    try:
        out, fmt, damaged = _decode_soundfile(data, limits.max_seconds, timer)
        mono = out.samples()
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        mono = None
    if mono is None or mono.size == 0:  # not for libsndfile, or a header it reads with no audio after it
        try:
            out, fmt, damaged = _decode_av(data, limits.max_seconds, timer)
            mono = out.samples()
        except AudioDecodeError:
            if mono is None:
                raise
    if mono.size == 0:
        raise AudioDecodeError("The file decodes to no samples: a header with no audio after it (empty, or cut "
                               "short before the first audio block).")
    notes: list[str] = []
    if out.truncated:
        notes.append(f"only the first {_minutes(limits.max_seconds)} were analysed (the limit per recording)")
    if damaged:
        notes.append(damaged)
    if out.nonfinite:
        notes.append(f"{out.nonfinite} non-finite samples (NaN/Inf) replaced by silence")
    if out.channels > 1:
        notes.append(f"{out.channels} channels averaged to mono")
    # Only a source that itself exceeds full scale (float formats can) is scaled, and said so. A resampler's
    # overshoot of a full-scale integer recording is a few samples past 1.0: clipped below, silently, so every
    # ordinary file decodes to the same samples in training and in the app.
    if out.source_peak > 1.0:
        peak = max(float(mono.max()), -float(mono.min()))  # no |x| temporary the size of the recording
        mono /= peak
        notes.append(f"float samples exceeded full scale (peak {out.source_peak:.2f}); scaled down")
    if out.rate != SAMPLE_RATE:
        notes.append(f"resampled from {out.rate} Hz to {SAMPLE_RATE} Hz")
    mono = np.clip(mono, -1.0, 1.0, out=mono)
    return DecodedAudio(
        samples=np.ascontiguousarray(mono, dtype=np.float32),
        source_rate=out.rate,
        source_channels=max(1, out.channels),
        source_format=str(fmt),
        notes=tuple(notes),
        sha256=hashlib.sha256(data).hexdigest(),
    )


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"


def from_array(samples: np.ndarray, rate: int) -> DecodedAudio:
    """Wrap samples already in memory (live microphone, tests) through the same normalisation path."""
    buf = io.BytesIO()
    x = np.asarray(samples, dtype=np.float32)
    sf.write(buf, x, rate, format="WAV", subtype="FLOAT")
    return decode_audio(buf.getvalue())


def window_audio(source: AudioSource, window) -> np.ndarray:
    """The real audio of one analysis window (a `core.windows.framing.Window`), decoded again from the source: played
    back when a user picks a window, so nothing is kept in memory between reruns."""
    x = decode_audio(source).samples
    a = int(round(window.start_s * SAMPLE_RATE))
    return x[a : a + int(round(window.content_s * SAMPLE_RATE))]
