"""Analyze one recording: upload or microphone -> verdict, screening, spectrogram with the windows under it.

The title and the uploader are painted before anything heavy is imported or loaded: the models load behind them
(`ui.state`), and the analysis waits for them only if they are not ready yet."""
import hashlib
import io

import streamlit as st

from ui.references import reference_cries
from ui.state import AUDIO_TYPES, analyzer_for, keep_files, kept_notice

st.title("Analyze a recording")
src_upload, src_mic = st.tabs(["Upload a file", "Record with the microphone"])
with src_upload:
    uploaded = st.file_uploader("Recording", type=AUDIO_TYPES, key="upload")
with src_mic:
    recorded = st.audio_input("Record", sample_rate=16000, key="mic")
references = reference_cries("analyze")  # cry task: this infant's own cries without pain, kept until cleared
handoff = st.session_state.get("handoff")  # audio the live monitor saved for a full analysis (memory only)
given = uploaded or recorded
kept, restored = keep_files("analyze", [(given.name, given.getvalue())] if given is not None else [])
source = None
if kept:
    source = io.BytesIO(kept[0][1])
    source.name = kept[0][0]
    if restored:  # back from another page: the last recording and its analysis, until cleared
        kept_notice("analyze", [kept[0][0]], "analysis", "handoff")
elif handoff is not None:
    st.info(f"Analysing the audio saved from the live monitor ({handoff[0]}).")
    source = io.BytesIO(handoff[1])
    source.name = handoff[0]
if source is None:
    st.caption("Upload a recording or record one to analyse it. Nothing is stored on the server.")
task, analyzer = analyzer_for(source is not None)

# painted above; what drawing a result needs is imported only now
import json  # noqa: E402
from pathlib import Path  # noqa: E402

import pandas as pd  # noqa: E402

from core.answers.analyzer import (apply_thresholds, calibration_words, input_check_words,  # noqa: E402
                                   low_probability_words, validated_words, with_clinician_fields)
from core.answers.neighbours import (load_clip, locate_audio, nearest, training_match,  # noqa: E402
                                     typical_nn_distance)
from core.inputcheck.model import TASK_WORDS  # noqa: E402
from core.audio.decode import AudioDecodeError, window_audio  # noqa: E402
from core.audio.filenames import display_name  # noqa: E402
from core.config import SAMPLE_RATE, data_dir  # noqa: E402
from core.encoders import EncoderUnavailable  # noqa: E402
from core.evaluation.metrics import operating_point_at  # noqa: E402
from core.evaluation.model_card import validation_roc  # noqa: E402
from core.evaluation.reference import ReferenceAnnotationError, agreement, parse_reference  # noqa: E402
from core.reports.pdf import analysis_pdf  # noqa: E402
from core.reports.provenance import CLINICIAN_FIELDS, MAX_FIELD_CHARS  # noqa: E402
from core.tasks import RESP_ANSWERS, RESP_LABEL_GLOSSARY  # noqa: E402
from ui.figures import pca_placement, spectrogram_with_track  # noqa: E402
from ui.references import reference_messages  # noqa: E402
from ui.save import fhir_download, save_section  # noqa: E402
from ui.state import experimental_on, head_metrics  # noqa: E402

GROUP_NAMES = {"donateacry": "family (app install)"}  # what a training group is, where it is not the task's


@st.cache_data(show_spinner=False)
def typical_distance(path: str, _projection) -> float:
    """Computed once per artefact (keyed by its path; the projection itself is not hashed)."""
    return typical_nn_distance(_projection)


def cached_figure(key: tuple, build):
    """A figure built once per analysis (kept in the session beside the result), not on every rerun: a slider or a
    click redraws the page without recomputing thousands of points."""
    figures = st.session_state.setdefault("figures", {})
    if figures.get("_analysis") != analysis_key:  # a new recording: the old figures go
        figures.clear()
        figures["_analysis"] = analysis_key
    if key not in figures:
        figures[key] = build()
    return figures[key]


def artifact_of(output: str):
    return analyzer.artifact_of(result, output)


data = source.getvalue()
# reruns (a slider, a click on a window) reuse the session's last result: only a new recording is analysed again
analysis_key = (hashlib.blake2b(data, digest_size=16).hexdigest(), task, analyzer.encoder.info.identity,
                getattr(source, "name", "recording"), experimental_on(),
                tuple(hashlib.blake2b(b, digest_size=16).hexdigest() for _, b in references),
                analyzer.calibration.words() if analyzer.calibration is not None else "")
