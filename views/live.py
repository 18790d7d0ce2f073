"""Live monitor: the browser microphone streamed over WebRTC, a 2-s window classified every second off-thread."""
import hashlib
import io
import json
import os
import time

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.config import SAMPLE_RATE
from core.answers.analyzer import refused_by_check, validated_words
from core.answers.live import ANSWER_SECONDS, BUFFER_SECONDS, ConnectionWatch, LiveMonitor, frames_callback
from core.windows.spectrogram import display_spectrogram
from ui.figures import LABEL_COLOURS
from ui.live_figures import live_spectrogram
from ui.mic_probe import microphone_problem
from ui.state import current, experimental_on

st.title("Live monitor")  # painted before waiting for the models
task, analyzer = current()
if analyzer is None:
    st.stop()
try:
    from streamlit_webrtc import WebRtcMode, webrtc_streamer
except ImportError as exc:  # an install without the WebRTC stack still serves every other page
    st.error(f"The live monitor needs streamlit-webrtc and aiortc, which are not installed here ({exc}).")
    st.stop()

key = f"live_monitor:{task}:{analyzer.encoder.info.identity}"
if key not in st.session_state:
    st.session_state[key] = LiveMonitor(analyzer)
monitor: LiveMonitor = st.session_state[key]


def ice_configuration() -> dict:
    """No ICE servers on localhost; for remote use set HEAR_SCREENING_ICE_SERVERS to a JSON list of RTCIceServer
    (or a whole RTCConfiguration object, e.g. to force relaying through TURN)."""
    raw = os.environ.get("HEAR_SCREENING_ICE_SERVERS", "").strip()
    try:
        value = json.loads(raw) if raw else []
    except ValueError:
        value = None
    if isinstance(value, list):
        return {"iceServers": value}
    if isinstance(value, dict) and isinstance(value.get("iceServers", []), list):
        return value
    st.warning("HEAR_SCREENING_ICE_SERVERS is not a JSON list of ICE servers or an RTCConfiguration object; using "
               "no ICE servers (works on localhost only).")
    return {"iceServers": []}


mic_problem = microphone_problem()  # said in words above the player, whose own errors are raw browser text
if mic_problem:
    st.error(mic_problem)
try:
    ctx = webrtc_streamer(key="live", mode=WebRtcMode.SENDRECV, queued_audio_frames_callback=frames_callback(monitor),
                          audio_html_attrs={"autoPlay": True, "controls": False, "muted": True},
                          media_stream_constraints={"audio": True, "video": False},
                          rtc_configuration=ice_configuration())
except Exception as exc:  # e.g. no Streamlit server runtime behind the page: say so, keep the rest usable
    ctx = None
    st.error(f"The WebRTC player cannot start here ({type(exc).__name__}: {exc}). Use the Analyze page's "
             "microphone recorder instead.")
if ctx is not None and ctx.state.playing:
    monitor.start()
else:
    monitor.stop()
watch: ConnectionWatch = st.session_state.setdefault("live_connection", ConnectionWatch())
if ctx is not None:
    watch.update(ctx.state.playing, ctx.state.signalling, time.time())
st.caption("Press START and allow the microphone. Every second the latest 2-s window is classified on a worker "
           "thread. If the browser blocks the microphone, the player above says so: allow it from the padlock "
           "icon in the address bar and press START again. Screening aid for research; not a diagnosis.")

window_heads = [n for n, a in analyzer.heads.items() if a.track_labels is not None]
shown = analyzer.task.primary if analyzer.task.primary in window_heads else (analyzer.task.track or window_heads[0])
head = st.selectbox("Window track shown below", window_heads, index=window_heads.index(shown) if shown in window_heads else 0,
                    format_func=lambda n: analyzer.heads[n].meta["title"], key="live_head")
labels = analyzer.heads[head].track_labels


