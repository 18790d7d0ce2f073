"""Fit a calibration profile on local recordings and measure it, always split by person.

Input: one row per local recording as the shipped model answered it (derived numbers only): the person, visit, chest
site and recording number (respiratory), the label, whether the quality rule refused it, and per answer the shipped
probability `p_<answer>` (None: no answer) and decision `d_<answer>`. `fit_params` refits each answer's logistic
recalibration and threshold (and the child-level threshold), `cross_validate` reports the shipped ("before") and the
recalibrated ("after") sensitivity and specificity per recording and per child, the after figures from
person-grouped folds (each person scored by parameters fitted on the others), with CIs by resampling people.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from sklearn.linear_model import LogisticRegression

from core.calibration.profile import AnswerCalibration, ChildCalibration, ProfileError, logit
from core.decisions.child import ChildRule, child_truth, group_examinations, pool_sites
from core.decisions.operating_points import (CHILD_TARGET_SENSITIVITY, equal_error_threshold, sensitivity_threshold,
                                             specificity_threshold)
from core.evaluation.metrics import cluster_rate
from core.heads.training import grouped_folds
from core.tasks import RESP_ANSWERS

#: per task: answer key -> (labels that make it positive, labels that make it negative, the answer it requires)
ANSWERS = {
    "respiratory": {k: (tuple(a["positives"]), tuple(a["negatives"]), "" if k == "screen" else "screen")
                    for k, a in RESP_ANSWERS.items()},
    "cry": {"pain": (("pain",), ("discomfort",), "")},
}
#: each answer needs this many local recordings of each class, from this many people: a threshold for a target
#: sensitivity moves in steps of one recording (10 % at 10), and the person-grouped check needs each class in
#: several folds
MIN_PER_CLASS = 10
MIN_PEOPLE_PER_CLASS = 5
#: children (examinations) per class below which the child-level threshold is kept as shipped, and said so
MIN_CHILDREN_PER_CLASS = 5
FOLDS = 5


@dataclass(frozen=True)
class Target:
    """What the thresholds aim at: a sensitivity, a specificity, or the shipped rule for each answer."""

    kind: str = "shipped"  # "sensitivity" | "specificity" | "shipped"
    value: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("sensitivity", "specificity", "shipped"):
            raise ProfileError(f"unknown target {self.kind!r}")
        if self.kind != "shipped" and not (self.value is not None and 0.5 <= self.value < 1.0):
            raise ProfileError(f"a target {self.kind} must be at least 0.50 and below 1 (got {self.value})")

    def text(self, task: str) -> str:
        if self.kind == "shipped":
            return ("thresholds by the shipped rule: " + ("sensitivity = specificity per recording, sensitivity >= "
                                                          f"{CHILD_TARGET_SENSITIVITY:.2f} per child"
                                                          if task == "respiratory" else "sensitivity >= 0.90"))
        return f"thresholds for {self.kind} {self.value:.2f}"

    def to_dict(self, task: str) -> dict:
        return {"kind": self.kind, "value": self.value, "text": self.text(task)}

    def threshold(self, y: np.ndarray, p: np.ndarray, task: str, child: bool = False) -> float:
        if self.kind == "sensitivity":
            return sensitivity_threshold(y, p, self.value)
        if self.kind == "specificity":
            return specificity_threshold(y, p, self.value)
        if child:
            return sensitivity_threshold(y, p, CHILD_TARGET_SENSITIVITY)
        return equal_error_threshold(y, p) if task == "respiratory" else sensitivity_threshold(y, p, 0.90)


def truth(rows: Sequence[dict], key: str, task: str) -> np.ndarray:
    """Per row: 1 positive, 0 negative, -1 neither or no answer (the quality rule refused it, or no probability)."""
    pos, neg, _ = ANSWERS[task][key]
    out = np.full(len(rows), -1)
    for i, r in enumerate(rows):
        if r.get(f"p_{key}") is None or r.get("poor"):
            continue
        out[i] = 1 if r["label"] in pos else 0 if r["label"] in neg else -1
    return out


def check_counts(rows: Sequence[dict], task: str) -> dict:
    """Counts per answer and class; raises ProfileError naming what is short of the minimum, and why."""
    counts, short = {}, []
    people = np.array([r["patient"] for r in rows])
    for key in ANSWERS[task]:
        y = truth(rows, key, task)
        c = {"positive": int((y == 1).sum()), "negative": int((y == 0).sum()),
             "people_positive": int(len(set(people[y == 1]))), "people_negative": int(len(set(people[y == 0])))}
        counts[key] = c
        for cls in ("positive", "negative"):
            if c[cls] < MIN_PER_CLASS or c[f"people_{cls}"] < MIN_PEOPLE_PER_CLASS:
                short.append(f"'{key}' has {c[cls]} {cls} recording(s) from {c[f'people_{cls}']} people")
    if not rows:
        raise ProfileError("no labelled recordings were found")
    if short:
        raise ProfileError(
            "too few labelled recordings to calibrate: " + "; ".join(short) + f". Each answer needs at least "
            f"{MIN_PER_CLASS} recordings of each class from at least {MIN_PEOPLE_PER_CLASS} people: a threshold for a "
            "target sensitivity moves in steps of one recording (10 % at 10), and the person-grouped check needs "
            "each class in several folds")
    return counts


def gated_threshold(target: Target, y: np.ndarray, p: np.ndarray, gate: np.ndarray, task: str,
                    child: bool = False) -> float:
    """The threshold on `p` for `target` when the answer is positive only where `gate` is (continuous sounds need
    the adventitious answer positive): the target holds for the gated decision over all rows, so a requested
    sensitivity counts the positives the gate already lost, and a requested specificity the negatives it already
    cleared. The shipped rule, as shipped, ignores the gate."""
    y, gate = np.asarray(y, bool), np.asarray(gate, bool)
    if target.kind == "shipped" or gate.all():
        return float(target.threshold(y, p, task, child))
    if target.kind == "sensitivity":
        found = gate & y
        if not found.any():
            return float(target.threshold(y, p, task, child))
        share = min(target.value * y.sum() / found.sum(), 1.0)  # of the gated positives, this share must be found
        return float(sensitivity_threshold(np.ones(found.sum(), bool), p[found], share))
    allowed = int(np.floor((1.0 - target.value) * (~y).sum() + 1e-9))  # false alarms the target allows
    gated_neg = np.sort(p[gate & ~y])
    if len(gated_neg) <= allowed:
        return 0.0
    return float(np.nextafter(gated_neg[len(gated_neg) - allowed - 1], np.inf))


def fit_answer(p: np.ndarray, y: np.ndarray, target: Target, task: str, gate: np.ndarray | None = None
               ) -> AnswerCalibration:
    """The logistic recalibration of the shipped probability and the threshold for `target` on it (`gate`: where the
    answer it requires is positive)."""
    cal = LogisticRegression(C=1.0, max_iter=1000).fit(logit(p)[:, None], y.astype(bool))
    a, b = float(cal.coef_[0, 0]), float(cal.intercept_[0])
    if a <= 0:  # the local data reverse the ranking (tiny or mislabelled sets): keep the shipped order
        a, b = 1.0, 0.0
    q = AnswerCalibration(a, b, 0.5).probability(p)
    gate = np.ones(len(p), bool) if gate is None else gate
    return AnswerCalibration(a, b, gated_threshold(target, y.astype(bool), q, gate, task))


def apply(rows: Sequence[dict], answers: dict[str, AnswerCalibration], task: str) -> list[dict]:
    """The rows as the profile answers them: recalibrated probabilities and decisions (an answer that requires
    another is positive only with it)."""
    out = []
    for r in rows:
        r2 = dict(r)
        for key in ANSWERS[task]:
            ac, p = answers.get(key), r.get(f"p_{key}")
            if ac is None or p is None:
                continue
            q = float(ac.probability(p))
            r2[f"p_{key}"], r2[f"d_{key}"] = q, q >= ac.threshold
        for key, (_, _, req) in ANSWERS[task].items():
            if req and r2.get(f"d_{key}") and r2.get(f"d_{req}") is False:
                r2[f"d_{key}"] = False
        out.append(r2)
    return out


def child_scores(rows: Sequence[dict], poolings: dict[str, str], task: str) -> list[dict]:
    """Every examination (one per person and visit, the earliest recording of each site): its person, and per
    answer the child's truth (None: neither) and pooled site probability (None: no answering site)."""
    if task != "respiratory":
        return []
    out = []
    for (person, _), recs in group_examinations(list(rows), "examination").items():
        e = {"person": person}
        for key, pooling in poolings.items():
            e[f"y_{key}"] = child_truth(recs, ANSWERS[task][key][0])
            e[f"s_{key}"] = pool_sites([None if r.get("poor") else r.get(f"p_{key}") for r in recs], pooling)
        out.append(e)
    return out


