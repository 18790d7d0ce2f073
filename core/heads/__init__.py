"""Stage 5, heads: classifiers on embeddings; person-grouped selection, calibration and decisions; verified artefacts on disk."""
