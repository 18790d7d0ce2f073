"""Stage 3, quality gate: which windows may vote (silence, clipping, padding, cry activity) and why the others may not."""