def child_decide(ex: list[dict], rules: dict, task: str) -> list[dict]:
    """Each examination's answers under `rules` (answer key -> pooling and threshold), an answer that requires
    another positive only with it, as the Examination page decides them (`core.answers.examination.summarise`)."""
    out = []
    for e in ex:
        e2 = dict(e)
        for key, rule in rules.items():
            s = e.get(f"s_{key}")
            e2[f"d_{key}"] = None if s is None else bool(s >= rule.threshold)
        for key, (_, _, req) in ANSWERS[task].items():
            if req and e2.get(f"d_{key}") and e2.get(f"d_{req}") is False:
                e2[f"d_{key}"] = False
        out.append(e2)
    return out


def fit_children(rows: Sequence[dict], task: str, target: Target, poolings: dict[str, str]
                 ) -> dict[str, ChildCalibration]:
    """The child-level thresholds on the (recalibrated) rows' examinations, the shipped pooling kept, in the order
    the answers require each other; an answer with fewer than MIN_CHILDREN_PER_CLASS children of a class is left
    out (it keeps its shipped threshold)."""
    ex = child_scores(rows, poolings, task)
    out: dict[str, ChildCalibration] = {}
    for key, (_, _, req) in ANSWERS[task].items():
        if key not in poolings:
            continue
        keep = [e for e in ex if e[f"y_{key}"] is not None and e[f"s_{key}"] is not None]
        y = np.array([e[f"y_{key}"] for e in keep], bool)
        if min(int(y.sum()), int((~y).sum())) < MIN_CHILDREN_PER_CLASS:
            continue
        s = np.array([e[f"s_{key}"] for e in keep], float)
        gate = np.ones(len(keep), bool)
        if req and req in out:
            gate = np.array([e[f"d_{req}"] is not False for e in child_decide(keep, {req: out[req]}, task)], bool)
        out[key] = ChildCalibration(poolings[key], gated_threshold(target, y, s, gate, task, child=True))
    return out


