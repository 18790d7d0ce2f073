"""PDF reports a clinician can file: one recording (at most two pages) or one examination (all its sites), built in
memory only when the user asks for one.

Each report leads with the answer and the operating point it was validated at (sensitivity and specificity with
their 95 % intervals and the split, in words), then the spectrogram with time and frequency axes and the window
track shown on screen (with the threshold in use), the event timeline, quality notes, and the provenance that
makes it traceable: date and time, app version, model versions and the SHA-256 of the audio. Clinician fields
typed in the app are printed here and nowhere else. The figure is drawn with numpy and Pillow (no browser or
plotting backend on the server).
"""
from __future__ import annotations

import io
from typing import TYPE_CHECKING, Sequence

import numpy as np

from core.answers.analyzer import (DISCLAIMER, AnalysisResult, HeadOutput, calibration_words, ci_words,
                                   input_check_words, low_probability_words, reference_words, validated_words)
from core.reports.provenance import APP_NAME, CLINICIAN_FIELDS, Provenance
from core.tasks import RESP_LABEL_GLOSSARY

if TYPE_CHECKING:
    from core.answers.examination import Examination

# viridis, 9 stops (the page's spectrogram colours)
_VIRIDIS = np.array([[68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141], [39, 173, 129],
                     [92, 200, 99], [170, 220, 50], [253, 231, 37]], float)
_BLUES = np.array([[247, 251, 255], [198, 219, 239], [107, 174, 214], [33, 113, 181], [8, 48, 107]], float)
_GREY = (90, 90, 90)
MAX_SEGMENTS = 12  # timeline rows printed; the JSON carries all of them


def _colour(v: np.ndarray, stops: np.ndarray) -> np.ndarray:
    v = np.clip(np.nan_to_num(v), 0.0, 1.0) * (len(stops) - 1)
    i = np.minimum(v.astype(int), len(stops) - 2)
    f = (v - i)[..., None]
    return (stops[i] * (1 - f) + stops[i + 1] * f).astype(np.uint8)


def _nice_step(span: float, target: int = 8) -> float:
    raw = max(span / target, 1e-6)
    mag = 10 ** np.floor(np.log10(raw))
    return float(next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw))


def track_column(head: HeadOutput) -> tuple[int | None, str]:
    """Which class of a window head the band shows, and its name: the positive class, else 'not <first>'."""
    if head.positive:
        return head.labels.index(head.positive), head.positive
    return None, f"not {head.labels[0]}"


