"""Streamlit glue shared by the pages: cached analyzers, the sidebar, error display. No analysis logic here."""
