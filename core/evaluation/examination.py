"""The child-level answer of an examination, scored per child (the unit the Examination page answers for).

Input: one row per recording (`core.heads.recording.recording_rows`) with its patient, recording period, chest site,
recording number, annotated record label and the answers of a model that never saw that patient (the nested
patient-grouped CV), or of a model fitted on another period (the shift check). SPRSound marks no visits, so the
recording period stands for the visit, and two examinations are formed per patient and period and scored
separately (`core.decisions.child.SELECTIONS`): the earliest recording of each site (at most four, as one
examination of the page takes), and every recording of the child in that period.

A child is positive for an answer when any of the chosen recordings is annotated with those sounds, negative when
every one of them is Normal; children whose chosen recordings are all Poor Quality are left out. Recordings the
model called Poor Quality do not vote (as on the page). The shipped ("fitted") rule decides with the child-level
rule of the very model that answered the child's recordings, so it was chosen on other children only. 95 %
intervals: bootstrap over children.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from core.decisions.child import (FITTED_RULE, RULES, SELECTIONS, SHIPPED_RULE, ChildRule, child_positive,
                                  child_truth, group_examinations)
from core.evaluation.metrics import Decision, evaluate

__all__ = ["SELECTIONS", "EXAM_SPLITS", "child_level", "child_level_figures", "examination_evals"]

RulesOf = Callable[[dict], dict[str, ChildRule]]


def _decide(rows: list[dict], answer: str, rule: str, rules_of: RulesOf | None, requires: str) -> bool | None:
    votes = [None if r["poor"] else r[answer] for r in rows]
    rules = rules_of(rows[0]) if rule == FITTED_RULE else {}
    if answer not in rules:  # a fixed rule, or no fitted rule for this answer (then "any site", as on the page)
        return child_positive(votes, rule if rule != FITTED_RULE else "any_site")
    probs = [None if r["poor"] else r[f"p_{answer}"] for r in rows]
    decided = rules[answer].decide(probs)
    if decided and requires and requires in rules:
        decided = bool(rules[requires].decide([None if r["poor"] else r[f"p_{requires}"] for r in rows]))
    return decided


def child_level(rows: list[dict], answer: str, positives: Sequence[str], split: str,
                selection: str = "examination", rule: str = SHIPPED_RULE, rules_of: RulesOf | None = None,
                requires: str = "") -> dict:
    """Sensitivity, specificity (per child, with CIs over children) of one answer under one child-level rule; the
    AUC ranks children by their pooled site probability under the fitted rule's pooling (the highest answering
    site for the fixed rules)."""
    y, pred, score, ids = [], [], [], []
    left_out = {"all poor quality (annotated)": 0, "no answering site": 0}
    chosen = group_examinations(rows, selection)
    for key, rs in chosen.items():
        truth = child_truth(rs, positives)
        if truth is None:
            if all(r["label"] == "Poor Quality" for r in rs):
                left_out["all poor quality (annotated)"] += 1
            continue
        decided = _decide(rs, answer, rule, rules_of, requires)
        if decided is None:
            left_out["no answering site"] += 1
            continue
        probs = [None if r["poor"] else r[f"p_{answer}"] for r in rs]
        fitted = rules_of(rs[0]).get(answer) if rule == FITTED_RULE else None
        s = fitted.score(probs) if fitted is not None else max(p for p in probs if p is not None)
        y.append(int(truth))
        pred.append(int(decided))
        score.append(s)
        ids.append(key[0])
    names = ("negative child", "positive child")
    if len(set(y)) < 2:
        return {"split": split, "n_children": len(y), "rule": rule, "selection": selection, "left_out": left_out,
                "sensitivity": None, "specificity": None}
    p = np.asarray(score, float)
    ev = evaluate(np.asarray(y), np.stack([1 - p, p], axis=1), np.asarray(ids), Decision(names), split=split,
                  pred=np.asarray(pred))
    pc = ev["per_class"]
    return {"split": split, "rule": rule, "rule_text": RULES[rule], "selection": selection,
            "selection_text": SELECTIONS[selection], "n_children": len(set(ids)), "n_examinations": len(y),
            "n_positive": int(sum(y)), "n_negative": int(len(y) - sum(y)),
            "recordings_per_child": float(np.median([len(v) for v in chosen.values()])),
            "sensitivity": pc[names[1]]["recall"], "sensitivity_ci": pc[names[1]]["recall_ci"],
            "specificity": pc[names[0]]["recall"], "specificity_ci": pc[names[0]]["recall_ci"],
            "auc": ev["metrics"]["roc_auc"], "auc_ci": ev["ci95"]["roc_auc"], "left_out": left_out}


#: the splits the child-level figures are stored for in metrics.json, and their names in tables
EXAM_SPLITS = (("cv", "nested patient-grouped CV, both periods"),
               ("cv_earlier", "nested CV, earlier-period examinations"),
               ("cv_later", "nested CV, later-period examinations"),
               ("shift_earlier_to_later_promised", "nested CV on the earlier period only (what it promises)"),
               ("shift_earlier_to_later", "fitted on the earlier period only, scored on the later one"),
               ("test_inter", "official inter-patient test (unseen patients)"))


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


def examination_evals(rows: list[dict], answers: dict[str, dict], split: str, rules_of: RulesOf) -> dict:
    """Every answer x selection x rule: the fitted rule is the headline, the fixed ones are shown beside it.
    `answers`: key -> {"positives": ..., "requires": ...} (`core.tasks.RESP_ANSWERS`)."""
    return {key: {sel: {rule: child_level(rows, key, a["positives"], split, sel, rule, rules_of,
                                          a.get("requires", ""))
                        for rule in RULES} for sel in SELECTIONS} for key, a in answers.items()}
