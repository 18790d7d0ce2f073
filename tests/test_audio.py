"""Decoding: every format a device or browser produces ends as float32 mono 16 kHz in [-1, 1]."""
import numpy as np
import pytest

from core.audio.decode import AudioDecodeError, decode_audio, from_array
from core.config import Limits
from tests.helpers import encode, encode_av, noise, tone


def _freq(x: np.ndarray, sr: int = 16000) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / sr)[np.argmax(spec)])


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE", "PCM_U8"])
def test_wav_sample_formats(subtype):
    x = tone(440, 2.5, 16000)
    a = decode_audio(encode(x, 16000, "WAV", subtype))
    assert a.samples.dtype == np.float32 and a.sample_rate == 16000
    assert len(a.samples) == len(x)
    tol = 0.02 if subtype == "PCM_U8" else 1e-3
    assert np.max(np.abs(a.samples - x)) < tol


@pytest.mark.parametrize("sr", [8000, 22050, 44100, 48000, 96000])
def test_resampled_to_16k_keeps_pitch_and_duration(sr):
    x = tone(440, 3.0, sr)
    a = decode_audio(encode(x, sr, "WAV", "PCM_16"))
    assert abs(a.duration_s - 3.0) < 0.01
    assert abs(_freq(a.samples) - 440) < 5
    assert a.source_rate == sr
    assert any("resampled" in n for n in a.notes)


@pytest.mark.parametrize("channels", [2, 6])
def test_multichannel_is_averaged(channels):
    x = tone(300, 2.0)
    multi = np.stack([x] * channels, axis=1)
    a = decode_audio(encode(multi, 16000, "WAV", "PCM_16"))
    assert a.source_channels == channels
    assert np.max(np.abs(a.samples - x)) < 1e-3


@pytest.mark.parametrize("fmt,subtype", [("FLAC", "PCM_16"), ("OGG", "VORBIS"), ("OGG", "OPUS"), ("MP3", "MPEG_LAYER_III")])
def test_compressed_formats(fmt, subtype):
    sr = 48000 if subtype == "OPUS" else 16000
    x = tone(500, 3.0, sr)
    a = decode_audio(encode(x, sr, fmt, subtype))
    assert abs(a.duration_s - 3.0) < 0.1
    assert abs(_freq(a.samples) - 500) < 10
    assert np.max(np.abs(a.samples)) <= 1.0


@pytest.mark.parametrize("container,codec,sr", [("webm", "libopus", 48000), ("mp4", "aac", 44100), ("ipod", "aac", 16000)])
def test_browser_containers(container, codec, sr):
    x = tone(600, 2.0, sr)
    data = encode_av(x, sr, container, codec)
    a = decode_audio(data)
    assert abs(a.duration_s - 2.0) < 0.15
    assert abs(_freq(a.samples) - 600) < 10


def test_float_wav_beyond_full_scale_and_nan_are_repaired():
    x = tone(440, 2.0, amp=3.0)
    x[100:200] = np.nan
    x[300] = np.inf
    a = decode_audio(encode(x, 16000, "WAV", "FLOAT"))
    assert np.isfinite(a.samples).all() and np.max(np.abs(a.samples)) <= 1.0
    assert any("non-finite" in n for n in a.notes)
    assert any("full scale" in n for n in a.notes)


def test_full_scale_integer_audio_resampled_decodes_without_a_scaling_note():
    """A resampler overshoots full-scale integer audio by a few samples: clipped silently, never a note telling the
    user of an ordinary 16-bit file that its floats exceeded full scale, never a rescaled recording."""
    t = np.arange(8000 * 3) / 8000
    x = np.sign(np.sin(2 * np.pi * 300 * t)) * 0.99999  # a square wave at full scale: maximal overshoot
    a = decode_audio(encode(x.astype(np.float32), 8000, "WAV", "PCM_16"))
    assert not any("full scale" in n for n in a.notes) and a.notes == ("resampled from 8000 Hz to 16000 Hz",)
    assert np.abs(a.samples).max() <= 1.0
    assert np.median(np.abs(a.samples)) > 0.95  # not scaled down as a whole


@pytest.mark.parametrize(
    "data,message",
    [
        (b"", "empty"),
        (b"this is a text file, not audio\n" * 20, "Not a recognised audio"),
        (b"\x89PNG\r\n\x1a\n" + bytes(200), "Not a recognised audio"),
    ],
)
def test_garbage_gets_a_clear_message(data, message):
    with pytest.raises(AudioDecodeError, match=message):
        decode_audio(data)


def test_header_only_wav():
    header = encode(np.zeros(0, np.float32), 16000, "WAV", "PCM_16")
    assert len(header) == 44
    with pytest.raises(AudioDecodeError):
        decode_audio(header)


def test_size_and_duration_limits():
    x = noise(5.0)
    data = encode(x, 16000, "WAV", "PCM_16")
    with pytest.raises(AudioDecodeError, match="limit"):
        decode_audio(data, limits=Limits(max_bytes=1000))
    a = decode_audio(data, limits=Limits(max_seconds=2.0))
    assert abs(a.duration_s - 2.0) < 1e-3 and any("only the first" in n for n in a.notes)


def test_from_array_and_path(tmp_path):
    x = tone(440, 1.0, 8000)
    a = from_array(x, 8000)
    assert abs(a.duration_s - 1.0) < 1e-3
    p = tmp_path / "x.flac"
    p.write_bytes(encode(x, 8000, "FLAC", "PCM_16"))
    assert abs(decode_audio(p).duration_s - 1.0) < 1e-3
    with pytest.raises(AudioDecodeError, match="not found"):
        decode_audio(tmp_path / "missing.wav")


def test_window_audio_is_the_windows_real_samples():
    from core.audio.decode import window_audio
    from core.windows.framing import make_windows

    x = noise(3.5)
    data = encode(x, 16000, "WAV", "FLOAT")
    _, wins = make_windows(x, 1.0)
    seg = window_audio(data, wins[-1])
    assert len(seg) == int(round(wins[-1].content_s * 16000)) == 24000  # the last window: 2.0-3.5 s of audio
    assert np.allclose(seg, x[32000:], atol=1e-6)
