"""Streaming analysis for the live monitor: audio chunks in (any rate, any thread), a 2-s window classified every
second on a worker thread, bounded buffers so a long session uses constant memory.

The WebRTC callback only resamples and appends (microseconds); embedding and classification run on the monitor's
own thread, so neither the media thread nor the Streamlit script ever waits for the model.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

from core.answers.analyzer import Analyzer
from core.config import SAMPLE_RATE, WINDOW_SAMPLES
from core.quality.gate import WindowQuality, assess_windows, recording_floor
from core.windows.framing import Window

BUFFER_SECONDS = 30.0  # audio kept (the "save last 30 s" handoff); older audio is dropped
HISTORY = 600  # window predictions kept (10 minutes at one per second)
MAX_BACKLOG = 2  # windows waiting before the monitor skips to the newest one
IDLE_STOP_S = 15.0  # the worker ends when no audio arrived for this long; START again restarts it


@dataclass(frozen=True)
class LiveWindow:
    end_s: float  # stream time of the window's last sample
    probs: dict[str, np.ndarray]  # per window head, class probabilities
    quality: WindowQuality
    latency_s: float  # from the arrival of the window's newest sample to its prediction


@dataclass(frozen=True)
class LiveState:
    windows: list[LiveWindow]
    stream_s: float  # seconds of audio received
    running: bool
    error: str


class LiveMonitor:
    def __init__(self, analyzer: Analyzer, hop_s: float = 1.0, buffer_s: float = BUFFER_SECONDS):
        self.analyzer = analyzer
        self.hop = int(hop_s * SAMPLE_RATE)
        self._cap = int(buffer_s * SAMPLE_RATE)
        self._buf = np.zeros(0, np.float32)
        self._received = 0  # samples at 16 kHz since start
        self._arrival: deque[tuple[int, float]] = deque(maxlen=4096)  # (sample count, wall time) per chunk
        self._next_end = WINDOW_SAMPLES
        self._history: deque[LiveWindow] = deque(maxlen=HISTORY)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._resampler = None
        self._rate = None
        self.error = ""

    # -- producer side (WebRTC thread) --------------------------------------------------------------------------
    def push(self, samples: np.ndarray, rate: int) -> None:
        """Mono float32 samples in [-1, 1] at `rate`; resampled continuously (no seams between chunks)."""
        import soxr

        x = np.asarray(samples, np.float32).reshape(-1)
        if x.size == 0:
            return
        if not rate or rate <= 0 or rate > 768_000:
            self.error = f"the audio stream reports an invalid sample rate ({rate}); frames ignored"
            return
        if not np.isfinite(x).all():
            x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
        x = np.clip(x, -1.0, 1.0)
        if rate != SAMPLE_RATE:
            if self._resampler is None or self._rate != rate:
                self._resampler, self._rate = soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32"), rate
            x = self._resampler.resample_chunk(x)
        now = time.perf_counter()
        with self._lock:
            self._buf = np.concatenate([self._buf, x])[-self._cap:]
            self._received += len(x)
            self._arrival.append((self._received, now))
        self._wake.set()

    # -- worker ---------------------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="live-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._thread = None

    def _run(self) -> None:
        last_audio = time.perf_counter()
        while not self._stop.is_set():
            if self._wake.wait(timeout=0.5):
                last_audio = time.perf_counter()
            elif time.perf_counter() - last_audio > IDLE_STOP_S:
                return  # the stream is gone (tab closed, connection dropped): do not outlive the session
            self._wake.clear()
            while not self._stop.is_set():
                with self._lock:
                    if self._received < self._next_end:
                        break
                    # windows are classified in order; frames arrive in bursts, so a window or two of backlog is
                    # normal, but if the model fell further behind, skip to the newest complete window
                    behind = (self._received - self._next_end) // self.hop
                    end = self._next_end + (behind if behind > MAX_BACKLOG else 0) * self.hop
                    offset = len(self._buf) - (self._received - end)
                    window = self._buf[offset - WINDOW_SAMPLES: offset].copy() if offset >= WINDOW_SAMPLES else None
                    # an adaptive gate judges the window against the buffer's background, as analysis does a file's
                    floor = recording_floor(self._buf[:offset], self.analyzer.thresholds)
                    arrived = next((t for n, t in self._arrival if n >= end), time.perf_counter())
                    self._next_end = end + self.hop
                if window is None:
                    continue
                try:
                    self._classify(window, end, arrived, floor)
                except Exception as exc:  # reported on the page; the stream keeps running
                    self.error = f"{type(exc).__name__}: {exc}"

    def _classify(self, window: np.ndarray, end: int, arrived: float, floor: float | None = None) -> None:
        an = self.analyzer
        batch = window[None, :]
        w = Window(0, (end - WINDOW_SAMPLES) / SAMPLE_RATE, end / SAMPLE_RATE, WINDOW_SAMPLES / SAMPLE_RATE)
        q = assess_windows(batch, [w], clip_has_full_window=True, th=an.thresholds, floor_dbfs=floor)[0]
        emb = an.encoder.embed(batch)
        probs = {name: art.window_probabilities(emb)[0] for name, art in an.heads.items()
                 if art.track_labels is not None}
        self._history.append(LiveWindow(end / SAMPLE_RATE, probs, q, time.perf_counter() - arrived))

    # -- consumer side (Streamlit script) -------------------------------------------------------------------------
    def state(self) -> LiveState:
        with self._lock:
            stream_s = self._received / SAMPLE_RATE
        return LiveState(list(self._history), stream_s, self._thread is not None and self._thread.is_alive(),
                         self.error)

    def last_audio(self, seconds: float = BUFFER_SECONDS) -> np.ndarray:
        with self._lock:
            return self._buf[-int(seconds * SAMPLE_RATE):].copy()


def smoothed(windows: list[LiveWindow], head: str, labels: tuple[str, ...], n: int = 3) -> tuple[str, float] | None:
    """Mean of the last `n` usable windows' probabilities: one noisy second does not flip the verdict."""
    recent = [w.probs[head] for w in windows if w.quality.usable and head in w.probs][-n:]
    if not recent:
        return None
    p = np.mean(recent, axis=0)
    i = int(np.argmax(p))
    return labels[i], float(p[i])


