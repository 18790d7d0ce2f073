"""Analyze one recording: upload or microphone -> verdict, quality and per-window probabilities."""
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.audio import AudioDecodeError
from ui.state import AUDIO_TYPES, sidebar

task, analyzer = sidebar()
st.title("Analyze a recording")
if analyzer is None:
    st.stop()

src_upload, src_mic = st.tabs(["Upload a file", "Record with the microphone"])
with src_upload:
    uploaded = st.file_uploader("Recording", type=AUDIO_TYPES, key="upload")
with src_mic:
    recorded = st.audio_input("Record", sample_rate=16000, key="mic")
source = uploaded or recorded
if source is None:
    st.caption("Upload a recording or record one to analyse it. Nothing is stored on the server.")
    st.stop()

data = source.getvalue()
st.audio(data)
try:
    with st.spinner("Analysing…"):
        result = analyzer.analyze(data, name=getattr(source, "name", "recording"))
except AudioDecodeError as exc:
    st.error(f"Cannot analyse this file: {exc}")
    st.stop()

verdict = result.verdict
head = result.heads[result.primary]
st.subheader(head.title)
if verdict.abstained:
    st.warning(f"No verdict — {verdict.reason}")
else:
    c1, c2, c3 = st.columns(3)
    c1.metric("Verdict", verdict.label)
    if verdict.note:
        st.caption(verdict.note)
    c2.metric("Confidence", f"{verdict.confidence:.0%}")
    c3.metric("Usable windows", f"{verdict.usable_windows} / {verdict.total_windows}")
st.caption(f"Rule: {verdict.rule}. Encoder: {result.encoder.label}.")
st.caption(f"Quality: {result.clip_quality.summary()}" + (f" · Audio: {'; '.join(result.audio_notes)}" if result.audio_notes else ""))

for other in result.heads.values():
    if other.name != result.primary:
        tag = " (experimental)" if other.experimental else ""
        st.write(f"**{other.title}{tag}:** {other.verdict.text()}")

if head.window_probs is not None:
    mid = [(w.start_s + min(w.end_s, w.start_s + 2.0)) / 2 for w in result.windows]
    fig = go.Figure()
    for j, lab in enumerate(head.labels):
        fig.add_trace(go.Scatter(x=mid, y=head.window_probs[:, j], mode="lines+markers", name=lab))
    fig.update_layout(height=280, margin=dict(l=10, r=10, t=10, b=10), xaxis_title="time (s, window centre)",
                      yaxis_title="probability", yaxis_range=[0, 1])
    st.plotly_chart(fig, use_container_width=True)
st.dataframe(pd.DataFrame(result.window_table()), hide_index=True)