last = st.session_state.get("analysis")
try:
    if last is not None and last[0] == analysis_key:
        result = last[1]
    else:
        with st.spinner("Analysing…"):
            result = analyzer.analyze(data, name=display_name(getattr(source, "name", "recording")),
                                      experimental=experimental_on(),
                                      references=[(display_name(n), b) for n, b in references] or None)
        st.session_state["analysis"] = (analysis_key, result)  # one result per session: memory stays bounded
except AudioDecodeError as exc:
    st.error(f"Cannot analyse this file: {exc}")
    st.stop()
except EncoderUnavailable as exc:  # e.g. the remote HeAR service went down: the recording is not at fault
    st.error(f"The encoder is unavailable right now: {exc} Try again, or ask the operator to check the service.")
    st.stop()
except Exception as exc:  # an unforeseen failure: say so plainly, keep the session usable for the next file
    st.error(f"The analysis failed unexpectedly ({type(exc).__name__}). Nothing was stored; try another file, and "
             "please report the problem with the file's format and length (not its content).")
    st.stop()

verdict = result.verdict
head = result.heads[result.primary]
check = result.input_check
refused = result.refused  # no answer anywhere: the finer answers would only repeat why


def switch_task(to: str) -> None:
    """Runs before the rerun, so the sidebar's task radio can still be set; the same file is analysed again."""
    st.session_state["task"] = to


st.subheader(head.title)
reference_messages(result)
if refused:
    st.error(f"**Not analysed: wrong kind of audio.** {check.sentence()}")
    if check.suggestion:
        st.button(f"Analyse it under '{TASK_WORDS[check.suggestion]}'", on_click=switch_task,
                  args=(check.suggestion,), key="switch_task", type="primary")
elif verdict.abstained:
    st.warning(f"No verdict — {verdict.reason}")
else:
    c1, c2, c3 = st.columns([2, 1, 1])  # the answer in words needs the room
    c1.metric("Verdict", verdict.label)
    # a thresholded answer is not a "confidence": say what the number is (its probability), and the rule beside it
    c2.metric("Probability of this answer", f"{verdict.confidence:.0%}",
              help="The calibrated probability of the answer shown; the answer itself comes from the rule below "
                   "(a threshold chosen on people the model was validated without), so it can be under 50 %.")
    c3.metric("Usable windows", f"{verdict.usable_windows} / {verdict.total_windows}")
    if verdict.note:
        st.caption(verdict.note)
    why_low = low_probability_words(head)
    if why_low:
        st.info(why_low)
    st.markdown(validated_words(head) or "No validated figures for this answer.")
    hint = analyzer.reference_hint(result)
    if hint:
        st.info(hint)
    hs = head.operating_points.get("high_sensitivity") if head.positive else None
    if hs and head.operating_point_name != "high_sensitivity" and verdict.probabilities:
        if hs["threshold"] < head.threshold:
            flagged = verdict.probabilities[head.positive] >= hs["threshold"]
            st.caption(f"At the high-sensitivity operating point (threshold {hs['threshold']:.2f}; sensitivity "
                       f"{hs['sensitivity']:.2f}, specificity {hs['specificity']:.2f} on grouped validation) this "
                       f"recording {'is' if flagged else 'is not'} flagged as {head.positive}.")
        else:
            op = head.operating_point()
            st.caption(f"The threshold in use already reaches the high-sensitivity target on grouped validation "
                       f"(sensitivity {op['sensitivity']:.2f}, specificity {op['specificity']:.2f}).")
    st.caption("Class probabilities: " + " · ".join(f"{lab} {p:.0%}" for lab, p in verdict.probabilities.items()))
st.caption((f"Rule: {verdict.rule}. " if not refused else "") + f"Encoder: {result.encoder.label}.")
if result.calibration:
    st.info(calibration_words(result))
st.audio(data)  # after the answer: the player's bytes are not what the user waits for
st.caption(f"Recording: {result.name} ({result.duration_s:.1f} s) · Quality: {result.clip_quality.summary()}"
           + (f" · Audio: {'; '.join(result.audio_notes)}" if result.audio_notes else ""))


