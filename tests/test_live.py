"""The live monitor: chunks in at browser rates from another thread, one prediction per second of audio, bounded
memory, latency measured."""
import time

import numpy as np
import pytest

from core.answers.analyzer import Analyzer
from core.answers.live import LiveMonitor
from tests.helpers import cry_like


def _feed(mon: LiveMonitor, x48: np.ndarray, chunk: int = 960) -> None:
    for i in range(0, len(x48), chunk):  # 20-ms frames at 48 kHz, as WebRTC delivers them
        mon.push(x48[i:i + chunk], 48000)


def _wait_until(mon, end_s, timeout=30.0):
    """Until the newest window ends at `end_s` (the monitor skips windows it cannot keep up with)."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        st = mon.state()
        if st.windows and abs(st.windows[-1].end_s - end_s) < 1e-6:
            return st
        time.sleep(0.05)
    raise AssertionError(f"no window ending at {end_s} s: {[w.end_s for w in mon.state().windows]}")


def test_one_prediction_per_second_with_latency_and_smoothing():
    import soxr

    an = Analyzer("cry", "acoustic")
    mon = LiveMonitor(an, buffer_s=5.0)
    mon.start()
    try:
        x16 = cry_like(6.0, f0=520)
        _feed(mon, soxr.resample(x16, 16000, 48000).astype(np.float32))
        received = mon.state().stream_s
        assert abs(received - 6.0) < 0.05  # the resampler holds back a few ms until more audio arrives
        st = _wait_until(mon, float(int(received)))
        ends = [w.end_s for w in st.windows]
        # 2-s windows on a one-second grid; fed faster than real time, the monitor may skip stale ones
        assert ends[0] >= 2.0 and all(e.is_integer() for e in ends) and ends == sorted(set(ends))
        assert all(set(w.probs) == {"pain", "reason"} for w in st.windows)  # window heads only
        assert all(0 <= w.latency_s < 30 for w in st.windows)
        assert st.windows[0].quality.usable
        # the live answer is decided by the analysis's own path over the recent windows' embeddings
        calls = []
        decide = an.decide
        an.decide = lambda *a, **k: calls.append(len(a[0])) or decide(*a, **k)
        d = mon.decisions()
        assert calls == [len(st.windows)]
        v = d.heads["pain"].verdict
        assert (v.abstained and v.reason) or (v.label in ("discomfort", "pain") and v.confidence is not None)
        assert d.input_check is None or d.input_check.task == "cry"
        assert len(mon.last_audio()) == 5 * 16000  # the buffer keeps only the last 5 s
        assert st.error == ""
    finally:
        mon.stop()
    assert not mon.state().running


def test_memory_is_bounded_over_a_long_stream():
    an = Analyzer("cry", "acoustic")
    mon = LiveMonitor(an, buffer_s=3.0)
    import core.answers.live as live

    mon._history = live.deque(maxlen=4)  # a short history makes the bound visible quickly
    mon.start()
    try:
        x = cry_like(20.0, f0=500)
        for i in range(0, len(x), 320):
            mon.push(x[i:i + 320], 16000)
        st = _wait_until(mon, 20.0)
        assert len(st.windows) <= 4 and len(mon.last_audio(60)) == 3 * 16000
    finally:
        mon.stop()


def test_connection_watch_names_each_way_audio_can_fail_to_flow():
    from core.answers.live import ConnectionWatch

    w = ConnectionWatch()
    w.update(playing=False, signalling=True, now=100.0)
    assert w.problem(0.0, now=105.0) == ""  # still negotiating: give it time
    assert w.problem(0.0, now=111.0).startswith("WebRTC cannot connect: still no audio link after 11 s")
    w.update(playing=False, signalling=False, now=140.0)  # the player gave up
    assert w.problem(0.0, now=140.5).startswith("WebRTC could not connect")
    w.update(playing=True, signalling=False, now=150.0)
    assert w.problem(0.0, now=155.0) == ""
    assert w.problem(0.0, now=161.0).startswith("Connected, but no audio arrives")
    assert w.problem(3.0, now=161.0) == ""
    w.update(playing=False, signalling=False, now=170.0)  # stopped after playing: not a failure
    assert w.problem(3.0, now=171.0) == ""


def test_worker_ends_when_the_stream_goes_quiet(monkeypatch):
    import core.answers.live as live

    monkeypatch.setattr(live, "IDLE_STOP_S", 0.6)
    mon = LiveMonitor(Analyzer("cry", "acoustic"))
    mon.start()
    mon.push(cry_like(0.5), 16000)
    t0 = time.time()
    while mon.state().running and time.time() - t0 < 10:
        time.sleep(0.1)
    assert not mon.state().running  # a closed tab does not leave a thread behind


def test_bursty_arrival_does_not_drop_windows():
    """WebRTC delivers frames in bursts; a backlog of a window or two is worked off in order, not skipped."""
    mon = LiveMonitor(Analyzer("cry", "acoustic"))
    mon.start()
    try:
        x = cry_like(8.0, f0=520)
        for i in range(0, len(x), 32000):  # two seconds at once, then a pause
            mon.push(x[i:i + 32000], 16000)
            time.sleep(1.0)
        st = _wait_until(mon, 8.0)
        assert [w.end_s for w in st.windows] == [2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
    finally:
        mon.stop()


# -- the "audio received" counter against the wall clock --------------------------------------------------------------

def _stream(mon: LiveMonitor, seconds: float, rate: int = 48000, frame_s: float = 0.02, t0: float = 1000.0,
            pace: float = 1.0, lose_every: int = 0):
    """WebRTC-like frames with sender timestamps; `pace` > 1: they arrive slower than real time; `lose_every`: every
    n-th frame never arrives (its timestamp is skipped, as after packet loss)."""
    n = int(round(frame_s * rate))
    x = np.zeros(int(round(seconds * rate)), np.float32)
    for k, i in enumerate(range(0, len(x), n)):
        if lose_every and k % lose_every == lose_every - 1:
            continue
        mon.push(x[i:i + n], rate, pts_s=i / rate, now=t0 + pace * (i + n) / rate)


def test_received_counts_seconds_of_audio_whatever_the_browser_rate():
    """30 s at 48 kHz in 20-ms frames count as 30 s (the counter is in seconds of audio, not in samples at the
    analysis rate) and agree with the wall clock: no warning."""
    mon = LiveMonitor(Analyzer("cry", "acoustic"))
    _stream(mon, 30.0)
    st = mon.state()
    assert abs(st.stream_s - 30.0) < 0.05 and abs(st.elapsed_s - 30.0) < 1e-6
    assert st.missing_s == 0 and st.shortfall() == ""


def test_lost_frames_are_counted_and_explained():
    mon = LiveMonitor(Analyzer("cry", "acoustic"))
    _stream(mon, 30.0, lose_every=3)  # a third of the frames never arrive
    st = mon.state()
    assert abs(st.stream_s - 20.0) < 0.1 and abs(st.missing_s - 10.0) < 0.05
    assert abs(st.elapsed_s - 30.0) < 0.05
    text = st.shortfall()
    assert text.startswith("Audio received: 20 s in the 30 s") and "10 s of it never reached this server" in text
    assert "less than real time" not in text


def test_audio_slower_than_real_time_is_explained():
    mon = LiveMonitor(Analyzer("cry", "acoustic"))
    _stream(mon, 20.0, pace=1.5)  # every frame arrives, but the browser sends 2 s of audio every 3 s
    st = mon.state()
    assert st.missing_s == 0 and abs(st.elapsed_s - 30.0) < 0.05
    text = st.shortfall()
    assert "20 s in the 30 s" in text and "less than real time" in text and "never reached" not in text


def test_short_or_small_lag_is_not_a_shortfall():
    from core.answers.live import LiveState

    assert LiveState([], 3.0, True, "", elapsed_s=4.5).shortfall() == ""  # too early to tell
    assert LiveState([], 29.2, True, "", elapsed_s=30.0).shortfall() == ""  # frames in flight, resampler delay
    assert LiveState([], 24.0, True, "", elapsed_s=30.0).shortfall() != ""


def test_elapsed_keeps_running_while_the_worker_runs_and_freezes_when_stopped():
    mon = LiveMonitor(Analyzer("cry", "acoustic"))
    mon.start()
    try:
        now = time.perf_counter()
        mon.push(np.zeros(16000, np.float32), 16000, now=now)
        assert abs(mon.state(now=now + 4.0).elapsed_s - 5.0) < 1e-6  # no audio for 4 s: the clock goes on
    finally:
        mon.stop()
    assert abs(mon.state(now=now + 60.0).elapsed_s - 1.0) < 1e-6  # stopped: frozen at the last audio


def test_start_after_stop_is_a_fresh_stream_but_late_frames_belong_to_the_old_one():
    mon = LiveMonitor(Analyzer("cry", "acoustic"))
    mon.push(np.full(32000, 0.1, np.float32), 16000, pts_s=0.0, now=10.0)
    mon.stop()  # STOP pressed
    mon.push(np.full(320, 0.1, np.float32), 16000, pts_s=2.0, now=10.05)  # a frame still in flight: kept
    assert abs(mon.state().stream_s - 2.02) < 1e-6
    mon.push(np.full(16000, 0.2, np.float32), 16000, pts_s=0.0, now=20.0)  # START again, ten seconds later
    st = mon.state()
    assert st.stream_s == 1.0 and st.elapsed_s == 1.0 and st.missing_s == 0 and st.windows == []
    assert np.allclose(mon.last_audio(), 0.2)  # the old stream's audio is gone
    mon.push(np.full(16000, 0.2, np.float32), 16000, pts_s=1.0, now=21.5)  # a pause mid-stream: no reset
    assert mon.state().stream_s == 2.0


def test_queued_frames_callback_hands_over_every_frame():
    """The cause of the counter falling behind: streamlit-webrtc gives a per-frame callback only the newest frame of
    each batch that queued up while the server was busy. The queued callback the page uses gets them all."""
    import asyncio

    av = pytest.importorskip("av")
    models = pytest.importorskip("streamlit_webrtc.models")
    from fractions import Fraction

    from core.answers.live import frames_callback

    def frames(n, start=0):
        out = []
        for k in range(start, start + n):
            f = av.AudioFrame.from_ndarray(np.full((1, 2 * 960), 8192, np.int16), format="s16",
                                           layout="stereo")
            f.sample_rate, f.pts, f.time_base = 48000, 960 * k, Fraction(1, 48000)
            out.append(f)
        return out

    mon = LiveMonitor(Analyzer("cry", "acoustic"))
    per_frame = models.CallbackAttachableProcessor(lambda f: (mon.push(np.zeros(960, np.float32), 48000), f)[1],
                                                   None, None)
    asyncio.run(per_frame.recv_queued(frames(5)))
    assert mon.state().stream_s < 0.03  # one frame of five: the other four were dropped

    mon = LiveMonitor(Analyzer("cry", "acoustic"))
    queued = models.CallbackAttachableProcessor(None, frames_callback(mon), None)
    batch = frames(5)
    back = asyncio.run(queued.recv_queued(batch))
    assert back == batch[-1:]
    assert asyncio.run(queued.recv_queued(frames(3, start=7))) and abs(mon.state().missing_s - 0.04) < 1e-6
    st = mon.state()
    assert abs(st.stream_s - 0.16) < 0.01 and st.error == ""  # eight 20-ms frames (a resampler's few ms held back)
    audio = mon.last_audio()
    assert abs(np.median(audio) - 0.25) < 1e-3 and audio.max() < 0.3  # int16 stereo scaled to [-1, 1], mono
