"""HeAR screening dashboard: entry point (`streamlit run app.py`)."""
import streamlit as st

st.set_page_config(page_title="HeAR screening dashboard", page_icon="🩺", layout="wide")

pages = [
    st.Page("pages/analyze.py", title="Analyze", icon="🔎", default=True),
    st.Page("pages/live.py", title="Live monitor", icon="🎙️"),
    st.Page("pages/batch.py", title="Batch", icon="🗂️"),
    st.Page("pages/embeddings.py", title="Embeddings", icon="🧭"),
    st.Page("pages/metrics.py", title="Model metrics", icon="📊"),
]
st.navigation(pages).run()