def training_warning() -> None:
    """A recording the model was trained on is not a test of it: say so before any answer is read as one."""
    for name in (n for n in result.heads if n in result.placements):
        art = artifact_of(name)
        if art.projection is None:
            continue
        hit = training_match(art.projection, result.placements[name].clip_coords, result.name,
                             typical_distance(str(art.path), art.projection))
        if hit is not None:
            st.warning(f"**Used to train this model: not a test.** This recording is the training "
                       f"{art.meta.get('unit', 'unit')} `{hit.uid}` ({hit.how}) of '{art.meta['title']}'; its answer "
                       "says how well the model fits its own training data, not how it does on a new child.")
            return


training_warning()
placed = [n for n in result.heads if n in result.placements and artifact_of(n).projection is not None]


if not refused:  # the kind heard (or why it was not checked), and the caveat when unlike the training recordings
    (st.warning if check is not None and check.familiarity and check.familiarity.unusual
     else st.caption)(input_check_words(result))
thresholds: dict[str, float] = {}  # screening thresholds the user moved: the PDF and the JSON use them too
screening = [] if refused else result.screening_heads()
for screen in screening:
    st.subheader(screen.title, help=RESP_ANSWERS.get(screen.name, {}).get("help"))
    if screen.verdict.abstained:
        st.warning(f"No screening result — {screen.verdict.reason}")
        continue
    p = screen.verdict.probabilities[screen.positive]
    roc = validation_roc(head_metrics(str(artifact_of(screen.name).path)), screen.name, screen.positive)
    threshold = screen.threshold
    if roc is not None:
        default = float(round(screen.threshold, 2))
        moved = st.slider(f"Threshold on P({screen.positive})", 0.0, 1.0, default, 0.01, key=f"th_{screen.name}",
                          help="Move it to trade sensitivity for specificity; the default is the validated "
                               "operating point.")
        threshold = screen.threshold if abs(moved - default) < 1e-9 else moved  # untouched: the exact validated one
        if threshold != screen.threshold:
            thresholds[screen.name] = threshold
    c1, c2, c3 = st.columns(3)
    c1.metric(f"P({screen.positive})", f"{p:.0%}")
    needed = result.heads.get(screen.requires)  # e.g. continuous sounds need the adventitious answer positive
    blocked = needed is not None and needed.verdict.label != needed.positive
    decided = apply_thresholds(result, {screen.name: threshold}).heads[screen.name].verdict  # the one decision
    c2.metric("Screen", "positive" if decided.label == screen.positive else "negative",
              help=f"Negative whatever P is while '{needed.title}' is negative." if blocked else None)
    c3.metric("Threshold", f"{threshold:.2f}")
    if roc is not None and abs(threshold - screen.threshold) > 1e-9:
        at = operating_point_at(roc, threshold)
        st.info(f"At {threshold:.2f} (not the validated default {screen.threshold:.2f}) the validation "
                f"{screen.unit}s give sensitivity {at['sensitivity']:.2f} and specificity {at['specificity']:.2f} "
                f"(nearest stored point of the validation ROC curve, threshold {at['threshold']:.2f}; a threshold "
                f"moved by looking at these figures is no longer validated).")
    st.caption(validated_words(screen, moved=screen.name in thresholds) + f" Rule: {screen.verdict.rule}.")
    peak = screen.peak_window(result.quality)
    if peak is not None:
        i, p_i, above = peak
        w = result.windows[i]
        st.caption(f"Highest window: {p_i:.0%} at {w.start_s:.0f}–{w.end_s:.0f} s; {above} usable window(s) at or "
                   f"above the threshold. The verdict uses the mean over windows, as validated on annotated "
                   f"{screen.unit}s; a short event in a long recording weighs little in that mean, so look at the "
                   "track below.")

shown = {result.primary, *(h.name for h in screening)}
others = [] if refused else [h for h in result.heads.values() if h.name not in shown]
for other in others:
    tag = " (experimental)" if other.experimental else ""
    st.write(f"**{other.title}{tag}:** {other.verdict.text()}")
    if other.name == "record":
        st.caption(RESP_LABEL_GLOSSARY + ".")
    if other.validated:
        st.caption(f"Validated {other.validated}.")