def answer_box(decided) -> None:
    """The answers over the last ANSWER_SECONDS of windows, decided as the Analyze page decides a file (same
    function, same words), in text that wraps rather than a metric box that cuts long answers."""
    if decided is None:
        st.markdown("**Answer:** waiting for the first 2-s window…")
        return
    check = decided.input_check
    primary = decided.heads.get(analyzer.task.primary)
    if primary is not None and refused_by_check(check, primary.verdict):
        st.error(f"**No answer: wrong kind of audio.** {check.sentence()}")
        return
    lead = [analyzer.task.primary, *analyzer.task.screening]
    for name in lead:
        h = decided.heads.get(name)
        if h is None:
            continue
        v = h.verdict
        text = f"no answer: {v.reason}" if v.abstained else f"{v.label} (probability {v.confidence:.0%})"
        st.markdown(f"**{h.title}** (last {ANSWER_SECONDS:.0f} s): {text}")
        if not v.abstained:
            if v.rule.startswith("judged against"):  # the reference cries kept in this session for this infant
                st.caption(f"Rule: {v.rule}.")
            st.caption(validated_words(h) + " Validated on whole recordings; a live stretch of "
                       f"{ANSWER_SECONDS:.0f} s is judged by the same rule.")


def live_references():
    """The infant's reference cries kept in this session (given on the Analyze or Batch page), checked once."""
    kept = st.session_state.get("kept_references") if task == "cry" else None
    if not kept:
        return None
    key = tuple(hashlib.blake2b(b, digest_size=16).hexdigest() for _, b in kept)
    cached = st.session_state.get("live_refs")
    if cached is None or cached[0] != key:
        cached = (key, analyzer.check_references(kept))
        st.session_state["live_refs"] = cached
    return cached[1]


@st.fragment(run_every=1.0)
def live_view() -> None:
    state = monitor.state()
    problem = watch.problem(state.stream_s, time.time())
    if problem:
        st.error(problem)
    if state.error:
        st.error(f"Live analysis error: {state.error}")
    last = state.windows[-1] if state.windows else None
    decided = monitor.decisions(experimental=experimental_on(), references=live_references())
    c1, c2, c4 = st.columns(3)
    c1.metric("Listening", f"{state.stream_s:.0f} s" if state.running else "stopped",
              delta=f"of {state.elapsed_s:.0f} s elapsed" if state.elapsed_s else None, delta_color="off",
              delta_arrow="off",
              help="Seconds of microphone audio this server has received in this stream, beside the wall-clock "
                   "time since its first audio arrived. They agree, within a second, when every frame arrives.")
    c2.metric("Windows analysed", len(state.windows))
    c4.metric("Latency", f"{last.latency_s * 1000:.0f} ms" if last else "–",
              help="From the arrival of a window's newest sample to its prediction.")
    answer_box(decided)
    shortfall = state.shortfall()
    if shortfall:
        st.warning(shortfall)
    if last is not None:
        st.caption(f"Latest window ({last.end_s - 2:.0f}–{last.end_s:.0f} s): "
                   + ("usable" if last.quality.usable else f"not used: {last.quality.reason()}")
                   + f", {last.quality.rms_dbfs:.0f} dBFS")
    audio = monitor.last_audio(10.0)
    if len(audio) >= SAMPLE_RATE // 2:
        offset = max(0.0, state.stream_s - len(audio) / SAMPLE_RATE)  # stream time of the shown audio's start
        st.plotly_chart(live_spectrogram(display_spectrogram(audio), offset), width="stretch", key="live_spec")
        st.caption("The last 10 s of audio received (log-mel; rows labelled with their centre frequency).")
    recent = [w for w in state.windows if head in w.probs][-60:]
    if recent:
        track = pd.DataFrame([w.probs[head] for w in recent], columns=list(labels))
        track["time (s)"] = [w.end_s for w in recent]
        fig = go.Figure([go.Scatter(x=track["time (s)"], y=track[lab], mode="lines+markers", name=lab,
                                    line=dict(color=LABEL_COLOURS[j % len(LABEL_COLOURS)]))
                         for j, lab in enumerate(labels)])
        fig.update_layout(height=220, margin=dict(l=10, r=10, t=10, b=10), yaxis_range=[0, 1],
                          xaxis_title="window end (s)", yaxis_title="probability")
        st.plotly_chart(fig, width="stretch", key="live_track")


live_view()

if st.button(f"Save the last {BUFFER_SECONDS:.0f} s and open it in Analyze", key="live_save"):
    import soundfile as sf

    audio = monitor.last_audio()
    if len(audio) < SAMPLE_RATE // 4:
        st.warning("Nothing recorded yet.")
    else:
        buf = io.BytesIO()
        sf.write(buf, audio, SAMPLE_RATE, format="WAV", subtype="PCM_16")
        st.session_state["handoff"] = ("live_recording.wav", buf.getvalue())
        st.switch_page("views/analyze.py")
