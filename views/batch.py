"""Batch: many recordings (or zips of them) -> one row each, sortable, downloadable; bad files get their own row."""
import hashlib

import pandas as pd
import streamlit as st

from core.reports.batch import analyze_batch, batch_records, expand_uploads, window_csv
from core.config import Limits, default_jobs
from ui.references import reference_cries
from ui.state import AUDIO_TYPES, analyzer_for, experimental_on, keep_files, kept_notice

st.title("Batch analysis")

files = st.file_uploader("Recordings, or zip archives of recordings", type=AUDIO_TYPES + ["zip"],
                         accept_multiple_files=True, key="batch_upload")
limits = Limits()
want_windows = st.checkbox("Also prepare a per-window table", key="batch_windows",
                           help="One row per 2-s window of every file: its time, whether the quality gate let it "
                                "through (and why not), and each window model's class probabilities.")
st.caption("Files are analysed in memory and nothing is written to disk; the tables below are the only output, and "
           f"you download them only if you want it. Limits: {limits.max_files} files per batch (zip members count), "
           f"{limits.max_bytes / 2**20:.0f} MB per file, {limits.max_archive_bytes / 2**30:g} GB unpacked per zip, the "
           f"first {limits.max_seconds / 60:g} min of each recording.")
references = reference_cries("batch")  # cry task: every file is then a cry of this one infant
if references:
    st.caption(f"With {len(references)} reference cr{'y' if len(references) == 1 else 'ies'} given, every file in "
               "this batch is taken for a cry of that one infant and judged against them.")
# back from another page the uploader is empty: the last batch's results (not its audio) come back until cleared
ids, restored = keep_files("batch", [(f.name, f.size, f.file_id) for f in files or []])
task, analyzer = analyzer_for(bool(ids))

# the same uploads are not analysed twice when the page reruns (sorting, downloading)
key = (task, analyzer.encoder.info.identity, tuple(ids), experimental_on(),
       tuple(hashlib.blake2b(b, digest_size=16).hexdigest() for _, b in references),
       analyzer.calibration.words() if analyzer.calibration is not None else "")
if restored:
    kept_notice("batch", [i[0] for i in ids], "batch_rows", "batch_key", "batch_has_windows", "batch_refs")
    if st.session_state.get("batch_key") != key or "batch_rows" not in st.session_state:
        st.info("The last batch was analysed with another task or setting; upload the files again to analyse them "
                "under this one.")
        st.stop()
# turning the per-window table on analyses again (its tracks were not kept); turning it off needs no new analysis
if not restored and (st.session_state.get("batch_key") != key
                     or (want_windows and not st.session_state.get("batch_has_windows"))):
    items = expand_uploads((f.name, f.getvalue()) for f in files)
    bar = st.progress(0.0, text=f"Analysing {len(items)} recording(s)…")

    def progress(done: int, total: int, name: str) -> None:
        bar.progress(done / total, text=f"{done} of {total}: {name}")

    # from four files on, every core works (worker processes, started once per server); fewer: this process
    jobs = default_jobs() if len(items) >= 4 else 1
    checked = analyzer.check_references(references) if references else None  # once, not per file
    st.session_state["batch_refs"] = checked
    st.session_state["batch_rows"] = analyze_batch(analyzer, items, progress, experimental=experimental_on(),
                                                   windows=want_windows, jobs=jobs, references=checked)
    st.session_state["batch_key"] = key
    st.session_state["batch_has_windows"] = want_windows
    bar.empty()
rows = st.session_state["batch_rows"]
for c in getattr(st.session_state.get("batch_refs"), "rejected", ()):
    st.warning(f"Reference **{c.name}** not used: {c.reason}.")
df = pd.DataFrame(batch_records(rows))
n_err = int((df["error"] != "").sum())
n_abstain = int(df["verdict"].str.startswith("no verdict").sum())
st.write(f"**{len(df)}** recording(s): {len(df) - n_err - n_abstain} with a verdict, {n_abstain} without one "
         f"(the reason is in the verdict column), {n_err} that could not be analysed. Model: "
         f"{analyzer.heads[analyzer.task.main_head].meta['title']}; encoder: {analyzer.encoder.info.label}.")
# the file and why it has no answer stay in view: the error sits beside the verdict, the file column is pinned
first = [c for c in ("file", "verdict", "error") if c in df.columns and (c != "error" or n_err)]
columns = {
    "file": st.column_config.TextColumn("file", pinned=True),
    "verdict": st.column_config.TextColumn("verdict", width="medium"),
    "error": st.column_config.TextColumn("could not be analysed", width="medium"),
    "probability": st.column_config.ProgressColumn("probability of this answer", min_value=0.0, max_value=1.0,
                                                   format="%.2f"),
    "input_check": st.column_config.TextColumn("input check", width="medium",
                                               help="The kind of audio heard; a refused recording gets no answer"),
    "calibration": st.column_config.TextColumn("calibration profile", width="medium"),
    "references": st.column_config.TextColumn("reference cries", width="medium",
                                              help="The infant's reference cries the answer was judged against"),
    "duration_s": st.column_config.NumberColumn("duration (s)", format="%.2f"),
    "usable_windows": st.column_config.TextColumn("usable windows"),
    **{c: st.column_config.NumberColumn(c, format="%.3f", help="probability of this class by the model in brackets")
       for c in df.columns if c.startswith("P(")},
    "audio_sha256": st.column_config.TextColumn("audio SHA-256", help="hash of the file's bytes as uploaded"),
}
st.dataframe(df, hide_index=True, width="stretch",
             column_order=first + [c for c in df.columns if c not in first and (c != "error" or n_err)
                                   and (c not in ("references", "calibration") or df[c].astype(bool).any())],
             column_config=columns)
st.caption("Each model's answer has a column `<question> [<model>]`, each of its classes one `P(<class>) [<model>]`. "
           "`child` and `site` come from SPRSound-style file names (patient_age_gender_location_recording). The "
           "last columns say when, by which app version, encoder and models each file was analysed.")
st.download_button("Download the table (CSV)", df.to_csv(index=False).encode(), file_name=f"batch_{task}.csv",
                   mime="text/csv", key="batch_csv")
if want_windows and st.session_state.get("batch_has_windows"):
    n_win = sum(len(r.windows) for r in rows if r.windows is not None)
    # built when clicked, so a large batch's window table is never held beside the page
    st.download_button("Download per-window table (CSV)", lambda: window_csv(rows),
                       file_name=f"batch_{task}_windows.csv", mime="text/csv", key="batch_windows_csv",
                       help=f"{n_win} window(s) in all")
st.caption("Screening aid for research; not a diagnosis.")
