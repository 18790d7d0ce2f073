"""HeAR screening dashboard: entry point (`streamlit run app.py`). The widgets every page shares (the task, the
experimental switch) are drawn here, once per run, so their state survives moving between pages."""
from pathlib import Path

import streamlit as st

from ui.state import sidebar

HERE = Path(__file__).resolve().parent  # absolute page paths: every rerun runs this entry point first

st.set_page_config(page_title="HeAR screening dashboard", page_icon="🩺", layout="wide")

pages = [
    st.Page(HERE / "views" / "analyze.py", title="Analyze", icon="🔎", default=True),
    st.Page(HERE / "views" / "examination.py", title="Examination", icon="🫁"),
    st.Page(HERE / "views" / "live.py", title="Live monitor", icon="🎙️"),
    st.Page(HERE / "views" / "batch.py", title="Batch", icon="🗂️"),
    st.Page(HERE / "views" / "embeddings.py", title="Embeddings", icon="🧭"),
    st.Page(HERE / "views" / "metrics.py", title="Model metrics", icon="📊"),
]
sidebar()
st.navigation(pages).run()
