"""Stage 2, windows: HeAR-sized 2-s windows that remember where they came from, labels for them from annotated events, and display spectrograms."""
