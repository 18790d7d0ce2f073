"""Examination of one child: several chest-site recordings -> per-site answers on a chest diagram, the event
timeline per site, and the child's answer per visit under a rule validated per child. Nothing is stored."""
import hashlib
import json

import pandas as pd
import streamlit as st

from core.answers.examination import (SITE_NAMES, SITE_UNKNOWN, SITES, ExamRecording, examine,
                                      name_info, rule_words)
from core.audio.filenames import display_name
from core.reports.pdf import child_validation_text, examination_pdf
from core.reports.provenance import CLINICIAN_FIELDS, MAX_FIELD_CHARS, clean_fields
from core.tasks import TASKS
from ui.chest import chest_diagram
from ui.figures import spectrogram_with_track
from ui.save import fhir_download, save_section
from ui.state import AUDIO_TYPES, analyzer_for, current_task, keep_files, kept_notice

MAX_RECORDINGS = 12  # four sites, up to three visits

st.title("Examination of one child")
spec = TASKS[current_task()]


def needs_respiratory() -> None:
    """An examination combines the sites' recording-level answers: only the respiratory model gives them."""
    st.info("An examination combines chest recordings of one child. Choose "
            f"**{TASKS['respiratory'].title}** in the sidebar.")
    st.stop()


if spec.head(spec.main_head).kind != "recording_model":
    needs_respiratory()

st.caption(f"Upload the recordings of one child, one per chest site (SPRSound sites p1–p4: "
           f"{', '.join(f'{s} {n}' for s, n in SITE_NAMES.items())}). Sites are read from SPRSound file names "
           "when present; set or correct them below. All recordings are taken as one visit until you say otherwise: "
           "give a later visit's recordings another visit name (e.g. 'after salbutamol') to compare the visits side "
           "by side. Nothing is stored on the server.")
uploads = st.file_uploader("Recordings of one child", type=AUDIO_TYPES, accept_multiple_files=True,
                           key="exam_upload")
# back from another page the uploader is empty: the examination's files (memory only) and its table come back
files, restored = keep_files("exam", [(display_name(f.name), f.getvalue()) for f in uploads or []])
task, analyzer = analyzer_for(bool(files))
if restored:
    kept_notice("exam", [n for n, _ in files], "exam_table", "exam_cache")
if not (analyzer.heads.get(analyzer.task.main_head) and analyzer.heads[analyzer.task.main_head].meta.get("answers")):
    needs_respiratory()
if len(files) > MAX_RECORDINGS:
    st.error(f"{len(files)} files: an examination takes at most {MAX_RECORDINGS} recordings (four sites, up to three "
             "visits). Use the Batch page for many recordings.")
    st.stop()

names = [n for n, _ in files]
infos = [name_info(n) for n in names]
files_key = hashlib.blake2b(repr([(n, hashlib.blake2b(d, digest_size=8).hexdigest()) for n, d in files]).encode(),
                            digest_size=8).hexdigest()
# visits are what the user says: nothing is guessed from recording numbers; the user's sites and visits are kept
# with the files, so they come back with them
edited = st.session_state.get("exam_table")
defaults = edited[1] if edited is not None and edited[0] == files_key else pd.DataFrame(
    {"recording": names, "site": [i.site for i in infos], "visit": ["visit 1"] * len(names)})
table = st.data_editor(defaults, key=f"exam_sites_{files_key}", hide_index=True, width="stretch",
                       disabled=["recording"], column_config={
                           "recording": st.column_config.TextColumn("recording"),
                           "site": st.column_config.SelectboxColumn("chest site", options=[*SITES, SITE_UNKNOWN],
                                                                    required=True),
                           "visit": st.column_config.TextColumn("visit", max_chars=30, required=True)})

st.session_state["exam_table"] = (files_key, table.copy())
recordings = [ExamRecording(n, d, str(site or SITE_UNKNOWN), str(visit or "visit 1").strip()[:30])
              for (n, d), site, visit in zip(files, table["site"], table["visit"])]
profile_tag = analyzer.calibration.words() if analyzer.calibration is not None else ""
if st.session_state.get("exam_cache_profile") != profile_tag:  # analysed under another calibration: again
    st.session_state["exam_cache"] = {}
    st.session_state["exam_cache_profile"] = profile_tag
cache = st.session_state.setdefault("exam_cache", {})  # only this examination's analyses stay in the session
with st.spinner(f"Analysing {len(recordings)} recording(s)…"):
    exam = examine(analyzer, recordings, cache=cache)

keys = exam.keys
st.subheader("The child's answer")
for problem in exam.problems:  # one child, chest recordings only: until then no child answer is given
    st.error(f"**No child answer yet.** {problem}")
