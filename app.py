"""Body-sound screening dashboard (HeAR or the built-in encoder): entry point (`streamlit run app.py`). The widgets every page shares (the task, the
experimental switch) are drawn here, once per run, so their state survives moving between pages."""
from pathlib import Path

import streamlit as st

from core.config import storage_url
from ui.state import sidebar

HERE = Path(__file__).resolve().parent  # absolute page paths: every rerun runs this entry point first

# the title names no encoder: HeAR runs only where its weights are installed, and the sidebar says which one runs
st.set_page_config(page_title="Body-sound screening", page_icon="🩺", layout="wide")

pages = [
    st.Page(HERE / "views" / "analyze.py", title="Analyze", icon="🔎", default=True),
    st.Page(HERE / "views" / "examination.py", title="Examination", icon="🫁"),
    st.Page(HERE / "views" / "live.py", title="Live monitor", icon="🎙️"),
    st.Page(HERE / "views" / "batch.py", title="Batch", icon="🗂️"),
    st.Page(HERE / "views" / "embeddings.py", title="Embeddings", icon="🧭"),
    st.Page(HERE / "views" / "metrics.py", title="Model metrics", icon="📊"),
    st.Page(HERE / "views" / "calibration.py", title="Calibration", icon="🎚️"),
]
if storage_url() is not None:  # saved visits only where the deployment keeps them
    pages.insert(2, st.Page(HERE / "views" / "history.py", title="History", icon="🗓️"))
sidebar()
page = st.navigation(pages)
# which page the previous run drew: a page's uploader forgets its files when the user goes to another page, so the
# pages keep their last work in the session and give it back on return (ui.state.keep_files)
st.session_state["_came_from"] = st.session_state.get("_on_page")
st.session_state["_on_page"] = page.url_path
page.run()