def figure_png(result: AnalysisResult, head: HeadOutput, window_threshold: float | None = None,
               width: int = 1600, spec_h: int = 330, track_h: int = 56) -> bytes:
    """Spectrogram with a frequency axis (Hz, mel-spaced rows) and, on the same time axis, one band per window
    coloured by the track's probability; windows at or above `window_threshold` are framed in red, windows that
    failed the quality gate hatched grey."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=20)
    left, right, top, gap, bottom = 90, 20, 10, 8, 56
    plot_w = width - left - right
    spec = result.spectrogram
    db = (np.clip(spec.db, -80.0, 0.0) + 80.0) / 80.0  # [F, T], low frequencies first
    img = Image.fromarray(_colour(db[::-1], _VIRIDIS)).resize((plot_w, spec_h), Image.BILINEAR)
    track = np.full((track_h, plot_w, 3), 255, np.uint8)
    duration = max(result.duration_s, 1e-6)
    col, _ = track_column(head)
    hop = (result.windows[1].start_s - result.windows[0].start_s) if len(result.windows) > 1 else 2.0
    framed = []
    for i, (w, q) in enumerate(zip(result.windows, result.quality)):
        centre = w.start_s + min(w.end_s - w.start_s, w.content_s) / 2
        a = int(max(0.0, centre - hop / 2) / duration * plot_w)
        b = max(a + 1, int(min(duration, centre + hop / 2) / duration * plot_w))
        if not q.usable:
            track[:, a:b] = 200
            track[::6, a:b] = 150
            continue
        p = head.window_probs[i]
        v = p[col] if col is not None else (1.0 - p[0] if len(p) > 1 else p[0])
        track[:, a:b] = _colour(np.array(v), _BLUES)
        if window_threshold is not None and v >= window_threshold:
            framed.append((a, b))
    out = Image.new("RGB", (width, top + spec_h + gap + track_h + bottom), "white")
    out.paste(img, (left, top))
    y_track = top + spec_h + gap
    out.paste(Image.fromarray(track), (left, y_track))
    draw = ImageDraw.Draw(out)
    for a, b in framed:
        draw.rectangle([left + a, y_track, left + b - 1, y_track + track_h - 1], outline=(220, 30, 30), width=3)
    draw.rectangle([left, top, left + plot_w - 1, top + spec_h - 1], outline="black")
    draw.rectangle([left, y_track, left + plot_w - 1, y_track + track_h - 1], outline="black")
    # frequency axis: rows are mel bands, evenly spaced; label five of them in Hz
    n_f = len(spec.freqs_hz)
    for j in np.unique(np.linspace(0, n_f - 1, 5).round().astype(int)):
        y = top + spec_h - 1 - int(j / max(n_f - 1, 1) * (spec_h - 1))
        draw.line([left - 6, y, left, y], fill="black", width=2)
        draw.text((left - 10, y), f"{spec.freqs_hz[j]:.0f}", fill="black", font=font, anchor="rm")
    draw.text((4, top + 2), "Hz", fill="black", font=font)
    draw.text((left - 10, y_track + track_h // 2), "track", fill="black", font=font, anchor="rm")
    step = _nice_step(duration)
    for t in np.arange(0.0, duration + 1e-9, step):
        x = left + int(t / duration * (plot_w - 1))
        draw.line([x, y_track + track_h, x, y_track + track_h + 6], fill="black", width=2)
        draw.text((x, y_track + track_h + 8), f"{t:g}", fill="black", font=font, anchor="mt")
    draw.text((left + plot_w // 2, y_track + track_h + 32), "time (s)", fill="black", font=font, anchor="mt")
    buf = io.BytesIO()
    out.save(buf, format="PNG")
    return buf.getvalue()


def _latin1(text: str) -> str:
    """The core PDF fonts are Latin-1: keep the text readable instead of failing on a stray symbol."""
    return (str(text).replace("≥", ">=").replace("≤", "<=").replace("–", "-").replace("—", "-").replace("−", "-")
            .replace("·", "|").replace("…", "...").encode("latin-1", "replace").decode("latin-1"))


class _Doc:
    """A thin layer over fpdf2 for the few text styles the reports use."""

    def __init__(self):
        from fpdf import FPDF

        self.pdf = FPDF(format="A4", unit="mm")
        self.pdf.set_auto_page_break(True, margin=12)
        self.pdf.set_margins(12, 10, 12)
        self.pdf.add_page()

    def text(self, text: str, size: float = 9, style: str = "", h: float = 4.3, colour=(0, 0, 0)) -> None:
        self.pdf.set_font("Helvetica", style, size)
        self.pdf.set_text_color(*colour)
        self.pdf.multi_cell(0, h, _latin1(text), new_x="LMARGIN", new_y="NEXT")
        self.pdf.set_text_color(0, 0, 0)

    def heading(self, text: str, size: float = 10.5) -> None:
        self.pdf.ln(1.2)
        self.text(text, size, "B", h=5.2)

    def table(self, rows: Sequence[Sequence[str]], widths: Sequence[float], size: float = 8.5) -> None:
        pdf = self.pdf
        for r, row in enumerate(rows):
            pdf.set_font("Helvetica", "B" if r == 0 else "", size)
            for text, w in zip(row, widths):
                text = _latin1(text)
                while len(text) > 3 and pdf.get_string_width(text) > w - 1.5:  # cut to the column, visibly
                    text = text[:-3] + ".."
                pdf.cell(w, 4.6, text, border="B" if r == 0 else 0)
            pdf.ln(4.6)

    def image(self, png: bytes, w: float) -> None:
        self.pdf.image(io.BytesIO(png), w=w)

    def bytes(self) -> bytes:
        return bytes(self.pdf.output())


def answer_lines(result: AnalysisResult, report: dict) -> list[tuple[str, str, str]]:
    """(title, answer in words, how it was decided and validated) for the answers the report leads with."""
    lead = [result.heads[result.primary], *result.screening_heads()]
    out = []
    thresholds = result.provenance.thresholds if result.provenance else {}
    for h in lead:
        v = h.verdict
        if v.abstained:
            out.append((h.title, f"No answer: {v.reason}.", ""))
            continue
        answer = f"{v.label} (probability {v.confidence:.0%})"
        how = validated_words(h, moved=h.name in thresholds) or _validated_words(h, report) or f"Rule: {v.rule}."
        why_low = low_probability_words(h)
        if why_low:
            how += " " + why_low
        if v.note:
            answer += f"; {v.note}"
        out.append((h.title, answer, how))
    return out


def _validated_words(h: HeadOutput, report: dict) -> str:
    if h.validated:
        return f"Validated {h.validated}."
    held = report.get("models", {}).get(h.source or h.name, {}).get("validated", {})
    m, ci = held.get("metrics") or {}, held.get("ci95") or {}
    words = {"roc_auc": "ROC-AUC", "balanced_accuracy": "balanced accuracy", "Score": "SPRSound Score"}
    figs = ", ".join(f"{w} {ci_words(m[k], ci.get(k))}" for k, w in words.items() if m.get(k) is not None)
    return f"Performance on people the model never saw: {figs} ({held.get('split', '')})." if figs else ""


def _clinician(doc: _Doc, prov: Provenance | None) -> None:
    fields = (prov.clinician if prov else {}) or {}
    if fields:
        doc.text("   ".join(f"{CLINICIAN_FIELDS[k]}: {v}" for k, v in fields.items()), 9.5, "B")


def _provenance(doc: _Doc, prov: Provenance | None) -> None:
    if prov is None:
        return
    doc.heading("Provenance", 9.5)
    for line in prov.lines():
        doc.text(line, 7.8, colour=_GREY, h=3.6)


def _track_head(result: AnalysisResult, track: str | None) -> HeadOutput | None:
    if track in result.heads and result.heads[track].window_probs is not None:
        return result.heads[track]
    return next((h for h in result.heads.values() if h.window_probs is not None), None)


def _window_threshold(result: AnalysisResult, head: HeadOutput, report: dict) -> float | None:
    """The threshold a window of the track is compared with: the detector's per-class window threshold, or the
    head's own decision threshold (what the verdict uses, applied to one window)."""
    col, name = track_column(head)
    wt = (report.get("models", {}).get(head.source, {}) or {}).get("window_thresholds") if head.source else None
    if wt:
        cls = {v: k for k, v in result.class_names.items()}.get(name, name)
        return wt.get(cls)
    return head.threshold if col is not None else None


