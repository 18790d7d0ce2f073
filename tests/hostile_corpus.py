"""Hostile and odd inputs, generated (never dataset audio): what clinicians' devices, browsers and mistakes produce.

Each case says what a user must get: a specific message (`error`, matched against AudioDecodeError's text) or a
valid result, optionally with a note or abstention (`expect`, matched against the result's notes and verdict)."""
from __future__ import annotations

import io
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from tests.helpers import cry_like, encode, encode_av, tone

SR = 16_000


@dataclass(frozen=True)
class Case:
    name: str  # the file name the user uploads
    data: bytes
    error: str = ""  # regex the AudioDecodeError message must match (the file is refused)
    expect: str = ""  # regex matched against "notes | verdict" of the result (the file is analysed)


def _wav_header(rate: int, channels: int = 1, bits: int = 16, data_bytes: int = 0) -> bytes:
    block = channels * bits // 8
    return (b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, channels, rate,
            rate * block, block, bits) + b"data" + struct.pack("<I", data_bytes))


def _png() -> bytes:
    import zlib

    raw = b"".join(b"\x00" + bytes(range(16)) * 3 for _ in range(16))
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 16, 16, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def two_hour_flac(path: Path, rate: int = 8000) -> Path:
    """Two hours written block by block (a quiet tone compresses well: a few MB on disk, little memory)."""
    block = (0.05 * np.sin(2 * np.pi * 300 * np.arange(rate * 60) / rate)).astype(np.float32)
    with sf.SoundFile(path, "w", rate, 1, format="FLAC", subtype="PCM_16") as f:
        for _ in range(120):
            f.write(block)
    return path


def zip_bomb(member_mb: int = 300, members: int = 1) -> bytes:
    """Members of `member_mb` MB of zeros each (about 1000:1 compressed), streamed so building it is cheap."""
    buf = io.BytesIO()
    zero = bytes(1 << 20)
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for i in range(members):
            with z.open(f"bomb{i}.wav", "w", force_zip64=True) as fh:
                fh.write(_wav_header(SR, data_bytes=0))
                for _ in range(member_mb):
                    fh.write(zero)
    return buf.getvalue()


def corpus() -> list[Case]:
    cry = cry_like(4.0, f0=520, harsh=0.4)
    wav16 = encode(cry, SR, "WAV", "PCM_16")
    flac = encode(cry_like(6.0, f0=500), SR, "FLAC", "PCM_16")
    mp3 = encode(cry_like(6.0, f0=500), SR, "MP3", "MPEG_LAYER_III")
    ogg = encode(cry_like(6.0, f0=500), SR, "OGG", "VORBIS")
    nan = cry.copy()
    nan[1000:3000] = np.nan
    nan[5000] = np.inf
    nan[6000] = -np.inf
    six = np.stack([cry * (k + 1) / 6 for k in range(6)], axis=1)
    square = np.sign(np.sin(2 * np.pi * 200 * np.arange(3 * SR) / SR)).astype(np.float32)
    dc = (0.6 + 0.3 * cry).astype(np.float32)
    return [
        Case("empty.wav", b"", error="empty"),
        Case("header_only.wav", _wav_header(SR), error="no samples"),
        Case("header_claims_more.wav", _wav_header(SR, data_bytes=10_000_000) + wav16[44:], expect="pain|discomfort"),
        Case("cut_in_half.wav", wav16[: len(wav16) // 2], expect="pain|discomfort|no crying"),
        Case("truncated.flac", flac[: len(flac) // 2], expect="."),
        Case("truncated.mp3", mp3[: len(mp3) // 3], expect="."),
        Case("truncated.ogg", ogg[: len(ogg) // 2], error="no samples|could not be decoded"),
        Case("only_the_first_100_bytes.flac", flac[:100], error="no samples|not a recognised|could not be decoded"),
        Case("actually_flac.wav", flac, expect="pain|discomfort"),
        Case("actually_mp3.flac", mp3, expect="pain|discomfort"),
        Case("notes.wav", "Patient notes, not audio.\n".encode() * 40, error="Not a recognised audio"),
        Case("photo.wav", _png(), error="Not a recognised audio|no audio stream"),
        Case("random_bytes.m4a", np.random.default_rng(1).bytes(50_000), error="Not a recognised|could not be decoded|no decodable"),
        Case("garbage.webm", b"\x1aE\xdf\xa3" + np.random.default_rng(2).bytes(4000), error="Not a recognised|could not be decoded|no decodable"),
        Case("nan_inf.wav", encode(nan, SR, "WAV", "FLOAT"), expect="non-finite samples"),
        Case("huge_floats.wav", encode(cry * 1e6, SR, "WAV", "FLOAT"), expect="exceeded full scale"),
        Case("all_zeros.wav", encode(np.zeros(4 * SR, np.float32), SR, "WAV", "PCM_16"), expect="no verdict.*silent"),
        Case("dc_offset.wav", encode(dc, SR, "WAV", "FLOAT"), expect="."),
        Case("full_scale_square.wav", encode(square, SR, "WAV", "PCM_16"), expect="no verdict.*clipped"),
        Case("one_sample.wav", encode(np.array([0.5], np.float32), SR, "WAV", "PCM_16"), expect="too short"),
        Case("half_second.wav", encode(cry[: SR // 2], SR, "WAV", "PCM_16"), expect="."),
        Case("8khz.wav", encode(cry_like(4.0, f0=500, sr=8000), 8000, "WAV", "PCM_16"), expect="resampled from 8000"),
        Case("192khz.wav", encode(cry_like(3.0, f0=500, sr=192_000), 192_000, "WAV", "PCM_24"), expect="resampled from 192000"),
        Case("six_channels.wav", encode(six, SR, "WAV", "PCM_16"), expect="6 channels averaged"),
        Case("24bit.wav", encode(cry, SR, "WAV", "PCM_24"), expect="pain|discomfort"),
        Case("32bit_float.wav", encode(cry, SR, "WAV", "FLOAT"), expect="pain|discomfort"),
        Case("u8.wav", encode(cry, SR, "WAV", "PCM_U8"), expect="."),
        Case("rate_zero.wav", _wav_header(0, data_bytes=2000) + bytes(2000), error="."),
        Case("browser.webm", encode_av(cry, 48000, "webm", "libopus"), expect="pain|discomfort"),
        Case("录音 🫁 niño.wav", wav16, expect="pain|discomfort"),
        Case("x" * 400 + ".wav", wav16, expect="pain|discomfort"),
        Case("name\u202ewav.exe\nnewline.wav", wav16, expect="pain|discomfort"),
        Case("tone_1khz_48k.ogg", encode(tone(1000, 3.0, 48000), 48000, "OGG", "OPUS"), expect="."),
    ]
