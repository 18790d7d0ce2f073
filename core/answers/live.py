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

from core.answers.analyzer import Analyzer, Decisions
from core.references.model import ReferenceSet
from core.config import SAMPLE_RATE, WINDOW_SAMPLES
from core.quality.gate import WindowQuality, assess_clip, assess_windows, recording_floor
from core.windows.framing import Window

BUFFER_SECONDS = 30.0  # audio kept (the "save last 30 s" handoff); older audio is dropped
ANSWER_SECONDS = 15.0  # the live answer covers the windows of the last 15 s (SPRSound recordings are up to 15 s)
HISTORY = 600  # window predictions kept (10 minutes at one per second)
MAX_BACKLOG = 2  # windows waiting before the monitor skips to the newest one
IDLE_STOP_S = 15.0  # the worker ends when no audio arrived for this long; START again restarts it
NEW_STREAM_GAP_S = 1.0  # after stop(), audio arriving after a pause this long starts a fresh stream (START again)
TIMESTAMP_JITTER_S = 0.005  # gaps between sender timestamps up to this are rounding, not lost audio


@dataclass(frozen=True)
class LiveWindow:
    end_s: float  # stream time of the window's last sample
    probs: dict[str, np.ndarray]  # per window head, class probabilities
    quality: WindowQuality
    latency_s: float  # from the arrival of the window's newest sample to its prediction
    embedding: np.ndarray | None = None  # [dim]: the recording answers over recent windows are decided from these


@dataclass(frozen=True)
class LiveState:
    windows: list[LiveWindow]
    stream_s: float  # seconds of audio received (what the windows are cut from)
    running: bool
    error: str
    elapsed_s: float = 0.0  # wall-clock seconds since the stream's first audio (frozen once it stops)
    missing_s: float = 0.0  # audio the sender timestamped that never arrived (gaps between frame timestamps)

    def shortfall(self, min_elapsed_s: float = 5.0) -> str:
        """Why less audio was received than time passed, in words; "" while the two agree. A few hundred ms of
        lag is normal (frames in flight, the resampler's look-ahead); more means audio was lost or is late."""
        lag = self.elapsed_s - self.stream_s
        if self.elapsed_s < min_elapsed_s or lag < max(2.0, 0.1 * self.elapsed_s):
            return ""
        text = (f"Audio received: {self.stream_s:.0f} s in the {self.elapsed_s:.0f} s since the stream's first "
                f"audio arrived.")
        if self.missing_s >= 0.5:
            text += (f" {self.missing_s:.0f} s of it never reached this server (gaps in the browser's frame "
                     "timestamps: packets lost on the network).")
        if lag - self.missing_s >= 1.0:
            text += (" The browser sent less than real time (a background tab or a busy device can slow the "
                     "microphone) or the frames are still in flight.")
        return text + " Windows are cut from the audio received, so the verdict covers less time than elapsed."


