"""Cached resources and the sidebar every page shows (task, active encoder and why, head versions)."""
from __future__ import annotations

import streamlit as st

from core.answers.analyzer import DISCLAIMER, Analyzer
from core.heads.artifacts import ArtifactError
from core.encoders import EncoderUnavailable
from core.tasks import TASKS

AUDIO_TYPES = ["wav", "flac", "ogg", "opus", "mp3", "webm", "m4a", "mp4"]


@st.cache_resource(show_spinner="Loading encoder and trained heads…")
def get_analyzer(task: str, encoder: str = "auto") -> Analyzer:
    """One Analyzer per (task, encoder) per server process: HeAR and the heads are loaded once."""
    return Analyzer(task, encoder)


@st.cache_data(show_spinner=False)
def head_metrics(path: str) -> dict:
    """A head artefact's metrics.json, read once per server process (artefacts do not change while it runs)."""
    import json
    from pathlib import Path

    m = json.loads((Path(path) / "metrics.json").read_text())
    ablation = Path(path) / "ablation.json"  # measured separately (scripts/respiratory_ablation.py)
    if ablation.is_file():
        m["ablation"] = json.loads(ablation.read_text())
    return m


def sidebar() -> tuple[str, Analyzer | None]:
    with st.sidebar:
        task = st.radio("Task", list(TASKS), format_func=lambda t: TASKS[t].title, key="task")
        try:
            analyzer = get_analyzer(task)
        except (EncoderUnavailable, ArtifactError) as exc:
            st.error(f"The {TASKS[task].title} model cannot be loaded: {exc}")
            return task, None
        info = analyzer.encoder.info
        st.markdown(f"**Encoder:** {info.label}")
        if info.name != "hear":
            st.caption(analyzer.encoder_note)
        for name, art in analyzer.heads.items():
            meta = art.meta
            tag = " · experimental" if meta.get("experimental") else ""
            st.caption(f"Head `{name}` · {meta['chosen']} · trained {meta['created'][:10]}{tag}")
        for name, why in analyzer.missing.items():
            st.caption(f"Head `{name}` not available: {why}")
        st.info(DISCLAIMER)
    return task, analyzer