def _figure(doc: _Doc, result: AnalysisResult, report: dict, track: str | None, w: float = 186) -> None:
    head = _track_head(result, track)
    if head is None or result.spectrogram is None:
        return
    th = _window_threshold(result, head, report)
    doc.image(figure_png(result, head, th), w=w)
    _, what = track_column(head)
    doc.text(f"Spectrogram of the recording (frequency in Hz on mel-spaced rows, time in seconds). Track under it: "
             f"P({what}) per 2-s window from '{head.title}', white = 0, dark blue = 1"
             + (f"; red frames: windows at or above the window threshold {th:.2f}" if th is not None else "")
             + "; grey hatched windows failed the quality gate and do not vote.", 7.8, "I", h=3.6)


def _timeline(doc: _Doc, result: AnalysisResult) -> None:
    tl = result.timeline
    if tl is None:
        return
    doc.heading("Event timeline (window detector)", 9.5)
    doc.text(tl.summary(result.class_names) + ".", 8.5)
    segs = tl.segments[:MAX_SEGMENTS]
    if segs:
        doc.table([("from (s)", "to (s)", "what", "probability")] +
                  [(f"{s.onset_s:.1f}", f"{s.offset_s:.1f}", result.class_names.get(s.type, s.type),
                    f"{s.probability:.2f}") for s in segs], (22, 22, 80, 25))
    if len(tl.segments) > MAX_SEGMENTS:
        doc.text(f"... and {len(tl.segments) - MAX_SEGMENTS} more segments (in the JSON report).", 8)
    doc.text("Segments are 1-s frames where the detector's window probability reaches its threshold, merged; "
             "validated against annotated events (event-based F1 on the Model metrics page), not a diagnosis of each "
             "event.", 7.5, "I", colour=_GREY, h=3.4)


