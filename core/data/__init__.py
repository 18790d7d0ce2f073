"""Datasets on disk -> labelled units grouped by person -> embedded windows (locally or on Ray), cached by content."""