CONNECT_TIMEOUT_S = 10.0
CONNECTION_HELP = ("On a remote server the browser usually needs a TURN server: set HEAR_SCREENING_ICE_SERVERS "
                   "(README, Live monitor). Behind a strict firewall, record with the Analyze page's microphone "
                   "recorder instead.")


@dataclass
class ConnectionWatch:
    """What the page learns about the WebRTC connection across reruns (the player only reports 'signalling' and
    'playing'), turned into a plain message when audio cannot flow."""

    signalled_at: float | None = None  # an offer was sent and no connection followed yet
    playing_since: float | None = None
    failed: bool = False  # signalled, never connected, then gave up

    def update(self, playing: bool, signalling: bool, now: float) -> None:
        if playing:
            self.signalled_at, self.failed = None, False
            self.playing_since = self.playing_since or now
        elif signalling:
            self.signalled_at = self.signalled_at or now
            self.playing_since = None
        else:
            if self.signalled_at is not None:
                self.failed = True
            self.signalled_at = self.playing_since = None

    def problem(self, received_s: float, now: float, timeout_s: float = CONNECT_TIMEOUT_S) -> str:
        if self.failed:
            return "WebRTC could not connect: the browser and this server never established the audio link. " + \
                CONNECTION_HELP
        if self.signalled_at is not None and now - self.signalled_at > timeout_s:
            return (f"WebRTC cannot connect: still no audio link after {now - self.signalled_at:.0f} s. "
                    + CONNECTION_HELP)
        if self.playing_since is not None and received_s == 0 and now - self.playing_since > timeout_s:
            return ("Connected, but no audio arrives: check that the browser uses the right microphone and that "
                    "the system has not muted it.")
        return ""
