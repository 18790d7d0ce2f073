"""The live monitor: chunks in at browser rates from another thread, one prediction per second of audio, bounded
memory, latency measured."""
import time

import numpy as np

from core.answers.analyzer import Analyzer
from core.answers.live import LiveMonitor, smoothed
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
        label, conf = smoothed(st.windows, "pain", ("discomfort", "pain"))
        assert label in ("discomfort", "pain") and 0.5 <= conf <= 1
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
