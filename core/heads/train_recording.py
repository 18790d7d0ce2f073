"""Train and evaluate the respiratory recording model (`core.heads.recording`), at the unit the app answers for.

Protocol:
1. Every sliding window of every recording of both recording periods (SPRSound's training release, and the
   intra-patient test release: later recordings of the same patients) is embedded (the app's windows, decoder and
   quality gate) and labelled from the annotated events.
2. Nested patient-grouped CV over both periods (outer folds by patient, so a patient's earlier and later
   recordings are always on the same side): in each, the detector, the recording calibration, every threshold, the
   record-label typing, the child-level rules and the quality rule are fitted on the other folds' patients only
   (their own out-of-fold evidence comes from inner patient-grouped folds), then the held-out fold is scored once.
   This gives the headline figures, per recording and per child (examination = patient and period), over both
   periods and per period; its first outer fold is also reported alone as "held-out patients".
3. Shift check, leave one period out, both directions: the whole procedure fitted on one period (its own nested CV
   is what it would promise), then scored on the other period; the drift is the scored figure minus the promised.
4. The shipped model repeats step 2's inner procedure on every patient of both periods; an official test split
   with other patients (the inter-patient test), when present, is scored once.
Figures are given at the unit each answer is about: windows for the detector track, events (event-based F1) for the
timeline, recordings for the screening answers and the record label, children for the examination.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from core.config import QualityThresholds, WINDOW_SECONDS
from core.data.datasets import scan
from core.encoders.cache import EmbeddingCache
from core.evaluation.events import CRITERIA, event_scores, recording_counts
from core.evaluation.examination import examination_evals
from core.evaluation.metrics import Decision, detection_scores, evaluate
from core.evaluation.model_card import recording_model_card
from core.evaluation.references import references_for
from core.heads.artifacts import Projection, artifact_dir, save_artifact
from core.heads.pipeline import (TrainOptions, embed_for_training, encoder_meta, official_split_name,
                                 same_people_note, skipped_reasons)
from core.heads.recording import (MAX_GOOD_CALLED_POOR, POOR_QUALITY, RecordingDecider, RecordingPredictions,
                                  RecordingSet, RespiratoryModel, label_probabilities, nested_predictions,
                                  quality_evidence, recording_rows, screen_answers)
from core.decisions.child import CHILD_POOLINGS, RULES, SHIPPED_RULE
from core.decisions.operating_points import RECORDING_RULE, RULE_TEXT
from core.decisions.timeline import build_timeline
from core.tasks import (RECORD_2_1, RECORD_PRESENCE, RESP_ANSWERS, RESP_CLASS_NAMES, RESP_DETECTOR_CLASSES,
                        RESP_RECORD_LABELS, RESP_TIMELINE_TYPES, RESP_TRAINING_SPLITS, HeadSpec)
from core.windows.labels import AMBIGUOUS, MIN_EVENT_FRACTION, MIN_OVERLAP_S, POSITIVE

ANSWERS = RESP_ANSWERS
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
                         thresholds_of: Callable[[int], dict[str, float]], hop_s: float, full: bool = True) -> dict:
    """Every figure of one set of predictions; `full=False` keeps the recording answers and the record label only
    (the shift check's promised figures and the decision ablation)."""
    out = {"split": split, "n_recordings": int(len(pred.recs)),
           "n_patients": int(len(np.unique(rs.groups[pred.recs]))),
           "answers": {a: _answer_eval(rs, pred, a, split) for a in ANSWERS},
           "record": _record_evals(rs, pred, split)}
    if full:
        out["detection"] = _detection_evals(rs, pred, split)
        out["timeline"] = _timeline_evals(rs, pred, thresholds_of, hop_s, split)
    out["answers"]["continuous"]["all_non_cas"] = _answer_eval(rs, pred, "continuous", split,
                                                               negatives=("Normal", "DAS"))
    return out


def _subset(pred: RecordingPredictions, keep: np.ndarray, rs: RecordingSet) -> RecordingPredictions:
    recs = pred.recs[keep]
    in_keep = np.isin(rs.rec_of[pred.window_rows], recs)
    return RecordingPredictions(recs, pred.window_rows[in_keep], pred.window_probs[in_keep], pred.scores[keep],
                                pred.probs[keep], pred.p_poor[keep], pred.present[keep], pred.poor[keep],
                                pred.record_label[keep])


def _summary(ev: dict) -> str:
    s, a = ev["answers"]["screen"], ev["answers"]["continuous"]
    r = ev["record"]["rule"]
    return (f"screen sens {s['sensitivity']:.3f} spec {s['specificity']:.3f} AUC {s['metrics']['roc_auc']:.3f}; "
            f"continuous sens {a['sensitivity']:.3f} spec {a['specificity']:.3f}; 2-2 Score "
            f"{r['metrics']['Score']:.3f}, 2-1 Score {r['task_2_1']['metrics']['Score']:.3f}")


#: a period with fewer patients is not fitted alone for the shift check (nested folds of a handful say nothing)
MIN_PERIOD_PATIENTS = 20
PERIOD_WORDS = {"earlier": "earlier period (SPRSound training release)",
                "later": "later period (SPRSound intra-patient test release: the same patients, recorded later)"}
#: the decision-layer variants the ablation compares (each refits only the decisions on the same out-of-fold evidence)
DECISION_VARIANTS = {
    "shipped": f"shipped decisions: thresholds at {RULE_TEXT[RECORDING_RULE]}, fitted record-label typing",
    "balanced": f"thresholds at {RULE_TEXT['balanced']} (the earlier release's rule)",
}


def redecide(m: RespiratoryModel, rs: RecordingSet, rule: str) -> RecordingDecider:
    """`m`'s decisions refitted with another operating-point rule on `m`'s own out-of-fold evidence (detector,
    calibration inputs, quality model unchanged): what the decision ablation compares."""
    o = m.oof_
    d = RecordingDecider(m.classes, m.pooling, rule=rule).fit(o.scores, rs.labels[o.recs], m.presence)
    d.quality_model, d.quality_threshold = m.decider.quality_model, m.decider.quality_threshold
    d.window_thresholds = m.decider.window_thresholds
    d.fit_typing(d.calibrate(o.scores), o.poor, rs.labels[o.recs])
    return d


def with_decider(pred: RecordingPredictions, d: RecordingDecider) -> RecordingPredictions:
    return d.predictions(pred.recs, pred.window_rows, pred.window_probs, pred.scores, pred.p_poor)


def _by_fold(pred: RecordingPredictions, fold_of_rec: dict[int, int], deciders: list[RecordingDecider],
             rs: RecordingSet) -> RecordingPredictions:
    """Nested predictions re-decided by each outer fold's own (variant) decider."""
    parts = []
    for f, d in enumerate(deciders):
        keep = np.array([fold_of_rec[r] == f for r in pred.recs.tolist()])
        if keep.any():
            parts.append((keep, with_decider(_subset(pred, keep, rs), d)))
    probs, present, label = pred.probs.copy(), pred.present.copy(), pred.record_label.copy()
    for keep, p in parts:
        probs[keep], present[keep], label[keep] = p.probs, p.present, p.record_label
    return RecordingPredictions(pred.recs, pred.window_rows, pred.window_probs, pred.scores, probs, pred.p_poor,
                                present, pred.poor, label)


def _drift(promised: dict, scored: dict) -> dict:
    """Per answer: promised (nested CV on the fitting period) and scored (the other period) sensitivity and
    specificity, their difference, and whether both stay within 0.05 (the stability target)."""
    out = {}
    for key in ANSWERS:
        p, s = promised["answers"][key], scored["answers"][key]
        d_sens, d_spec = s["sensitivity"] - p["sensitivity"], s["specificity"] - p["specificity"]
        out[key] = {"promised_sensitivity": p["sensitivity"], "promised_specificity": p["specificity"],
                    "scored_sensitivity": s["sensitivity"], "scored_specificity": s["specificity"],
                    "scored_sensitivity_ci": s["sensitivity_ci"], "scored_specificity_ci": s["specificity_ci"],
                    "drift_sensitivity": d_sens, "drift_specificity": d_spec,
                    "within_0_05": bool(abs(d_sens) <= 0.05 and abs(d_spec) <= 0.05)}
    r_p, r_s = promised["record"], scored["record"]
    out["record"] = {f"{rule}_{task}": {"promised": (r_p[rule] if task == "2_2" else r_p[rule]["task_2_1"])
                                        ["metrics"]["Score"],
                                        "scored": (r_s[rule] if task == "2_2" else r_s[rule]["task_2_1"])
                                        ["metrics"]["Score"]}
                     for rule in ("rule", "argmax") for task in ("2_1", "2_2")}
    return out


@dataclass
class PeriodShift:
    """One direction of the leave-one-period-out check: the fitting period's nested predictions (what it promises),
    the model fitted on all of it, its answers on the other period, and the report comparing the two."""

    nested: RecordingPredictions
    fold_of: dict[int, int]  # recording -> outer fold of `nested`
    fold_models: list[RespiratoryModel]
    model: RespiratoryModel
    scored: RecordingPredictions
    report: dict


def leave_one_period_out(factory: Callable[[], RespiratoryModel], rs: RecordingSet, pool: np.ndarray, a: str, b: str,
                         outer: int, seed: int, hop_s: float, *, full: bool = False, audit: list | None = None,
                         log: Callable[[str], None] = lambda s: None) -> PeriodShift:
    """Fit the whole procedure on period `a`'s recordings of `pool` (its nested patient-grouped CV is the promise),
    then answer period `b`'s recordings once with the model fitted on all of `a`."""
    recs_a, recs_b = pool[rs.periods[pool] == a], pool[rs.periods[pool] == b]
    if not len(recs_a) or not len(recs_b):
        raise ValueError(f"a leave-one-period-out check needs recordings of both periods ({a}: {len(recs_a)}, "
                         f"{b}: {len(recs_b)})")
    nested_a, fold_a, models_a = nested_predictions(factory, rs, recs_a, outer, seed, audit=audit, log=log)
    promise_split = f"nested patient-grouped {outer}-fold CV on the {PERIOD_WORDS.get(a, a)} only"
    promised = evaluate_predictions(rs, nested_a, promise_split, None, hop_s, full=False)
    model_a = factory().fit(rs, recs_a, audit=audit, log=log)
    scored = model_a.predict(rs, recs_b)
    scored_split = f"fitted on the {PERIOD_WORDS.get(a, a)} only, scored once on the {PERIOD_WORDS.get(b, b)}"
    ev = evaluate_predictions(rs, scored, scored_split, lambda r: model_a.decider.window_thresholds, hop_s, full=full)
    report = {"promised": promised, "scored": ev, "drift": _drift(promised, ev),
              "fitted_on": PERIOD_WORDS.get(a, a), "scored_on": PERIOD_WORDS.get(b, b)}
    return PeriodShift(nested_a, {r: f for r, f in zip(recs_a.tolist(), fold_a.tolist())}, models_a, model_a, scored,
                       report)


def period_evidence(rs: RecordingSet, pred: RecordingPredictions, recs: np.ndarray) -> dict:
    """What could move the scores between periods, per period: for Normal recordings the model's pooled evidence
    per class (nested predictions: no patient scored by a model that saw it), the recording level, noise floor
    (10th percentile window level), duration and age; for abnormal recordings how densely they are annotated."""
    from core.decisions.child import name_info

    pos = {r: i for i, r in enumerate(pred.recs.tolist())}
    q = lambda v: [round(float(x), 4) for x in np.percentile(v, [10, 25, 50, 75, 90])] if len(v) else []  # noqa
    out = {"quantiles": [10, 25, 50, 75, 90], "periods": {}}
    for period in sorted(set(rs.periods[recs].tolist())):
        mine = recs[rs.periods[recs] == period]
        normal = mine[rs.labels[mine] == "Normal"]
        if not len(normal):
            continue
        abnormal = mine[np.isin(rs.labels[mine], ("CAS", "DAS", "CAS & DAS"))]
        ev = {}
        for j, c in enumerate(rs.classes):
            ev[c] = q([pred.scores[pos[r], j] for r in normal if r in pos])
        qe = np.stack([quality_evidence(rs.usable[rs.rec_of == r], rs.rms_dbfs[rs.rec_of == r],
                                        rs.clip_ratio[rs.rec_of == r], rs.duration_s[r]) for r in normal])
        ages = [float(name_info(str(rs.uids[r])).age or "nan") for r in normal]
        n_events = [sum(1 for e in rs.events[r] if e.type != "Normal") for r in abnormal]
        share = [sum(min(e.end_s, rs.duration_s[r]) - e.start_s for e in rs.events[r] if e.type != "Normal")
                 / max(rs.duration_s[r], 1e-9) for r in abnormal]
        out["periods"][period] = {
            "normal_recordings": int(len(normal)), "normal_patients": int(len(np.unique(rs.groups[normal]))),
            "evidence": ev, "level_dbfs": q(qe[:, 1]), "floor_dbfs": q(qe[:, 2]),
            "share_15s_or_longer": round(float(np.mean(rs.duration_s[normal] >= 15.0)), 3), "age_years": q(ages),
            "abnormal_recordings": int(len(abnormal)),
            "events_per_abnormal_recording": round(float(np.mean(n_events)), 2) if n_events else None,
            "annotated_share_median": round(float(np.median(share)), 3) if share else None,
        }
    return out


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
    pool = np.flatnonzero(np.isin(rs.splits, RESP_TRAINING_SPLITS))
    n_pat = len(np.unique(rs.groups[pool]))
    if len(pool) < 20 or n_pat < 5:
        raise SystemExit(f"Too little data to train {head.name}: {len(pool)} recordings of {n_pat} patients.")
    periods = sorted(set(rs.periods[pool].tolist()))
    per_period = ", ".join(f"{p}: {int((rs.periods[pool] == p).sum())}" for p in periods)
    log(f"  {len(pool)} recordings of {n_pat} patients ({per_period}), {len(rs.rows(pool))} windows")

    def factory() -> RespiratoryModel:
        return RespiratoryModel(rs.classes, RECORD_PRESENCE, folds=opts.folds, seed=opts.seed)

    outer = opts.folds + 1
    log(f"  nested patient-grouped {outer}-fold CV over {' and '.join(periods)} recordings")
    nested, fold_of, fold_models = nested_predictions(factory, rs, pool, outer, opts.seed + 1, audit=audit, log=log)
    rec_fold = {r: f for r, f in zip(pool.tolist(), fold_of.tolist())}
    uid_rec = {str(u): i for i, u in enumerate(rs.uids)}
    cv_split = (f"nested patient-grouped {outer}-fold CV over all {n_pat} patients and both recording periods "
                f"(a patient's recordings of both periods in one fold): detector, calibration, thresholds, typing, "
                f"child-level rules and quality rule fitted on the other folds' patients only")
    thresholds_of_cv = lambda r: fold_models[rec_fold[r]].decider.window_thresholds  # noqa: E731
    rules_of_cv = lambda row: fold_models[rec_fold[uid_rec[row["uid"]]]].decider.child_rules  # noqa: E731
    cv = evaluate_predictions(rs, nested, cv_split, thresholds_of_cv, opts.hop)
    log(f"  patient-grouped CV, both periods: {_summary(cv)}")
    cv_by_period = {}
    for period in periods:
        keep = rs.periods[nested.recs] == period
        cv_by_period[period] = evaluate_predictions(rs, _subset(nested, keep, rs), f"{cv_split}; scored on the "
                                                    f"{PERIOD_WORDS.get(period, period)} recordings only",
                                                    thresholds_of_cv, opts.hop)
        log(f"    {period} recordings: {_summary(cv_by_period[period])}")
    rows = {"cv": recording_rows(rs, nested)}
    exams = {"cv": examination_evals(rows["cv"], ANSWERS, cv_split, rules_of_cv)}
    for period in periods:
        exams[f"cv_{period}"] = examination_evals([r for r in rows["cv"] if r["visit"] == period], ANSWERS,
                                                  f"{cv_split}; {period}-period examinations", rules_of_cv)
    held = fold_of == 0
    n_held = len(np.unique(rs.groups[pool[held]]))
    held_split = (f"held-out patients: the first outer fold, {n_held} patients ({int(held.sum())} recordings of both "
                  f"periods) never seen by the model that scored them")
    heldout = evaluate_predictions(rs, _subset(nested, held, rs), held_split,
                                   lambda r: fold_models[0].decider.window_thresholds, opts.hop)

    shift, ablation_preds = {}, {}
    if len(periods) == 2:
        for a, b in (("earlier", "later"), ("later", "earlier")):
            name = f"{a}_to_{b}"
            n_a = len(np.unique(rs.groups[pool[rs.periods[pool] == a]]))
            if n_a < MIN_PERIOD_PATIENTS:
                shift[name] = {"skipped": f"the {a} period holds {n_a} patients; a nested fit needs at least "
                                          f"{MIN_PERIOD_PATIENTS}"}
                log(f"  shift check {a} -> {b} skipped: {shift[name]['skipped']}")
                continue
            log(f"  shift check: fitted on the {a} period, scored on the {b} one")
            try:
                lopo = leave_one_period_out(factory, rs, pool, a, b, outer, opts.seed + 1, opts.hop,
                                            full=(a == "earlier"), log=log)
            except ValueError as exc:  # e.g. a class without positive windows in one period's folds
                shift[name] = {"skipped": f"the {a} period alone cannot be fitted: {exc}"}
                log(f"  shift check {a} -> {b} skipped: {shift[name]['skipped']}")
                continue
            shift[name] = lopo.report
            for key, d in lopo.report["drift"].items():
                if key in ANSWERS:
                    log(f"    {key}: promised {d['promised_sensitivity']:.3f} / {d['promised_specificity']:.3f}, "
                        f"scored {d['scored_sensitivity']:.3f} / {d['scored_specificity']:.3f}")
            scored_rows = recording_rows(rs, lopo.scored)
            exams[f"shift_{name}"] = examination_evals(scored_rows, ANSWERS, lopo.report["scored"]["split"],
                                                       lambda row, m=lopo.model: m.decider.child_rules)
            exams[f"shift_{name}_promised"] = examination_evals(
                recording_rows(rs, lopo.nested), ANSWERS, lopo.report["promised"]["split"],
                lambda row, lp=lopo: lp.fold_models[lp.fold_of[uid_rec[row["uid"]]]].decider.child_rules)
            if a == "earlier":
                rows["shift_earlier_to_later"] = scored_rows
            ablation_preds[name] = lopo

    decision_ablation = []
    for variant, text in DECISION_VARIANTS.items():
        rule = RECORDING_RULE if variant == "shipped" else variant
        row = {"key": variant, "variant": text}
        cv_v = evaluate_predictions(rs, _by_fold(nested, rec_fold, [redecide(m, rs, rule) for m in fold_models], rs),
                                    "cv", None, opts.hop, full=False)
        row["cv"] = {k: [cv_v["answers"][k]["sensitivity"], cv_v["answers"][k]["specificity"]] for k in ANSWERS}
        row["cv_2_2"] = cv_v["record"]["rule"]["metrics"]["Score"]
        if "earlier_to_later" in ablation_preds:
            lp = ablation_preds["earlier_to_later"]
            pr = evaluate_predictions(rs, _by_fold(lp.nested, lp.fold_of, [redecide(m, rs, rule)
                                                                           for m in lp.fold_models], rs),
                                      "promised", None, opts.hop, full=False)
            sc = evaluate_predictions(rs, with_decider(lp.scored, redecide(lp.model, rs, rule)), "scored", None,
                                      opts.hop, full=False)
            row["shift"] = _drift(pr, sc)
        decision_ablation.append(row)

    log("  shipped model: fitted on every patient of both periods")
    shipped = factory().fit(rs, pool, audit=audit, log=log)
    official = {}
    pool_groups = set(rs.groups[pool].tolist())
    for split in sorted(set(rs.splits.tolist()) - set(RESP_TRAINING_SPLITS)):
        recs = np.flatnonzero(rs.splits == split)
        note = same_people_note(set(rs.groups[recs].tolist()), pool_groups)
        pred = shipped.predict(rs, recs)
        ev = evaluate_predictions(rs, pred, f"{official_split_name(split)}: {note}",
                                  lambda r: shipped.decider.window_thresholds, opts.hop)
        official[split] = ev
        log(f"  {official_split_name(split)}: {_summary(ev)}")
        rows[split] = recording_rows(rs, pred)
        exams[split] = examination_evals(rows[split], ANSWERS, ev["split"], lambda row: shipped.decider.child_rules)

    scaler = shipped.detector.models[rs.classes[0]][0]
    Z = np.stack([scaler.transform(rs.X[rs.rec_of == r]).mean(axis=0) for r in pool])
    proj = Projection.fit(Z, labels=rs.labels[pool], groups=rs.groups[pool], uids=rs.uids[pool],
                          splits=rs.splits[pool])
    skipped = ds.skipped + emb.skipped
    data_meta = {**ds.summary(), "root": data.name, "skipped_total": len(skipped),
                 "skipped_reasons": skipped_reasons(skipped), "training_units": int(len(pool)),
                 "training_samples": int(len(rs.rows(pool))), "training_groups": int(n_pat),
                 "training_periods": {p: int((rs.periods[pool] == p).sum()) for p in periods}}
    answers_meta = {}
    for key, a in ANSWERS.items():
        c = a["class"]
        t = shipped.decider.thresholds[c]
        answers_meta[key] = {
            "title": a["title"], "positive": a["positive"], "negative": a["negative"],
            "requires": a["requires"],
            "rule": (f"P({RESP_CLASS_NAMES[c]} present) >= {t:.3f}"
                     + (f" and the {ANSWERS[a['requires']]['title'].split(' (')[0].lower()} answer positive"
                        if a["requires"] else "")),
            "threshold": t, "class": c, "operating_point": RULE_TEXT[RECORDING_RULE],
            "validated": _validated(cv["answers"][key]),
            "by_period": {p: _validated(e["answers"][key]) for p, e in cv_by_period.items()},
        }
    child_rules = {k: r.to_dict() for k, r in shipped.decider.child_rules.items()}
    meta = {
        "task": task, "head": head.name, "kind": "recording_model", "title": head.title,
        "labels": list(RESP_RECORD_LABELS), "unit": "recording", "pooled": False, "research": False,
        "experimental": False, "description": head.description,
        "classes": list(rs.classes), "class_names": RESP_CLASS_NAMES,
        "presence": {k: (sorted(v) if v is not None else None) for k, v in RECORD_PRESENCE.items()},
        "timeline_types": list(RESP_TIMELINE_TYPES),
        "pooling": shipped.pooling, "detector_model": shipped.detector_model,
        "thresholds": shipped.decider.thresholds, "window_thresholds": shipped.decider.window_thresholds,
        "das_type_threshold": shipped.decider.das_type_threshold, "operating_point_rule": RECORDING_RULE,
        "quality_threshold": shipped.decider.quality_threshold, "max_good_called_poor": MAX_GOOD_CALLED_POOR,
        "quality_prior": shipped.decider.quality_model.prior if shipped.decider.quality_model else None,
        "window_labels": {"min_event_fraction": MIN_EVENT_FRACTION, "min_overlap_s": MIN_OVERLAP_S},
        "answers": answers_meta,
        "examination": {"rule": SHIPPED_RULE, "rule_text": RULES[SHIPPED_RULE], "rules": child_rules,
                        "poolings": CHILD_POOLINGS,
                        "validated": {k: v["examination"][SHIPPED_RULE] for k, v in exams["cv"].items()},
                        "validated_all": {k: v["all"][SHIPPED_RULE] for k, v in exams["cv"].items()},
                        "any_site": {k: v["examination"]["any_site"] for k, v in exams["cv"].items()},
                        "by_period": {p: {k: v["examination"][SHIPPED_RULE] for k, v in exams[f"cv_{p}"].items()}
                                      for p in periods}},
        "record_label": {"validated": _record_validated(cv),
                         "by_period": {p: _record_validated(e) for p, e in cv_by_period.items()}},
        "training_periods": {p: PERIOD_WORDS.get(p, p) for p in periods},
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
        "cv": cv, "cv_by_period": cv_by_period, "heldout": heldout, "shift": shift, "official_test": official,
        "examination": exams, "recordings": rows, "decision_ablation": decision_ablation,
        "period_evidence": period_evidence(rs, nested, pool),
        "published_references": references_for("recording"),
        "shipped_model": f"window detector and recording rules refitted on all {n_pat} patients of both periods",
        "training_seconds": round(time.time() - t0, 1),
    }
    out = artifact_dir(task, encoder.info.name, head.name, opts.out)
    objects = {"detector": dict(shipped.detector.models), "calibrators": dict(shipped.decider.calibrators),
               "quality_model": shipped.decider.quality_model.model if shipped.decider.quality_model else None}
    save_artifact(out, meta=meta, objects=objects, projection=proj, metrics=metrics,
                  card=recording_model_card(meta, metrics))
    log(f"  wrote {out} in {time.time() - t0:.0f} s")
    return out


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
