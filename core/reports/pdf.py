"""One-page PDF of an analysis, built in memory only when the user asks for it.

The figure is drawn with numpy and Pillow (no browser or plotting backend on the server): the clip's spectrogram
and, under it on the same time axis, one column per window coloured by the track head's probability of its
positive (or most probable non-normal) class, with quality-flagged windows hatched grey.
"""
from __future__ import annotations

import io

import numpy as np

from core.answers.analyzer import DISCLAIMER, AnalysisResult, HeadOutput

# viridis, 9 stops (the page's spectrogram colours)
_VIRIDIS = np.array([[68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141], [39, 173, 129],
                     [92, 200, 99], [170, 220, 50], [253, 231, 37]], float)
_BLUES = np.array([[247, 251, 255], [198, 219, 239], [107, 174, 214], [33, 113, 181], [8, 48, 107]], float)


def _colour(v: np.ndarray, stops: np.ndarray) -> np.ndarray:
    v = np.clip(np.nan_to_num(v), 0.0, 1.0) * (len(stops) - 1)
    i = np.minimum(v.astype(int), len(stops) - 2)
    f = (v - i)[..., None]
    return (stops[i] * (1 - f) + stops[i + 1] * f).astype(np.uint8)


def figure_png(result: AnalysisResult, head: HeadOutput, width: int = 1400, spec_h: int = 300,
               track_h: int = 60) -> bytes:
    from PIL import Image

    spec = result.spectrogram
    db = (np.clip(spec.db, -80.0, 0.0) + 80.0) / 80.0  # [F, T], low frequencies first
    img = _colour(db[::-1], _VIRIDIS)
    top = Image.fromarray(img).resize((width, spec_h), Image.BILINEAR)
    track = np.full((track_h, width, 3), 255, np.uint8)
    duration = max(result.duration_s, 1e-6)
    probs = head.window_probs
    col = head.labels.index(head.positive) if head.positive else None
    for i, (w, q) in enumerate(zip(result.windows, result.quality)):
        centre = w.start_s + min(w.end_s - w.start_s, w.content_s) / 2
        hop = (result.windows[1].start_s - result.windows[0].start_s) if len(result.windows) > 1 else 2.0
        a = int(max(0.0, centre - hop / 2) / duration * width)
        b = int(min(duration, centre + hop / 2) / duration * width)
        if not q.usable:
            track[:, a:b] = 200
            track[::6, a:b] = 150
            continue
        p = probs[i]
        v = p[col] if col is not None else (1.0 - p[0] if len(p) > 1 else p[0])
        track[:, a:b] = _colour(np.array(v), _BLUES)
    out = Image.new("RGB", (width, spec_h + track_h + 6), "white")
    out.paste(top, (0, 0))
    out.paste(Image.fromarray(track), (0, spec_h + 6))
    buf = io.BytesIO()
    out.save(buf, format="PNG")
    return buf.getvalue()


def _latin1(text: str) -> str:
    """The core PDF fonts are Latin-1: keep the text readable instead of failing on a stray symbol."""
    return (text.replace("≥", ">=").replace("≤", "<=").replace("–", "-").replace("—", "-").replace("·", "|")
            .encode("latin-1", "replace").decode("latin-1"))


def _para(pdf, height: float, text: str) -> None:
    pdf.multi_cell(0, height, text, new_x="LMARGIN", new_y="NEXT")


def analysis_pdf(result: AnalysisResult, report: dict, track: str | None = None) -> bytes:
    """`report` is `Analyzer.report(result)`: it carries the models' versions and held-out figures."""
    from fpdf import FPDF

    head = result.heads[track] if track in result.heads and result.heads[track].window_probs is not None else next(
        (h for h in result.heads.values() if h.window_probs is not None), None)
    pdf = FPDF(format="A4", unit="mm")
    pdf.set_auto_page_break(True, margin=10)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 14)
    _para(pdf, 8, _latin1(f"Screening analysis: {result.name}"))
    pdf.set_font("Helvetica", "", 9)
    _para(pdf, 4.5, _latin1(
        f"Task: {result.task}. Duration {result.duration_s:.2f} s. Encoder: {result.encoder.label} "
        f"({result.encoder.identity}). {result.encoder_note}"))
    _para(pdf, 4.5, _latin1(f"Quality: {result.clip_quality.summary()}"
                                   + (f". Audio: {'; '.join(result.audio_notes)}" if result.audio_notes else "")))
    if head is not None and result.spectrogram is not None:
        pdf.image(io.BytesIO(figure_png(result, head)), w=190)
        what = head.positive or f"not {head.labels[0]}"
        pdf.set_font("Helvetica", "I", 8)
        _para(pdf, 4, _latin1(f"Spectrogram (0-{result.spectrogram.freqs_hz.max():.0f} Hz, mel scale) and, "
                                     f"under it, one band per 2-s window: P({what}) from '{head.title}', white = 0, "
                                     f"dark blue = 1; grey hatched windows failed the quality gate."))
    pdf.ln(2)
    if result.timeline is not None:
        tl = result.timeline
        pdf.set_font("Helvetica", "B", 10)
        _para(pdf, 5, "Event timeline (window detector)")
        pdf.set_font("Helvetica", "", 9)
        _para(pdf, 4.5, _latin1(tl.summary(result.class_names) + "."))
        for seg in tl.segments[:20]:
            _para(pdf, 4, _latin1(f"  {seg.onset_s:.1f}-{seg.offset_s:.1f} s: "
                                  f"{result.class_names.get(seg.type, seg.type)} (p {seg.probability:.2f})"))
        if len(tl.segments) > 20:
            _para(pdf, 4, f"  ... and {len(tl.segments) - 20} more (see the JSON report).")
        pdf.ln(1)
    for name, h in result.heads.items():
        if h.unit == "window" and h.verdict.abstained:
            continue  # the detector's track is drawn above, its segments listed in the timeline
        v = h.verdict
        pdf.set_font("Helvetica", "B", 10)
        _para(pdf, 5, _latin1(f"{h.title}" + (" (experimental)" if h.experimental else "")
                                     + (" - verdict" if name == result.primary else "")))
        pdf.set_font("Helvetica", "", 9)
        _para(pdf, 4.5, _latin1(f"Result: {v.text()}. Rule: {v.rule}."))
        if h.validated:
            pdf.set_text_color(90, 90, 90)
            _para(pdf, 4, _latin1(f"Validated {h.validated}."))
            pdf.set_text_color(0, 0, 0)
            pdf.ln(1)
            continue
        held = report.get("models", {}).get(name, {}).get("validated", {})
        m, ci = held.get("metrics") or {}, held.get("ci95") or {}
        if m:
            words = {"roc_auc": "ROC-AUC", "balanced_accuracy": "balanced accuracy", "Score": "SPRSound Score"}
            figs = ", ".join(f"{w} {m[k]:.2f}" + (f" (95% CI {ci[k][0]:.2f}-{ci[k][1]:.2f})" if ci.get(k) else "")
                             for k, w in words.items() if m.get(k) is not None)
            pdf.set_text_color(90, 90, 90)
            _para(pdf, 4, _latin1(f"Performance on people the model never saw: {figs} ({held.get('split', '')})."))
            pdf.set_text_color(0, 0, 0)
        pdf.ln(1)
    pdf.set_font("Helvetica", "B", 10)
    _para(pdf, 5, _latin1(DISCLAIMER))
    return bytes(pdf.output())