def _details(doc: _Doc, result: AnalysisResult, report: dict) -> None:
    lead = {result.primary, *(h.name for h in result.screening_heads())}
    rest = [h for h in result.heads.values() if h.name not in lead and not (h.unit == "window" and h.verdict.abstained)]
    if not rest:
        return
    doc.heading("Finer answers (detail; each validated at its own unit)", 9.5)
    for h in rest:
        tag = " (experimental: not reliable enough for any decision)" if h.experimental else ""
        doc.text(f"{h.title}{tag}: {h.verdict.text()}.", 8.5, "B" if not h.experimental else "")
        if h.name == "record":
            doc.text(RESP_LABEL_GLOSSARY + ".", 7.8, colour=_GREY, h=3.6)
        words = _validated_words(h, report)
        if words:
            doc.text(words, 7.8, colour=_GREY, h=3.6)


def analysis_pdf(result: AnalysisResult, report: dict, track: str | None = None) -> bytes:
    """`result` as the user sees it (thresholds moved with `apply_thresholds`, clinician fields with
    `with_clinician_fields`); `report` is `Analyzer.report(result)`, which carries the models' held-out figures."""
    doc = _Doc()
    doc.text(f"Screening report: {result.name}", 14, "B", h=7)
    prov = result.provenance
    when = prov.when if prov else "n/a"
    doc.text(f"{APP_NAME} | analysed {when} | version {prov.app_version if prov else 'n/a'} | "
             f"encoder: {result.encoder.label}", 8.5, colour=_GREY)
    _clinician(doc, prov)
    doc.text(f"Recording: {result.duration_s:.1f} s. Quality: {result.clip_quality.summary()}"
             + (f". Audio: {'; '.join(result.audio_notes)}" if result.audio_notes else "") + ".", 8.5)
    check = result.input_check
    doc.text(input_check_words(result), 8.5, "B" if check is None or result.refused
             or (check.accepted and check.familiarity and check.familiarity.unusual) else "")
    if reference_words(result):
        doc.text(reference_words(result), 8.5, "B")
    if result.calibration:
        doc.text(calibration_words(result), 8.5, "B")
    for title, answer, how in answer_lines(result, report):
        doc.heading(title)
        doc.text(answer, 10, "B")
        if how:
            doc.text(how, 8.2, colour=_GREY, h=3.8)
    if not result.refused:  # no window track or finer answers for audio the model was not made for
        _figure(doc, result, report, track)
        _timeline(doc, result)
        _details(doc, result, report)
    _provenance(doc, prov)
    doc.pdf.ln(1)
    doc.text(DISCLAIMER, 9.5, "B")
    return doc.bytes()


def child_validation_text(validated: dict, key: str) -> str:
    """The child-level rule's figures per child, with the split named (from the recording model's metadata)."""
    v = (validated.get("validated") or {}).get(key)
    if not v or v.get("sensitivity") is None:
        return "The child-level rule has no per-child validation stored with this model (retrain it)."
    n = v.get("n_examinations", v["n_children"])
    text = (f"Validated per child ({n} examinations of {v['n_children']} children, {v['selection_text']}; "
            f"{v['split']}): sensitivity {ci_words(v['sensitivity'], v.get('sensitivity_ci'))}, specificity "
            f"{ci_words(v['specificity'], v.get('specificity_ci'))}")
    later = ((validated.get("by_period") or {}).get("later") or validated.get("intra") or {}).get(key)
    if later and later.get("sensitivity") is not None:
        text += (f"; on the later-period examinations alone ({later.get('n_examinations', later['n_children'])}): "
                 f"sensitivity {ci_words(later['sensitivity'], later.get('sensitivity_ci'))}, specificity "
                 f"{ci_words(later['specificity'], later.get('specificity_ci'))}")
    return text + "."


