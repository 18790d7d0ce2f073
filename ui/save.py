"""Saving a visit (Analyze and Examination pages) and its FHIR export: shown only where storage is on and the user
is signed in for a clinic; a failed save leaves the analysis on the page, to save again."""
from __future__ import annotations

import datetime as dt
import json

import streamlit as st

from ui.access import actor, storage_on, store


def fhir_download(make_record, child_ref: str, task: str, key: str, clinic: str = "unsaved", where=st) -> None:
    """`make_record()` -> the visit record (built only when the user clicks)."""
    from core.reports.fhir import visit_bundle

    where.download_button("Download as FHIR R4 (JSON)", key=key, mime="application/fhir+json",
                          file_name="visit_fhir.json",
                          data=lambda: json.dumps(visit_bundle(make_record(), child_ref=child_ref, clinic=clinic,
                                                               task=task), indent=1, default=str),
                          help="A DiagnosticReport with one Observation per answer, the PDF as its presentedForm, and "
                               "the device and model provenance: the form hospital records exchange.")


def save_section(task: str, build, page: str) -> None:
    """`build(label, visit_date)` -> the list of visit records to save (an analysis: one; an examination: one per
    visit). Draws nothing when storage is off."""
    if not storage_on():
        return
    from core.storage.store import StorageError

    st.subheader("Save to this child's history")
    who = actor()
    if who is None:
        st.info("Sign in (sidebar) to save this visit to the child's history; nothing is saved until you do.")
        return
    c1, c2, c3 = st.columns([2, 2, 1])
    ref = c1.text_input("Child reference (a pseudonymous code such as C-0042; never a name)", key=f"{page}_child",
                        max_chars=40)
    label = c2.text_input("Visit (as you name it)", key=f"{page}_visit_label", max_chars=80,
                          placeholder="e.g. before salbutamol")
    day = c3.date_input("Visit date", value=dt.date.today(), key=f"{page}_visit_date")
    if st.button("Save this visit", key=f"{page}_save", type="primary"):
        try:
            ids = [store().save_visit(who, ref, task, rec) for rec in build(label, day)]
        except (StorageError, ValueError) as exc:
            st.error(f"Not saved: {exc}")
            return
        st.success(f"Saved '{label.strip() or 'visit'}' for child {ref.strip()} ({who.clinic}): visit record(s) "
                   f"{', '.join(map(str, ids))}. See it on the History page.")
