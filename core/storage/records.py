"""What a saved visit holds, built from what the pages show: a single recording's analysis or an examination's
visit. Derived numbers only (answers, probabilities, operating points, the timeline's share of time per kind of
sound, hashes, versions); the audio only when the caller passes it and the store keeps audio."""
from __future__ import annotations

import datetime as dt

from core.answers.analyzer import AnalysisResult
from core.answers.examination import Examination
from core.decisions.child import SITE_UNKNOWN, name_info


def answers_of(result: AnalysisResult) -> dict:
    """Each recording-level answer: its label (None: no answer, with the reason), the probability of its positive
    label, the threshold and the operating point it was decided at."""
    out = {}
    for name, h in result.heads.items():
        if h.unit == "window" or h.experimental:
            continue
        v = h.verdict
        op = h.operating_point()
        out[name] = {"title": h.title, "label": None if v.abstained else v.label, "positive": h.positive,
                     "probability": (v.probabilities.get(h.positive) if h.positive and not v.abstained else
                                     (v.confidence if not v.abstained else None)),
                     "abstained": v.abstained, "reason": v.reason, "threshold": h.threshold,
                     "sensitivity": op.get("sensitivity"), "specificity": op.get("specificity"),
                     "validated_on": op.get("validated_on")}
    return out


def shares_of(result: AnalysisResult) -> dict:
    """The share of the recording with each kind of event on the timeline (respiratory), by the class names."""
    tl = result.timeline
    if tl is None:
        return {}
    return {result.class_names.get(t, t): round(v, 4) for t, v in tl.share().items()}


def recording_of(result: AnalysisResult, site: str = "", audio: bytes | None = None) -> dict:
    prov = result.provenance
    return {"site": site or name_info(result.name).site, "audio_sha256": prov.audio_sha256 if prov else "",
            "duration_s": round(result.duration_s, 3), "answers": answers_of(result), "shares": shares_of(result),
            "audio": audio}


def analysis_record(result: AnalysisResult, report: dict, *, label: str, visit_date: dt.date,
                    pdf: bytes | None = None, site: str = "", audio: bytes | None = None) -> dict:
    """A single recording's analysis as one saved visit."""
    prov = result.provenance
    rec = recording_of(result, site, audio)
    return {"kind": "analysis", "label": label, "visit_date": visit_date,
            "app_version": prov.app_version if prov else "", "encoder": result.encoder.identity,
            "models": dict(prov.models) if prov else {}, "calibration": result.calibration,
            "clinician": dict(prov.clinician) if prov and prov.clinician else {},
            "summary": {"answers": {k: {"label": a["label"], "probability": a["probability"]}
                                    for k, a in rec["answers"].items()}},
            "report": report, "pdf": pdf, "recordings": [rec]}


def examination_records(exam: Examination, reports: list[dict | None], *, visit_date: dt.date, label: str = "",
                        pdf: bytes | None = None, clinician: dict | None = None) -> list[dict]:
    """An examination as one saved visit per visit it holds, each with its sites and the child's answers under the
    rule in use, named `label` (with the examination's own visit name when it holds several). Nothing is saved for
    an examination with unresolved problems."""
    if not exam.answerable:
        raise ValueError("this examination has no child answer to save: " + "; ".join(exam.problems))
    out = []
    for summary in exam.summaries:
        sites = [(s, r) for s, r in zip(exam.sites, exam.results) if s.visit == summary.visit]
        first = next((r for _, r in sites if r is not None), None)
        prov = first.provenance if first is not None else None
        out.append({
            "kind": "examination", "visit_date": visit_date,
            "label": (label if len(exam.summaries) == 1 else f"{label} · {summary.visit}") if label else summary.visit,
            "app_version": prov.app_version if prov else "", "encoder": first.encoder.identity if first else "",
            "models": dict(prov.models) if prov else {}, "calibration": first.calibration if first else "",
            "clinician": clinician or {},
            "summary": {"child": {k: {"label": (exam.titles[k][2] if a else exam.titles[k][1]) if a is not None
                                      else None, "positive": a, "score": summary.scores.get(k)}
                                  for k, a in summary.answers.items()},
                        "rule": exam.validated.get("rule_text", ""), "answering": summary.answering},
            "report": {"sites": [{"site": s.site, "name": s.name, "answers": s.answers, "reason": s.reason}
                                 for s, _ in sites]},
            "pdf": pdf,
            "recordings": [recording_of(r, s.site if s.site != SITE_UNKNOWN else "") if r is not None else
                           {"site": s.site, "audio_sha256": "", "answers": {}, "shares": {}} for s, r in sites]})
    return out