# a refused recording gets no window track either: its probabilities would read as answers
track_heads = [] if refused else [name for name, h in result.heads.items() if h.window_probs is not None]
if track_heads and result.spectrogram is not None:
    default = track_heads.index(analyzer.task.track) if analyzer.task.track in track_heads else 0
    track = st.selectbox("Window track under the spectrogram", track_heads, index=default,
                         format_func=lambda n: result.heads[n].title, key="track")
    reference = None
    if result.timeline is not None:
        ref_file = st.file_uploader("Reference annotation (optional, for research): SPRSound JSON, or a CSV of onset, "
                                    "offset (s) and type", type=["json", "csv", "tsv", "txt"], key="reference")
        if ref_file is not None:
            try:
                reference = parse_reference(display_name(ref_file.name), ref_file.getvalue(), result.duration_s)
            except ReferenceAnnotationError as exc:
                st.error(str(exc))
    ref_key = (reference.name, repr(reference.events)) if reference is not None else None
    figure = cached_figure(("track", track, ref_key),
                           lambda: spectrogram_with_track(result, result.heads[track], reference=reference))
    event = st.plotly_chart(figure, width="stretch",
                            on_select="rerun", selection_mode="points", key="track_plot")
    picked = [int(p["customdata"]) for p in (event.selection.points if event and event.selection else [])
              if isinstance(p.get("customdata"), (int, float))]
    if picked:
        w = result.windows[picked[0]]
        st.audio(window_audio(data, w), sample_rate=SAMPLE_RATE)
        st.caption(f"Window {w.index}: {w.start_s:.1f}–{w.end_s:.1f} s. " + "; ".join(
            f"{h.title}: " + ", ".join(f"{lab} {p:.0%}" for lab, p in zip(h.labels, h.window_probs[w.index]))
            for h in result.heads.values() if h.window_probs is not None))
    if result.timeline is not None:
        tl = result.timeline
        st.markdown(f"**Event timeline:** {tl.summary(result.class_names)}")
        if tl.segments:
            st.dataframe(pd.DataFrame([{"from (s)": round(sg.onset_s, 1), "to (s)": round(sg.offset_s, 1),
                                        "what": result.class_names.get(sg.type, sg.type),
                                        "probability": round(sg.probability, 2)} for sg in tl.segments]),
                         hide_index=True)
        st.caption("Segments are hop-long frames (1 s) where the detector's window probability reaches its "
                   "threshold, merged; validated against the annotated events on the Model metrics page.")
        if reference is not None:
            agree = agreement(reference, tl, result.duration_s)
            st.markdown(f"**Agreement with the reference** `{reference.name}` ({len(reference.adventitious)} "
                        f"adventitious event(s) annotated" + (f", record label {reference.record_label}"
                                                               if reference.record_label else "") + ")")
            table = pd.DataFrame(agree.rows(result.class_names)).drop(columns=["type"])
            for col in ("precision", "recall", "f1", "error rate"):  # undefined (nothing to count): "–", not "None"
                table[col] = [f"{v:.3f}" if v is not None and v == v else "–" for v in table[col]]
            st.dataframe(table, hide_index=True, width="stretch")
            for note in (*reference.notes, *agree.notes):
                st.caption(note)
            st.caption("Overlap: a detected segment and an annotated event of the same kind overlap in time; onset: "
                       "their onsets are within 1 s; onset_offset: the sound-event-detection rule (onset within 0.2 s, "
                       "offset within 0.2 s or 20 % of the event's length), with its error rate (missed + extra "
                       "segments per annotated event). Each is matched at most once. One recording is an example, not "
                       "a validation: the validated figures are on the Model metrics page.")
    st.caption("Each column of the track is one 2-s window (hop "
               f"{analyzer.hop_s:g} s), placed at its centre; windows marked with a grey cross failed the quality gate "
               "and do not vote.")