st.caption(f"Rule: {rule_words(exam.validated)}. Validated per child, below.")
cols = st.columns(min(len(exam.summaries), 3))
for col, summary in zip(cols * 4, exam.summaries):
    with col:
        st.markdown(f"#### {summary.visit}")
        for key in keys if exam.answerable else ():  # text, not st.metric: a metric cuts a long answer
            title, neg, pos = exam.titles[key]
            st.markdown(f"{title.split(' (')[0]}  \n**{summary.text(key, (neg, pos))}**")
        if summary.rule == "fitted" and exam.answerable:
            said = {None: "–", True: "yes", False: "no"}
            st.caption("Compared, not used: 'any site positive' would say "
                       + "; ".join(f"{exam.titles[k][0].split(' (')[0].lower()}: {said[summary.any_site.get(k)]}"
                                   for k in keys) + ".")
        mine = [s for s in exam.sites if s.visit == summary.visit]
        st.plotly_chart(chest_diagram(mine, keys[0], exam.titles[keys[0]][1:],
                                      f"{exam.titles[keys[0]][0].split(' (')[0]}, seen from behind"),
                        width="stretch", key=f"chest_{summary.visit}")
        st.caption(f"{summary.answering} of {summary.recordings} recording(s) answered. Each site's own recording "
                   "answer: + positive, − negative, ? no answer, empty ring not recorded.")
        if summary.duplicate_sites:
            st.caption(f"More than one recording of {', '.join(summary.duplicate_sites)} in this visit.")
unknown = [s.name for s in exam.sites if s.site == SITE_UNKNOWN and any(a is not None for a in s.answers.values())]
if unknown:
    st.info(f"No chest site for {', '.join(unknown)}: they vote for the child but are not drawn. Choose their site in "
            "the table above.")
for key in keys:
    st.caption(f"**{exam.titles[key][0]}** — {child_validation_text(exam.validated, key)}")

st.subheader("Each site")
rows = []
for s, r in zip(exam.sites, exam.results):
    row = {"site": s.site, "visit": s.visit, "recording": s.name}
    for key in keys:  # the answer and its probability in one cell, so the row fits and nothing prints "None"
        row[exam.titles[key][0].split(" (")[0]] = (("yes" if s.answers[key] else "no")
                                                   + f" (P {s.probabilities[key]:.2f})") \
            if s.answers[key] is not None else "no answer"
    # short in the table (a cell does not wrap); the full reason is in the site's tab
    row["no answer because"] = ("wrong kind of audio (see its tab)" if r is not None and r.refused
                                else s.reason.split(":")[0])
    rows.append(row)
st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch",
             column_config={"no answer because": st.column_config.TextColumn("no answer because", width="large")})
st.caption("Each site's event timeline is in its tab below.")
tabs = st.tabs([f"{s.site} · {s.visit}" for s in exam.sites])
for i, (tab, s, r) in enumerate(zip(tabs, exam.sites, exam.results)):
    with tab:
        if r is None:
            st.error(f"{s.name}: {s.reason}")
            continue
        st.caption(f"{s.name} · {r.duration_s:.1f} s · quality: {r.clip_quality.summary()}")
        for key in keys:
            h = r.heads[key]
            st.write(f"**{h.title}:** {h.verdict.text()}")
        track = r.heads.get(analyzer.task.track)
        if track is not None and track.window_probs is not None and r.spectrogram is not None:
            st.plotly_chart(spectrogram_with_track(r, track), width="stretch", key=f"exam_track_{i}")
        if r.timeline is not None:
            st.markdown(f"**Event timeline:** {r.timeline.summary(r.class_names)}")
        if r.timeline is not None and r.timeline.segments:
            st.dataframe(pd.DataFrame([{"from (s)": round(sg.onset_s, 1), "to (s)": round(sg.offset_s, 1),
                                        "what": r.class_names.get(sg.type, sg.type),
                                        "probability": round(sg.probability, 2)} for sg in r.timeline.segments]),
                         hide_index=True)

st.subheader("Report")
with st.expander("Optional details for the report (printed in your download; stored only if you save the visit)"):
    fcols = st.columns(len(CLINICIAN_FIELDS))
    for col, (key, label) in zip(fcols, CLINICIAN_FIELDS.items()):
        if key != "site":  # each recording has its own site here
            col.text_input(label, key=f"exam_report_{key}", max_chars=MAX_FIELD_CHARS)
fields = clean_fields({k: st.session_state.get(f"exam_report_{k}", "") for k in CLINICIAN_FIELDS if k != "site"})
reports = [analyzer.report(r) if r is not None else None for r in exam.results]
c1, c2 = st.columns(2)
c1.download_button("Download the examination report (PDF)", file_name="examination_report.pdf",
                   mime="application/pdf", key="exam_pdf",
                   data=lambda: examination_pdf(exam, reports, fields),
                   help="The child's answers per visit with the rule and its per-child validation, every site's "
                        "answers, spectrogram and timeline, and each recording's SHA-256. Built only when you click.")
c2.download_button("Download the examination (JSON)", file_name="examination.json", mime="application/json",
                   key="exam_json", data=lambda: json.dumps(exam.to_dict(reports, fields), indent=1, default=str))


def exam_records(label: str = "", day=None) -> list[dict]:
    """The examination as saved visits (one per visit it holds), built only when asked for."""
    import datetime as dt

    from core.storage.records import examination_records

    return examination_records(exam, reports, visit_date=day or dt.date.today(), label=label,
                               pdf=examination_pdf(exam, reports, fields), clinician=fields)


if exam.answerable:
    fcols = st.columns(max(len(exam.summaries), 1))
    for i, (col, summary) in enumerate(zip(fcols, exam.summaries)):  # one FHIR Bundle per visit
        fhir_download(lambda i=i: exam_records()[i], fields.get("patient_ref", ""), task, f"exam_fhir_{i}",
                      where=col)
        if len(exam.summaries) > 1:
            col.caption(f"FHIR of {summary.visit}")
    save_section(task, exam_records, "exam")