def examination_pdf(exam: "Examination", reports: list[dict | None], clinician: dict[str, str] | None = None,
                    title: str = "") -> bytes:
    """One report for every site of an examination (`core.answers.examination.Examination`): the child-level
    answers per visit with the rule and its per-child validation, a table of the sites, each site's spectrogram with
    the detector's track, and every recording's SHA-256."""
    from core.answers.examination import SITE_NAMES, rule_words
    from core.reports.chest_map import chest_png
    from core.reports.provenance import clean_fields

    doc = _Doc()
    done = [r for r in exam.results if r is not None]
    prov = done[0].provenance if done else None
    doc.text(title or "Examination report: one child, several chest sites", 14, "B", h=7)
    when = prov.when if prov else "n/a"
    doc.text(f"{APP_NAME} | analysed {when} | version {prov.app_version if prov else 'n/a'} | encoder: "
             f"{done[0].encoder.label if done else 'n/a'}", 8.5, colour=_GREY)
    fields = clean_fields(clinician)
    if fields:
        doc.text("   ".join(f"{CLINICIAN_FIELDS[k]}: {v}" for k, v in fields.items()), 9.5, "B")
    for problem in exam.problems:
        doc.text(f"No child answer: {problem}", 10, "B")
    for summary in exam.summaries:
        doc.heading(f"{summary.visit.capitalize()}: {summary.recordings} recording(s), {summary.answering} with an "
                    "answer")
        if exam.answerable:
            for key in exam.keys:
                t, neg, pos = exam.titles[key]
                doc.text(f"{t}: {summary.text(key, (neg, pos))}", 9.5, "B")
        if summary.duplicate_sites:
            doc.text(f"More than one recording of {', '.join(summary.duplicate_sites)} in this visit.", 8)
        mine = [s for s in exam.sites if s.visit == summary.visit]
        key = exam.keys[0]
        doc.image(chest_png(mine, key, f"{exam.titles[key][0].split(' (')[0]} per site, seen from behind"), w=95)
        doc.text("Marks: + positive, − negative, ? no answer, empty ring not recorded (the site's own recording "
                 "answer).", 7.5, "I", h=3.4)
    doc.text(f"Child-level rule: {rule_words(exam.validated)}.", 8.2, colour=_GREY, h=3.8)
    for key in exam.keys:
        doc.text(f"{exam.titles[key][0]}: {child_validation_text(exam.validated, key)}", 8.2, colour=_GREY, h=3.8)
    doc.heading("Sites", 9.5)
    short = {"screen": "Adventitious", "continuous": "Continuous"}  # the column is narrow: the titles are above
    rows = [("site", "visit", "recording", *(short.get(k, exam.titles[k][0].split(" (")[0]) for k in exam.keys),
             "quality / why no answer")]
    for s, r in zip(exam.sites, exam.results):
        cells = [("yes" if s.answers[k] else "no") + f" ({s.probabilities[k]:.2f})" if s.answers[k] is not None
                 else "no answer" for k in exam.keys]
        rows.append((f"{s.site} {SITE_NAMES.get(s.site, '')}".strip(), s.visit, s.name, *cells,
                     s.reason or (r.clip_quality.summary() if r is not None else "")))
    doc.table(rows, (29, 14, 48, 30, 28, 37), size=7.5)
    for s, r, rep in zip(exam.sites, exam.results, reports):
        if r is None:
            continue
        doc.heading(f"{s.site} ({SITE_NAMES.get(s.site, 'site not given')}), {s.visit}: {s.name}", 9)
        head = _track_head(r, "detector")
        if head is not None and r.spectrogram is not None:
            doc.image(figure_png(r, head, _window_threshold(r, head, rep or {}), spec_h=200, track_h=40), w=150)
        if r.timeline is not None:
            doc.text(r.timeline.summary(r.class_names) + ".", 8)
    doc.text("Figures: spectrogram (Hz on mel-spaced rows, time in s) and the window detector's P(adventitious "
             "sounds) per 2-s window (white 0, dark blue 1; red frames at or above its window threshold; grey "
             "hatched windows failed the quality gate).", 7.5, "I", h=3.4)
    doc.heading("Provenance", 9.5)
    for s, r in zip(exam.sites, exam.results):
        if r is not None and r.provenance is not None:
            doc.text(f"{s.name}: audio SHA-256 {r.provenance.audio_sha256}", 7.5, colour=_GREY, h=3.4)
    if prov is not None:
        for line in prov.model_lines():
            doc.text(line, 7.5, colour=_GREY, h=3.4)
    doc.pdf.ln(1)
    doc.text(DISCLAIMER, 9.5, "B")
    return doc.bytes()
