"""Signals with known properties, encoded the way devices and browsers deliver them."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent

SR = 16_000


def tone(freq: float = 440.0, seconds: float = 3.0, sr: int = SR, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def noise(seconds: float = 3.0, sr: int = SR, amp: float = 0.1, seed: int = 0) -> np.ndarray:
    return (amp * np.random.default_rng(seed).standard_normal(int(seconds * sr))).astype(np.float32)


def cry_like(seconds: float = 4.0, f0: float = 450.0, sr: int = SR, seed: int = 0, harsh: float = 0.0) -> np.ndarray:
    """Voiced bursts with harmonics (a crude cry); `harsh` adds noise and pitch jitter."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    vib = 1 + 0.03 * np.sin(2 * np.pi * 5 * t) + harsh * 0.05 * rng.standard_normal(len(t)).cumsum() / np.sqrt(len(t))
    phase = 2 * np.pi * np.cumsum(f0 * vib) / sr
    x = sum(np.sin(k * phase) / k for k in range(1, 6))
    env = (np.sin(2 * np.pi * 0.7 * t) > -0.3).astype(float)
    x = x * env + harsh * 0.3 * rng.standard_normal(len(t))
    return (0.25 * x / np.max(np.abs(x))).astype(np.float32)


def encode(x: np.ndarray, sr: int, fmt: str, subtype: str | None = None) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, sr, format=fmt, subtype=subtype)
    return buf.getvalue()


def encode_av(x: np.ndarray, sr: int, container: str, codec: str) -> bytes:
    """Encode like a browser does (WebM/Opus, MP4/AAC) with PyAV's bundled FFmpeg."""
    import av

    buf = io.BytesIO()
    with av.open(buf, mode="w", format=container) as out:
        stream = out.add_stream(codec, rate=sr)
        stream.layout = "mono"
        pcm = (np.clip(x, -1, 1) * 32767).astype(np.int16)
        frame_size = 960 if codec == "libopus" else 1024
        for i in range(0, len(pcm), frame_size):
            chunk = pcm[i : i + frame_size]
            frame = av.AudioFrame.from_ndarray(chunk[None, :], format="s16", layout="mono")
            frame.sample_rate = sr
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


def write(path: Path, x: np.ndarray, sr: int = SR, subtype: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, x, sr, subtype=subtype)
    return path


def zip_bytes(members: dict[str, bytes]) -> bytes:
    """A deflated zip archive held in memory, as a user would upload it."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def ready_app(timeout: float = 120):
    """The app in AppTest once its models are loaded: the first run paints with the models loading behind it
    (`ui.state`); a user's browser reruns when they are ready, a test waits for them and runs again."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout).run()
    return settle(at)


def settle(at):
    """Wait for the chosen task's models to finish loading, then run the app again (as the page's poll would)."""
    from ui.state import start_loading  # the same process-wide loader the app uses

    task = at.session_state["task"] if "task" in at.session_state else "respiratory"
    start_loading(task).exception()
    return at.run()


def heads_only(analyzer):
    """`analyzer` without its input check, for tests whose subject is decoding, the quality gate or the heads on
    generated audio: the check rightly refuses a generated cry or tone (it was trained to refuse synthetic sounds),
    which would hide what these tests look at. The check itself is tested in tests/test_input_check.py."""
    analyzer.input_check = None
    return analyzer