def fit_params(rows: Sequence[dict], task: str, target: Target, poolings: dict[str, str]
               ) -> tuple[dict[str, AnswerCalibration], dict[str, ChildCalibration]]:
    """Every answer's recalibration and threshold (in the order they require each other), then the child level."""
    answers: dict[str, AnswerCalibration] = {}
    for key, (_, _, req) in ANSWERS[task].items():
        y = truth(rows, key, task)
        idx = np.flatnonzero(y >= 0)
        gate = None
        if req and req in answers:
            done = apply([rows[i] for i in idx], {req: answers[req]}, task)
            gate = np.array([r.get(f"d_{req}") is not False for r in done], bool)
        answers[key] = fit_answer(np.array([rows[i][f"p_{key}"] for i in idx], float), y[idx] == 1, target, task,
                                  gate)
    return answers, fit_children(apply(rows, answers, task), task, target, poolings)


def _rates(y: np.ndarray, d: np.ndarray, groups: np.ndarray, split: str) -> dict:
    sens, spec = cluster_rate(d[y], groups[y]), cluster_rate(~d[~y], groups[~y])
    return {"sensitivity": sens["rate"], "sensitivity_ci": sens["ci"], "specificity": spec["rate"],
            "specificity_ci": spec["ci"], "positives": int(y.sum()), "negatives": int((~y).sum()),
            "people": int(len(set(groups.tolist()))), "split": split}


def recording_figures(rows: Sequence[dict], key: str, task: str, split: str) -> dict | None:
    y = truth(rows, key, task)
    m = (y >= 0) & np.array([r.get(f"d_{key}") is not None for r in rows], bool)
    if not m.any():
        return None
    d = np.array([bool(rows[i][f"d_{key}"]) for i in np.flatnonzero(m)])
    return _rates(y[m] == 1, d, np.array([rows[i]["patient"] for i in np.flatnonzero(m)]), split)


