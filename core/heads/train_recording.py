"""Train and evaluate the respiratory recording model (`core.heads.recording`), at the unit the app answers for.

Protocol:
1. Every sliding window of every training recording is embedded (the app's windows, decoder and quality gate) and
   labelled from the annotated events.
2. Nested patient-grouped CV over all training patients (outer folds): in each, the detector, the recording
   calibration, every threshold and the quality rule are fitted on the other folds' patients only (their own
   out-of-fold evidence comes from inner patient-grouped folds), then the held-out fold is scored once. This gives
   the "patient-grouped CV" figures; its first outer fold (~20 % of patients) is also reported alone as "held-out
   patients".
3. The shipped model repeats step 2's inner procedure on all training patients; it scores the official
   intra-patient test once (the same patients as training, recorded later: a shifted set).
Figures are given at the unit each answer is about: windows for the detector track, events (event-based F1) for the
timeline, recordings for the screening answers and the record label.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Callable

import numpy as np

from core.config import QualityThresholds, WINDOW_SECONDS
from core.data.datasets import scan
from core.encoders.cache import EmbeddingCache
from core.evaluation.events import CRITERIA, event_scores, recording_counts
from core.evaluation.examination import examination_evals, recording_rows
from core.evaluation.metrics import Decision, detection_scores, evaluate
from core.evaluation.model_card import recording_model_card
from core.evaluation.references import references_for
from core.heads.artifacts import Projection, artifact_dir, save_artifact
from core.heads.pipeline import (TrainOptions, embed_for_training, encoder_meta, official_split_name,
                                 same_people_note, skipped_reasons)
from core.heads.recording import (MAX_GOOD_CALLED_POOR, POOR_QUALITY, RecordingPredictions, RecordingSet,
                                  RespiratoryModel, label_probabilities, nested_predictions, screen_answers)
from core.answers.examination import RULES, SHIPPED_RULE
from core.answers.timeline import build_timeline
from core.tasks import (RECORD_2_1, RECORD_PRESENCE, RESP_CLASS_NAMES, RESP_DETECTOR_CLASSES, RESP_RECORD_LABELS,
                        RESP_TIMELINE_TYPES, HeadSpec)
from core.windows.labels import AMBIGUOUS, MIN_EVENT_FRACTION, MIN_OVERLAP_S, POSITIVE

#: the recording-level answers the app leads with: (key, detector class, title, negatives they are scored against)
ANSWERS = {
    "screen": {"class": "Adventitious", "title": "Adventitious sounds (wheeze, rhonchi, stridor or crackles)",
               "positive": "Adventitious sounds present", "negative": "No adventitious sounds found",
               "positives": ("CAS", "DAS", "CAS & DAS"), "negatives": ("Normal",)},
    "asthma": {"class": "CAS", "title": "Asthma-indicative sounds (wheeze, rhonchi or stridor)",
               "positive": "Asthma-indicative sounds present", "negative": "No asthma-indicative sounds found",
               "positives": ("CAS", "CAS & DAS"), "negatives": ("Normal",)},
}
COARSE_2_1 = ("Normal", "Adventitious", "Poor Quality")


def screen_present(pred: RecordingPredictions, classes: tuple[str, ...], answer: str) -> np.ndarray:
    """The decided answer per recording (`core.heads.recording.screen_answers`)."""
    return screen_answers(pred.present, classes)[answer]


def _answer_eval(rs: RecordingSet, pred: RecordingPredictions, answer: str, split: str,
                 negatives: tuple[str, ...] | None = None) -> dict:
    a = ANSWERS[answer]
    negatives = negatives or a["negatives"]
    labels = rs.labels[pred.recs]
    keep = np.isin(labels, a["positives"] + tuple(negatives)) & ~pred.poor
    y = np.isin(labels[keep], a["positives"]).astype(int)
    p = pred.probs[keep, rs.classes.index(a["class"])]
    decided = screen_present(pred, rs.classes, answer)[keep].astype(int)
    names = (a["negative"], a["positive"])
    ev = evaluate(y, np.stack([1 - p, p], axis=1), rs.groups[pred.recs][keep], Decision(names), split=split, pred=decided)
    ev["negatives"] = list(negatives)
    ev["called_poor_quality"] = int((np.isin(labels, a["positives"] + tuple(negatives)) & pred.poor).sum())
    pc = ev["per_class"]
    ev["sensitivity"], ev["specificity"] = pc[names[1]]["recall"], pc[names[0]]["recall"]
    ev["sensitivity_ci"], ev["specificity_ci"] = pc[names[1]]["recall_ci"], pc[names[0]]["recall_ci"]
    return ev


def _record_evals(rs: RecordingSet, pred: RecordingPredictions, split: str) -> dict:
    """SPRSound tasks 2-2 (five record labels) and 2-1 (Normal / Adventitious / Poor Quality), for the shipped rule
    and for plain argmax of the same probabilities."""
    labels = list(RESP_RECORD_LABELS)
    y = np.array([labels.index(v) for v in rs.labels[pred.recs]])
    groups = rs.groups[pred.recs]
    P = label_probabilities(pred.probs, pred.p_poor, rs.classes)
    rule = np.array([labels.index(v) for v in pred.record_label])
    to3 = np.array([COARSE_2_1.index(RECORD_2_1[lab]) for lab in labels])
    P3 = np.zeros((len(P), 3))
    for j in range(len(labels)):
        P3[:, to3[j]] += P[:, j]
    out = {}
    for name, pr in (("rule", rule), ("argmax", P.argmax(axis=1))):
        ev = evaluate(y, P, groups, Decision(tuple(labels)), split=split, normal_label="Normal", pred=pr)
        ev["task_2_1"] = evaluate(to3[y], P3, groups, Decision(COARSE_2_1), normal_label="Normal", pred=to3[pr],
                                  split=f"SPRSound task 2-1 view of: {split}")
        out[name] = ev
    return out


def _detection_evals(rs: RecordingSet, pred: RecordingPredictions, split: str) -> dict:
    """Window level: every usable window of the recordings with an event annotation, ambiguous ones left out."""
    rows = pred.window_rows
    good = rs.labels[rs.rec_of[rows]] != POOR_QUALITY
    out = {}
    for j, c in enumerate(rs.classes):
        ok = good & rs.usable[rows] & (rs.Y[rows, j] != AMBIGUOUS)
        out[c] = detection_scores(rs.Y[rows[ok], j] == POSITIVE, pred.window_probs[ok, j],
                                  rs.groups[rs.rec_of[rows[ok]]], split=split)
        out[c]["ambiguous_left_out"] = int((good & rs.usable[rows] & (rs.Y[rows, j] == AMBIGUOUS)).sum())
    return out


def _timeline_evals(rs: RecordingSet, pred: RecordingPredictions, thresholds_of: Callable[[int], dict[str, float]],
                    hop_s: float, split: str) -> dict:
    """Event-based F1 of the timeline against the annotated events (recordings with annotations only)."""
    rows = pred.window_rows
    rec_rows: dict[int, list[int]] = {}
    for i, r in enumerate(rs.rec_of[rows].tolist()):
        rec_rows.setdefault(r, []).append(i)
    counts = {c: [] for c in CRITERIA}
    groups = []
    for r in pred.recs.tolist():
        if rs.labels[r] == POOR_QUALITY:
            continue
        idx = np.asarray(rec_rows.get(r, []), int)
        tl = build_timeline(pred.window_probs[idx], rs.start_s[rows[idx]], rs.usable[rows[idx]],
                            float(rs.duration_s[r]), rs.classes, thresholds_of(r), RESP_TIMELINE_TYPES, hop_s)
        for crit in CRITERIA:
            counts[crit].append(recording_counts(rs.events[r], tl.segments, float(rs.duration_s[r]),
                                                 RESP_DETECTOR_CLASSES, RESP_TIMELINE_TYPES, crit))
        groups.append(rs.groups[r])
    return {crit: event_scores(counts[crit], np.array(groups), RESP_TIMELINE_TYPES, split=split, criterion=crit)
            for crit in CRITERIA}


def evaluate_predictions(rs: RecordingSet, pred: RecordingPredictions, split: str,
                         thresholds_of: Callable[[int], dict[str, float]], hop_s: float) -> dict:
    out = {"split": split, "n_recordings": int(len(pred.recs)),
           "n_patients": int(len(np.unique(rs.groups[pred.recs]))),
           "answers": {a: _answer_eval(rs, pred, a, split) for a in ANSWERS},
           "record": _record_evals(rs, pred, split),
           "detection": _detection_evals(rs, pred, split),
           "timeline": _timeline_evals(rs, pred, thresholds_of, hop_s, split)}
    out["answers"]["asthma"]["all_non_cas"] = _answer_eval(rs, pred, "asthma", split,
                                                           negatives=("Normal", "DAS"))
    return out


def _subset(pred: RecordingPredictions, keep: np.ndarray, rs: RecordingSet) -> RecordingPredictions:
    recs = pred.recs[keep]
    in_keep = np.isin(rs.rec_of[pred.window_rows], recs)
    return RecordingPredictions(recs, pred.window_rows[in_keep], pred.window_probs[in_keep], pred.scores[keep],
                                pred.probs[keep], pred.p_poor[keep], pred.present[keep], pred.poor[keep],
                                pred.record_label[keep])


def _summary(ev: dict) -> str:
    s, a = ev["answers"]["screen"], ev["answers"]["asthma"]
    r = ev["record"]["rule"]
    return (f"screen sens {s['sensitivity']:.3f} spec {s['specificity']:.3f} AUC {s['metrics']['roc_auc']:.3f}; "
            f"asthma sens {a['sensitivity']:.3f} spec {a['specificity']:.3f}; 2-2 Score {r['metrics']['Score']:.3f}, "
            f"2-1 Score {r['task_2_1']['metrics']['Score']:.3f}")


def train_recording_model(head: HeadSpec, task: str, data: Path, encoder, cache: EmbeddingCache, opts: TrainOptions,
                          thresholds: QualityThresholds | None = None, log: Callable[[str], None] = print,
                          audit: list | None = None) -> Path:
    t0 = time.time()
    thresholds = thresholds or QualityThresholds()
    log(f"[{task}/{head.name}] reading {data} as {head.dataset}")
    ds = scan(data, head.dataset, opts.group_pattern)
    if not ds.units:
        raise SystemExit(f"No labelled recordings found in {data} for {head.name}.")
    emb = embed_for_training(ds.units, encoder, cache, opts, thresholds, ("context",), head.name, log)
    rs = RecordingSet.from_embedded(emb, RESP_DETECTOR_CLASSES, WINDOW_SECONDS)
    train = np.flatnonzero(rs.splits == "train")
    n_pat = len(np.unique(rs.groups[train]))
    if len(train) < 20 or n_pat < 5:
        raise SystemExit(f"Too little data to train {head.name}: {len(train)} recordings of {n_pat} patients.")
    log(f"  {len(train)} training recordings of {n_pat} patients, {len(rs.rows(train))} windows")

    def factory() -> RespiratoryModel:
        return RespiratoryModel(rs.classes, RECORD_PRESENCE, folds=opts.folds, seed=opts.seed)

    outer = opts.folds + 1
    log(f"  nested patient-grouped {outer}-fold CV")
    nested, fold_of, fold_models = nested_predictions(factory, rs, train, outer, opts.seed + 1, audit=audit, log=log)
    rec_fold = {r: f for r, f in zip(train.tolist(), fold_of.tolist())}
    cv_split = (f"nested patient-grouped {outer}-fold CV over all {n_pat} training patients: detector, calibration, "
                f"thresholds and quality rule fitted on the other folds' patients only")
    cv = evaluate_predictions(rs, nested, cv_split,
                              lambda r: fold_models[rec_fold[r]].decider.window_thresholds, opts.hop)
    log(f"  patient-grouped CV: {_summary(cv)}")
    rows = {"cv": _recording_rows(rs, nested)}
    exams = {"cv": examination_evals(rows["cv"], _positives(), cv_split)}
    held = fold_of == 0
    n_held = len(np.unique(rs.groups[train[held]]))
    held_split = (f"held-out patients: the first outer fold, {n_held} patients ({int(held.sum())} recordings) never "
                  f"seen by the model that scored them")
    heldout = evaluate_predictions(rs, _subset(nested, held, rs), held_split,
                                   lambda r: fold_models[0].decider.window_thresholds, opts.hop)

    log("  shipped model: fitted on all training patients")
    shipped = factory().fit(rs, train, audit=audit, log=log)
    official = {}
    train_groups = set(rs.groups[train].tolist())
    for split in sorted(set(rs.splits.tolist()) - {"train"}):
        recs = np.flatnonzero(rs.splits == split)
        note = same_people_note(set(rs.groups[recs].tolist()), train_groups)
        pred = shipped.predict(rs, recs)
        ev = evaluate_predictions(rs, pred, f"{official_split_name(split)}: {note}",
                                  lambda r: shipped.decider.window_thresholds, opts.hop)
        official[split] = ev
        log(f"  {official_split_name(split)}: {_summary(ev)}")
        rows[split] = _recording_rows(rs, pred)
        exams[split] = examination_evals(rows[split], _positives(), ev["split"])

    scaler = shipped.detector.models[rs.classes[0]][0]
    Z = np.stack([scaler.transform(rs.X[rs.rec_of == r]).mean(axis=0) for r in train])
    proj = Projection.fit(Z, labels=rs.labels[train], groups=rs.groups[train], uids=rs.uids[train],
                          splits=rs.splits[train])
    skipped = ds.skipped + emb.skipped
    data_meta = {**ds.summary(), "root": data.name, "skipped_total": len(skipped),
                 "skipped_reasons": skipped_reasons(skipped), "training_units": int(len(train)),
                 "training_samples": int(len(rs.rows(train))), "training_groups": int(n_pat)}
    answers_meta = {}
    for key, a in ANSWERS.items():
        c = a["class"]
        t = shipped.decider.thresholds[c]
        answers_meta[key] = {
            "title": a["title"], "positive": a["positive"], "negative": a["negative"],
            "rule": (f"P({RESP_CLASS_NAMES[c]} present) >= {t:.3f}"
                     + ("" if key == "screen" else " and the adventitious-sound screen positive")),
            "threshold": t, "class": c,
            "validated": _validated(cv["answers"][key]),
            "intra": _validated(official["test_intra"]["answers"][key]) if "test_intra" in official else None,
        }
    meta = {
        "task": task, "head": head.name, "kind": "recording_model", "title": head.title,
        "labels": list(RESP_RECORD_LABELS), "unit": "recording", "pooled": False, "research": False,
        "experimental": False, "description": head.description,
        "classes": list(rs.classes), "class_names": RESP_CLASS_NAMES,
        "presence": {k: (sorted(v) if v is not None else None) for k, v in RECORD_PRESENCE.items()},
        "timeline_types": list(RESP_TIMELINE_TYPES),
        "pooling": shipped.pooling, "detector_model": shipped.detector_model,
        "thresholds": shipped.decider.thresholds, "window_thresholds": shipped.decider.window_thresholds,
        "quality_threshold": shipped.decider.quality_threshold, "max_good_called_poor": MAX_GOOD_CALLED_POOR,
        "quality_prior": shipped.decider.quality_model.prior if shipped.decider.quality_model else None,
        "window_labels": {"min_event_fraction": MIN_EVENT_FRACTION, "min_overlap_s": MIN_OVERLAP_S},
        "answers": answers_meta,
        "examination": {"rule": SHIPPED_RULE, "rule_text": RULES[SHIPPED_RULE],
                        "validated": {k: v["examination"][SHIPPED_RULE] for k, v in exams["cv"].items()},
                        "validated_all": {k: v["all"][SHIPPED_RULE] for k, v in exams["cv"].items()},
                        "intra": ({k: v["examination"][SHIPPED_RULE] for k, v in exams["test_intra"].items()}
                                  if "test_intra" in exams else None)},
        "record_label": {"validated": _record_validated(cv),
                         "intra": _record_validated(official["test_intra"]) if "test_intra" in official else None},
        "encoder": encoder_meta(encoder), "window": {"hop_s": opts.hop},
        "quality": dataclasses.asdict(thresholds),
        "aggregation": f"{shipped.pooling} of the detector's window probabilities over usable windows -> "
                       f"calibrated presence probability per class -> thresholds",
        "chosen": f"window detector ({shipped.detector_model}, one per class) + recording rules",
        "data": data_meta,
    }
    metrics = {
        "task": task, "head": head.name, "title": head.title, "kind": "recording_model",
        "encoder": encoder.info.identity, "encoder_label": encoder.info.label, "unit": "recording",
        "experimental": False, "research": False, "data": data_meta,
        "protocol": __doc__.strip().split("\n", 1)[1].strip(),
        "cv": cv, "heldout": heldout, "official_test": official,
        "examination": exams, "recordings": rows,
        "published_references": references_for("recording"),
        "shipped_model": f"window detector and recording rules refitted on all {n_pat} training patients",
        "training_seconds": round(time.time() - t0, 1),
    }
    out = artifact_dir(task, encoder.info.name, head.name, opts.out)
    objects = {"detector": dict(shipped.detector.models), "calibrators": dict(shipped.decider.calibrators),
               "quality_model": shipped.decider.quality_model.model if shipped.decider.quality_model else None}
    save_artifact(out, meta=meta, objects=objects, projection=proj, metrics=metrics,
                  card=recording_model_card(meta, metrics))
    log(f"  wrote {out} in {time.time() - t0:.0f} s")
    return out


def _recording_rows(rs: RecordingSet, pred: RecordingPredictions) -> list[dict]:
    """Each recording's decided answers and probabilities, kept so child-level rules can be scored per child."""
    c = rs.classes
    probs = {key: pred.probs[:, c.index(a["class"])] for key, a in ANSWERS.items()}
    return recording_rows(rs.uids[pred.recs], rs.groups[pred.recs], rs.labels[pred.recs], probs,
                          screen_answers(pred.present, c), pred.poor)


def _positives() -> dict[str, tuple[str, ...]]:
    return {key: a["positives"] for key, a in ANSWERS.items()}


def _record_validated(ev: dict) -> dict:
    r = ev["record"]["rule"]
    return {"split": ev["split"], "score_2_2": r["metrics"]["Score"], "score_2_2_ci": r["ci95"]["Score"],
            "score_2_1": r["task_2_1"]["metrics"]["Score"], "score_2_1_ci": r["task_2_1"]["ci95"]["Score"],
            "n": r["n"], "n_patients": r["n_groups"]}


def _validated(ev: dict) -> dict:
    """What the app prints beside an answer: sensitivity and specificity of the decided answers, AUC, with CIs."""
    return {"split": ev["split"], "sensitivity": ev["sensitivity"], "sensitivity_ci": ev["sensitivity_ci"],
            "specificity": ev["specificity"], "specificity_ci": ev["specificity_ci"],
            "auc": ev["metrics"]["roc_auc"], "auc_ci": ev["ci95"]["roc_auc"], "n": ev["n"],
            "n_positive": ev["counts"][list(ev["counts"])[1]], "n_negative": ev["counts"][list(ev["counts"])[0]],
            "n_patients": ev["n_groups"], "negatives": ev["negatives"]}
