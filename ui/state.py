"""Cached resources and the sidebar every page shows (task, active encoder and why, head versions)."""
from __future__ import annotations

import streamlit as st

from core.answers.analyzer import DISCLAIMER, Analyzer
from core.heads.artifacts import ArtifactError, validated_evaluation
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


def current() -> tuple[str, Analyzer | None]:
    """The task chosen in the sidebar and its loaded Analyzer (None when it cannot be loaded: the sidebar says why).
    Pages call this; the sidebar itself is drawn once per run by the entry point, so the choice survives page
    changes."""
    task = st.session_state.get("task") or next(iter(TASKS))
    try:
        return task, get_analyzer(task)
    except (EncoderUnavailable, ArtifactError):
        return task, None


def sidebar() -> None:
    """The widgets every page shares (task, experimental heads), drawn by `app.py` on every run; pages read the
    choice with `current()`."""
    with st.sidebar:
        task = st.radio("Task", list(TASKS), format_func=lambda t: TASKS[t].title, key="task")
        try:
            analyzer = get_analyzer(task)
        except (EncoderUnavailable, ArtifactError) as exc:
            st.error(f"The {TASKS[task].title} model cannot be loaded: {exc}")
            return
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
        experimental = {n: a for n, a in analyzer.heads.items() if a.meta.get("experimental")}
        if experimental:
            st.toggle("Show experimental heads", key="experimental",
                      help="Off by default: their labels are not reliable enough for any decision.")
            if st.session_state.get("experimental"):
                for name, art in experimental.items():
                    st.warning(f"Experimental `{name}`: {held_out_text(head_metrics(str(art.path)))}. "
                               "Shown for research only, never as an answer.")
        st.info(DISCLAIMER)


def experimental_on() -> bool:
    """Whether the user switched on the experimental heads (sidebar); off unless asked for."""
    return bool(st.session_state.get("experimental", False))


def held_out_text(m: dict) -> str:
    """An experimental head's figures on people it never saw, in words, with the split named."""
    ev = validated_evaluation(m)
    met = ev["metrics"]
    return (f"macro AUC {met['roc_auc']:.2f}, balanced accuracy {met['balanced_accuracy']:.2f} "
            f"(chance {1 / len(ev['labels']):.2f}) on {ev['split']}")