@st.fragment
def placement_section() -> None:
    """On demand, and redrawn alone: the PCA of the training data (thousands of points) and the nearest examples."""
    if not st.toggle("Show where this recording lands among the training data (PCA and nearest training examples)",
                     key="show_placement"):
        return
    default = placed.index(result.primary) if result.primary in placed else 0
    pname = st.selectbox("Embedding space of head", placed, index=default,
                         format_func=lambda n: result.heads[n].title, key="pca_head")
    art = artifact_of(pname)
    people = GROUP_NAMES.get(art.meta.get("data", {}).get("layout", ""), analyzer.task.people)
    st.plotly_chart(pca_figure(pname, people), width="stretch")
    st.caption(f"Principal components of the head's scaled training inputs, one point per training "
               f"{art.meta.get('unit', 'unit')} (hover for its {people} id). Being close to a group "
               "is not a diagnosis: these two components keep only part of what the head uses.")
    neighbours = nearest(art.projection, result.placements[pname].clip_coords, k=5)
    st.markdown(f"**Nearest training {art.meta.get('unit', 'unit')}s** (distance in the head's "
                f"{art.projection.coords.shape[1]}-component PCA space)")
    st.dataframe(pd.DataFrame([{"id": n.uid, "label": n.label, people: n.group, "distance": round(n.distance, 2)}
                               for n in neighbours]), hide_index=True)
    root = data_dir() / art.meta.get("data", {}).get("root", "")
    refs = [(n, locate_audio(n.uid, art.meta.get("data", {}).get("layout", ""), root)) for n in neighbours]
    if any(ref for _, ref in refs):
        with st.expander("Listen to the nearest training examples (dataset audio on this machine)"):
            for n, ref in refs:
                if ref is not None:
                    st.caption(f"{n.label} · {n.uid}")
                    st.audio(load_clip(ref), sample_rate=SAMPLE_RATE)
    else:
        st.caption("The training audio is not on this machine, so the examples cannot be played.")


def pca_figure(name: str, people: str):
    art = artifact_of(name)
    return cached_figure(("pca", name), lambda: pca_placement(result.placements[name], art.projection,
                                                              art.meta.get("unit", "unit"), people))


if placed:
    st.subheader("Where this recording lands among the training data")
    placement_section()
with st.expander("Every window: quality" + ("" if refused else " and probabilities")):
    table = pd.DataFrame(result.window_display())
    st.dataframe(table[[c for c in table.columns if not (refused and c.startswith("P("))]], hide_index=True,
                 width="stretch")
    st.caption("Windows that failed the quality gate show no probability: they do not vote.")

st.subheader("Report")
with st.expander("Optional details for the report (printed in your download; stored only if you save the visit)"):
    cols = st.columns(len(CLINICIAN_FIELDS))
    for col, (key, label) in zip(cols, CLINICIAN_FIELDS.items()):
        col.text_input(label, key=f"report_{key}", max_chars=MAX_FIELD_CHARS)
fields = {key: st.session_state.get(f"report_{key}", "") for key in CLINICIAN_FIELDS}
shown = with_clinician_fields(apply_thresholds(result, thresholds), fields)  # what the page shows, as filed
if thresholds:
    st.caption("The report uses the threshold(s) you moved: " + ", ".join(
        f"{shown.heads[n].title} at {t:.2f}" for n, t in thresholds.items()) + " (marked as not validated).")
prov = shown.provenance
st.caption(f"Analysed {prov.when} · app version {prov.app_version} · "
           f"audio SHA-256 {prov.audio_sha256} · models: "
           + "; ".join(f"{n} ({d})" for n, d in prov.models.items()))
stem = Path(result.name).stem
c1, c2, c3 = st.columns(3)
track_shown = st.session_state.get("track")  # read here: the PDF is built on the server's event loop, not this run
c1.download_button("Download the report (PDF)", file_name=f"{stem}_report.pdf", mime="application/pdf",
                   data=lambda: analysis_pdf(shown, analyzer.report(shown), track_shown),
                   key="report_pdf", help="The answers with their validated operating points, the spectrogram with "
                                          "the window track, the event timeline, quality notes, date, app and model "
                                          "versions and the audio's SHA-256. Built only when you click; nothing is "
                                          "kept on the server.")
c2.download_button("Download this analysis (JSON)", file_name=f"{stem}_analysis.json", mime="application/json",
                   data=lambda: json.dumps(analyzer.report(shown), indent=1, default=str), key="report_json",
                   help="Answers, per-window probabilities, quality, provenance (time, versions, SHA-256) and the "
                        "models' held-out performance. Built only when you click.")


def visit_record(label: str = "", day=None):
    """This analysis as one visit (the record saved, and exported as FHIR), built only when asked for."""
    import datetime as dt

    from core.config import keep_audio
    from core.storage.records import analysis_record

    rep = analyzer.report(shown)
    return analysis_record(shown, rep, label=label, visit_date=day or dt.date.today(),
                           pdf=analysis_pdf(shown, rep, track_shown), site=fields.get("site", ""),
                           audio=data if keep_audio() else None)


fhir_download(visit_record, fields.get("patient_ref", ""), task, "report_fhir", where=c3)
if not refused:
    save_section(task, lambda label, day: [visit_record(label, day)], "analyze")
