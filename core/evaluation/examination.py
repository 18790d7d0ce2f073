"""The child-level answer of an examination, scored per child (the unit the Examination page answers for).

Input: one row per recording with its patient, chest site, recording number, annotated record label and the
recording answers decided by a model that never saw that patient (the nested patient-grouped CV), or by the shipped
model on the later intra-patient recordings. SPRSound does not mark visits, so two examinations are formed per
patient and scored separately:

- *examination-sized*: the earliest recording (lowest recording number) of each site, at most four, as one
  examination of the page takes;
- *all recordings*: every recording of the child in that split.

A child is positive for an answer when any of the chosen recordings is annotated with those sounds, negative when
every one of them is Normal; children whose chosen recordings are all Poor Quality are left out. Recordings the
model called Poor Quality do not vote (as on the page). 95 % intervals: bootstrap over children.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from core.answers.examination import RULES, SHIPPED_RULE, child_positive, name_info
from core.evaluation.metrics import Decision, evaluate

SELECTIONS = {"examination": "earliest recording of each chest site (at most 4 per child)",
              "all": "every recording of the child in the split"}


def recording_rows(uids: Sequence[str], groups: Sequence[str], labels: Sequence[str], probs: dict[str, np.ndarray],
                   decided: dict[str, np.ndarray], poor: np.ndarray) -> list[dict]:
    """The per-recording predictions kept in metrics.json (small: a few numbers per recording)."""
    rows = []
    for i, uid in enumerate(uids):
        info = name_info(str(uid))
        rows.append({"uid": str(uid), "patient": str(groups[i]), "site": info.site, "rec": info.recording,
                     "label": str(labels[i]), "poor": bool(poor[i]),
                     **{f"p_{k}": round(float(v[i]), 5) for k, v in probs.items()},
                     **{k: bool(v[i]) for k, v in decided.items()}})
    return rows


def _select(rows: list[dict], selection: str) -> dict[str, list[dict]]:
    by: dict[str, list[dict]] = {}
    for r in rows:
        by.setdefault(r["patient"], []).append(r)
    if selection == "all":
        return by
    out = {}
    for patient, rs in by.items():
        first: dict[str, dict] = {}
        for r in sorted(rs, key=lambda r: (r["rec"] if r["rec"] is not None else 0, r["uid"])):
            first.setdefault(r["site"], r)
        out[patient] = list(first.values())
    return out


def child_level(rows: list[dict], answer: str, positives: Sequence[str], split: str,
                selection: str = "examination", rule: str = SHIPPED_RULE) -> dict:
    """Sensitivity, specificity (per child, with CIs over children) of one answer under one child-level rule; the
    AUC ranks children by their highest answering-site probability (the score the "any site" rule thresholds)."""
    y, pred, score, ids = [], [], [], []
    left_out = {"all poor quality (annotated)": 0, "no answering site": 0}
    chosen = _select(rows, selection)
    for patient, rs in chosen.items():
        good = [r for r in rs if r["label"] != "Poor Quality"]
        if not good:
            left_out["all poor quality (annotated)"] += 1
            continue
        truth = any(r["label"] in positives for r in good)
        if not truth and not all(r["label"] == "Normal" for r in good):
            continue  # e.g. only DAS recordings for the asthma answer: neither positive nor a Normal child
        votes = [None if r["poor"] else r[answer] for r in rs]
        decided = child_positive(votes, rule)
        if decided is None:
            left_out["no answering site"] += 1
            continue
        y.append(int(truth))
        pred.append(int(decided))
        score.append(max(r[f"p_{answer}"] for r in rs if not r["poor"]))
        ids.append(patient)
    names = ("negative child", "positive child")
    if len(set(y)) < 2:
        return {"split": split, "n_children": len(y), "rule": rule, "selection": selection, "left_out": left_out,
                "sensitivity": None, "specificity": None}
    p = np.asarray(score, float)
    ev = evaluate(np.asarray(y), np.stack([1 - p, p], axis=1), np.asarray(ids), Decision(names), split=split,
                  pred=np.asarray(pred))
    pc = ev["per_class"]
    return {"split": split, "rule": rule, "rule_text": RULES[rule], "selection": selection,
            "selection_text": SELECTIONS[selection], "n_children": len(y), "n_positive": int(sum(y)),
            "n_negative": int(len(y) - sum(y)),
            "recordings_per_child": float(np.median([len(chosen[i]) for i in ids])),
            "sensitivity": pc[names[1]]["recall"], "sensitivity_ci": pc[names[1]]["recall_ci"],
            "specificity": pc[names[0]]["recall"], "specificity_ci": pc[names[0]]["recall_ci"],
            "auc": ev["metrics"]["roc_auc"], "auc_ci": ev["ci95"]["roc_auc"], "left_out": left_out}


#: the splits the child-level figures are stored for in metrics.json, and their names in tables
EXAM_SPLITS = (("cv", "nested patient-grouped CV"), ("test_intra", "intra-patient test (same patients, later)"))


def child_level_figures(metrics: dict, answers: Sequence[str]):
    """(answer, selection, rule, split key, split name, figures) for every stored child-level evaluation with a
    figure, in table order: what the model card, the README and the Metrics page each print."""
    ex = metrics.get("examination") or {}
    for answer in answers:
        for sel in SELECTIONS:
            for rule in RULES:
                for split, name in EXAM_SPLITS:
                    e = (ex.get(split) or {}).get(answer, {}).get(sel, {}).get(rule)
                    if e and e.get("sensitivity") is not None:
                        yield answer, sel, rule, split, name, e


def examination_evals(rows: list[dict], answers: dict[str, Sequence[str]], split: str) -> dict:
    """Every answer x selection x rule: the shipped rule is the headline, the other is shown beside it."""
    return {answer: {sel: {rule: child_level(rows, answer, pos, split, sel, rule) for rule in RULES}
                     for sel in SELECTIONS} for answer, pos in answers.items()}