class LiveMonitor:
    def __init__(self, analyzer: Analyzer, hop_s: float = 1.0, buffer_s: float = BUFFER_SECONDS):
        self.analyzer = analyzer
        self.hop = int(hop_s * SAMPLE_RATE)
        self._cap = int(buffer_s * SAMPLE_RATE)
        self._buf = np.zeros(0, np.float32)
        self._received = 0  # samples at 16 kHz since the stream started
        self._t0: float | None = None  # wall time of the stream's first sample (its first chunk's arrival - length)
        self._last_arrival: float | None = None
        self._pts_next: float | None = None  # the sender's timestamp the next chunk should carry (seconds)
        self._missing = 0.0  # seconds the sender's timestamps skip
        self._new_stream = False  # set by stop(): the next audio after a pause starts from zero
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
    def push(self, samples: np.ndarray, rate: int, pts_s: float | None = None, now: float | None = None) -> None:
        """Mono float32 samples in [-1, 1] at `rate`; resampled continuously (no seams between chunks). `pts_s`:
        the sender's timestamp of the chunk's first sample (WebRTC frame pts x time_base), so audio lost before it
        reached us is counted; `now` (tests): its arrival time on the perf_counter clock."""
        import soxr

        x = np.asarray(samples, np.float32).reshape(-1)
        if x.size == 0:
            return
        if not rate or rate <= 0 or rate > 768_000:
            self.error = f"the audio stream reports an invalid sample rate ({rate}); frames ignored"
            return
        now = time.perf_counter() if now is None else now
        if self._new_stream and (self._last_arrival is None or now - self._last_arrival >= NEW_STREAM_GAP_S):
            self._reset_stream()  # frames still in flight right after STOP belong to the old stream: kept
            self._new_stream = False
        dur = x.size / rate
        if not np.isfinite(x).all():
            x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
        x = np.clip(x, -1.0, 1.0)
        if rate != SAMPLE_RATE:
            if self._resampler is None or self._rate != rate:
                self._resampler, self._rate = soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32"), rate
            x = self._resampler.resample_chunk(x)
        with self._lock:
            if self._t0 is None:
                self._t0 = now - dur
            self._last_arrival = now
            if pts_s is not None and np.isfinite(pts_s):
                gap = pts_s - self._pts_next if self._pts_next is not None else 0.0
                if TIMESTAMP_JITTER_S < gap < IDLE_STOP_S:  # larger jumps or going back: the sender restarted
                    self._missing += gap
                self._pts_next = pts_s + dur
            self._buf = np.concatenate([self._buf, x])[-self._cap:]
            self._received += len(x)
            self._arrival.append((self._received, now))
        self._wake.set()

    def _reset_stream(self) -> None:
        """START after STOP: a fresh stream (counters, audio and window track from zero)."""
        with self._lock:
            self._buf = np.zeros(0, np.float32)
            self._received, self._next_end, self._missing = 0, WINDOW_SAMPLES, 0.0
            self._t0 = self._last_arrival = self._pts_next = None
            self._arrival.clear()
            self._history.clear()
            self._resampler = self._rate = None
            self.error = ""

    # -- worker ---------------------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="live-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._new_stream = True
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
        self._history.append(LiveWindow(end / SAMPLE_RATE, probs, q, time.perf_counter() - arrived, emb[0]))

    # -- consumer side (Streamlit script) -------------------------------------------------------------------------
    def state(self, now: float | None = None) -> LiveState:
        """`now` (tests): the perf_counter time to measure the elapsed wall clock at."""
        running = self._thread is not None and self._thread.is_alive()
        with self._lock:
            stream_s = self._received / SAMPLE_RATE
            if self._t0 is None:
                elapsed = 0.0
            else:  # while running the clock keeps going even when no audio comes; once stopped it freezes
                end = (time.perf_counter() if now is None else now) if running else self._last_arrival
                elapsed = max(0.0, end - self._t0)
            missing = self._missing
        return LiveState(list(self._history), stream_s, running, self.error, elapsed, missing)

    def decisions(self, seconds: float = ANSWER_SECONDS, experimental: bool = False,
                  references: ReferenceSet | None = None) -> Decisions | None:
        """The recording answers over the windows of the last `seconds`, decided by `Analyzer.decide`, the path a
        file's analysis takes (input check, quality, thresholds, requirements between answers, the infant's
        `references`): the live monitor and the Analyze page answer in the same words by the same rule. None
        before the first window."""
        with self._lock:
            hist = list(self._history)
            audio, received = self._buf.copy(), self._received
        hist = [w for w in hist if w.embedding is not None]
        if not hist:
            return None
        recent = [w for w in hist if w.end_s > hist[-1].end_s - seconds]
        start = recent[0].end_s - WINDOW_SAMPLES / SAMPLE_RATE
        first = max(0, len(audio) - (received - int(round(start * SAMPLE_RATE))))  # the buffer ends at `received`
        span = audio[first: first + int(round((hist[-1].end_s - start) * SAMPLE_RATE))]
        windows = [Window(i, w.end_s - WINDOW_SAMPLES / SAMPLE_RATE, w.end_s, WINDOW_SAMPLES / SAMPLE_RATE)
                   for i, w in enumerate(recent)]
        quality = [w.quality for w in recent]
        clip_q = assess_clip(span, quality, self.analyzer.thresholds)
        return self.analyzer.decide(np.stack([w.embedding for w in recent]), windows, quality, clip_q,
                                    experimental=experimental, references=references)

    def last_audio(self, seconds: float = BUFFER_SECONDS) -> np.ndarray:
        with self._lock:
            return self._buf[-int(seconds * SAMPLE_RATE):].copy()


def mono(frame) -> np.ndarray:
    """One WebRTC (PyAV) audio frame as mono float32 in [-1, 1]: packed or planar, integer or float samples."""
    x = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if np.issubdtype(x.dtype, np.signedinteger):
        x = x.astype(np.float32) / float(np.iinfo(x.dtype).max + 1)
    return x.reshape(-1, channels).mean(axis=1) if frame.format.is_packed else x.mean(axis=0)


def frames_callback(monitor: LiveMonitor):
    """streamlit-webrtc's queued-frames callback for `monitor`: every frame that arrived since the last call is
    handed over, with its timestamp so audio lost on the way is counted. A per-frame callback is not enough: in
    async mode streamlit-webrtc passes it only the newest frame of each batch and silently drops the others
    whenever the server is busy, which made the audio received fall behind the clock (27 s in 36 s on a loaded
    2-core machine). Only the newest frame goes back (the page plays it muted: aiortc pulls frames through the
    processing track only while it is consumed)."""

    async def on_frames(frames):
        for frame in frames:
            try:
                tb = frame.time_base
                pts_s = float(frame.pts * tb) if frame.pts is not None and tb is not None else None
                monitor.push(mono(frame), frame.sample_rate, pts_s=pts_s)
            except Exception as exc:  # an odd frame must not end the stream: the page shows the error
                monitor.error = f"an audio frame could not be read ({type(exc).__name__}: {exc})"
        return frames[-1:]

    return on_frames


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