def child_decisions(rows: Sequence[dict], key: str, task: str, rules: dict, poolings: dict[str, str]
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(truth, decision, person) per examination with a known truth and an answering site for `key`, every answer
    decided by `rules` (its requirement applied)."""
    decided = child_decide(child_scores(rows, poolings, task), rules, task)
    keep = [e for e in decided if e[f"y_{key}"] is not None and e[f"d_{key}"] is not None]
    return (np.array([e[f"y_{key}"] for e in keep], bool), np.array([e[f"d_{key}"] for e in keep], bool),
            np.array([e["person"] for e in keep], dtype=object))


def child_figures(rows: Sequence[dict], key: str, task: str, rules: dict, poolings: dict[str, str],
                  split: str) -> dict | None:
    if key not in rules or task != "respiratory":
        return None
    y, d, g = child_decisions(rows, key, task, rules, poolings)
    return _rates(y, d, g, split) if len(y) else None


def cross_validate(rows: Sequence[dict], task: str, target: Target, poolings: dict[str, str],
                   shipped_child: dict[str, ChildRule], folds: int = FOLDS, seed: int = 0) -> dict:
    """Before (the shipped answers on every local recording) and after (each person's recordings answered by
    parameters fitted on the other folds' people), per recording and per child."""
    people = np.array([r["patient"] for r in rows])
    y0 = truth(rows, next(iter(ANSWERS[task])), task)
    k = min(folds, len(set(people.tolist())))
    after: list[dict] = []
    child_after: dict[str, list[tuple]] = {key: [] for key in poolings}
    for tr, te in grouped_folds(np.where(y0 < 0, 2, y0), people, k, seed):
        answers, child = fit_params([rows[i] for i in tr], task, target, poolings)
        scored = apply([rows[i] for i in te], answers, task)
        after += scored
        rules = {**shipped_child, **child}  # an answer left out keeps its shipped child threshold
        for key in poolings:  # each fold's examinations decided by that fold's child thresholds
            if key in rules:
                child_after[key].append(child_decisions(scored, key, task, rules, poolings))
    n_people = len(set(people.tolist()))
    split_after = (f"person-grouped {k}-fold cross-validation on the {len(rows)} local recordings of {n_people} "
                   "people: each person answered with a calibration and thresholds fitted on the other folds' people")
    split_before = f"the shipped calibration and thresholds on the {len(rows)} local recordings of {n_people} people"
    out: dict = {}
    for key in ANSWERS[task]:
        out[key] = {"recording": {"before": recording_figures(rows, key, task, split_before),
                                  "after": recording_figures(after, key, task, split_after)}}
        if key in poolings:
            before = child_figures(rows, key, task, shipped_child, poolings, split_before)
            parts = child_after[key]
            merged = (_rates(*(np.concatenate([p[i] for p in parts]) for i in range(3)), split_after)
                      if parts and sum(len(p[0]) for p in parts) else None)
            out[key]["child"] = {"before": before, "after": merged}
    return out


def make_profile(rows: Sequence[dict], task: str, target: Target, *, name: str, model: str, encoder: str,
                 app_version: str, files_sha256: Sequence[str], poolings: dict[str, str],
                 shipped_child: dict[str, ChildRule], created: str, seed: int = 0):
    """The profile fitted on every local recording, with its before / after figures from `cross_validate`."""
    from dataclasses import replace

    from core.calibration.profile import CalibrationProfile, clean_name

    counts = check_counts(rows, task)
    answers, child = fit_params(rows, task, target, poolings)
    cv = cross_validate(rows, task, target, poolings, shipped_child, seed=seed)
    answers = {k: replace(v, figures=cv[k]["recording"]) for k, v in answers.items()}
    notes = []
    for key in poolings:
        if key in child:
            child[key] = replace(child[key], figures=cv[key].get("child") or {})
        else:
            notes.append(f"the child-level '{key}' answer keeps its shipped threshold: fewer than "
                         f"{MIN_CHILDREN_PER_CLASS} local children of each class")
    people = {r["patient"] for r in rows}
    data = {"recordings": len(rows), "people": len(people), "per_answer": counts,
            "files_sha256": sorted(set(files_sha256))}
    return CalibrationProfile(clean_name(name), task, created, model, encoder, app_version,
                              target.to_dict(task), data, answers, child, tuple(notes))
