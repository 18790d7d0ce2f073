"""HeAR screening core library (no Streamlit): audio in, answers and reports out.

The subpackages follow the data flow, each stage reading only from the ones before it:

    audio      decode any file or stream to mono 16 kHz float32 (one decoder for training and analysis)
    windows    2-s windows with their times, labels from annotations, display spectrograms
    quality    the quality gate: silence, clipping, padding, cry activity
    encoders   window -> embedding (HeAR SavedModel, remote HeAR, built-in acoustic features) and their cache
    data       datasets on disk -> labelled units -> embedded windows (local or Ray)
    heads      trained classifiers: fitting, selection, calibration, decisions, artefacts on disk
    evaluation metrics, event-based scoring, published references, model cards
    answers    the Analyzer (one call per recording), the event timeline, neighbours, the live monitor
    reports    PDF, batch tables
    cli        `python -m core <command>`: analyze, train, serve-hear, fetch

`config` (paths, limits, signal constants), `tasks` (what each task and head is) and `timing` are shared by all.
"""
