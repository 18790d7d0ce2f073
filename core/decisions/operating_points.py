"""Where a score becomes a yes/no answer: the threshold rules the respiratory recording model and the
child-level answer use, each computed on out-of-fold scores of people the scored ones are not.

The balanced point (argmax of sensitivity + specificity) is the textbook rule, but on a flat ROC curve its argmax
jumps: the respiratory screen's moved from 0.29 to 0.37 when the features changed by 0.5 % (recomputed embeddings),
so the promised sensitivity/specificity moved by 0.08. The rules used for shipped answers are therefore defined by
quantiles, which move only as much as the score distributions do: the equal-error point (sensitivity equals
specificity) and a target-sensitivity point.
"""
from __future__ import annotations

import numpy as np
from sklearn.metrics import precision_recall_curve, roc_curve

#: the rule each shipped recording answer uses, and the child-level answer's sensitivity target (design choices,
#: fixed before any figure they are quoted with was computed)
RECORDING_RULE = "equal_error"
CHILD_TARGET_SENSITIVITY = 0.85
RULE_TEXT = {
    "equal_error": "the point where sensitivity equals specificity on out-of-fold recordings",
    "balanced": "the point maximising sensitivity + specificity on out-of-fold recordings",
    "sensitivity": "the highest threshold reaching the target sensitivity on out-of-fold examples",
}


def balanced_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """The threshold maximising sensitivity + specificity, midway to the next lower score (not on one example)."""
    fpr, tpr, th = roc_curve(y, p)
    th = np.clip(th, 0.0, 1.0)
    j = int(np.argmax(tpr - fpr))
    return float((th[j] + th[j + 1]) / 2) if j + 1 < len(th) else float(th[j])


def equal_error_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """The threshold where sensitivity and specificity are equal (interpolated between the two scores where
    sensitivity - specificity changes sign): a crossing of two monotone curves, so it moves smoothly with the
    score distributions instead of jumping between distant points of a flat curve."""
    y = np.asarray(y, bool)
    p = np.asarray(p, float)
    if y.all() or not y.any():
        raise ValueError("an equal-error threshold needs positive and negative examples")
    cand = np.unique(p)
    sens = np.array([(p[y] >= t).mean() for t in cand])
    spec = np.array([(p[~y] < t).mean() for t in cand])
    d = sens - spec  # decreasing in t
    j = int(np.argmax(d <= 0)) if (d <= 0).any() else len(cand) - 1
    if j == 0 or d[j] == 0:
        return float(cand[j])
    lo, hi = cand[j - 1], cand[j]
    w = d[j - 1] / (d[j - 1] - d[j])  # linear interpolation of the sign change
    return float(lo + w * (hi - lo))


def sensitivity_threshold(y: np.ndarray, p: np.ndarray, target: float) -> float:
    """The highest threshold whose sensitivity reaches `target` (the fewest false alarms that keep it)."""
    y = np.asarray(y, bool)
    pos = np.sort(np.asarray(p, float)[y])
    if not len(pos):
        raise ValueError("a sensitivity threshold needs positive examples")
    k = int(np.floor((1.0 - target) * len(pos) + 1e-9))  # this many positives may fall below
    return float(pos[min(k, len(pos) - 1)])


def specificity_threshold(y: np.ndarray, p: np.ndarray, target: float) -> float:
    """The lowest threshold whose specificity reaches `target` (the most positives found that keep it)."""
    y = np.asarray(y, bool)
    neg = np.sort(np.asarray(p, float)[~y])
    if not len(neg):
        raise ValueError("a specificity threshold needs negative examples")
    m = max(int(np.ceil(target * len(neg) - 1e-9)), 1)  # this many negatives must fall below the threshold
    return float(np.nextafter(neg[m - 1], np.inf))


def f1_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """The window threshold with the best F1 (a timeline should mark few windows, mostly right)."""
    prec, rec, th = precision_recall_curve(y, p)
    f1 = 2 * prec[:-1] * rec[:-1] / np.maximum(prec[:-1] + rec[:-1], 1e-12)
    return float(th[int(np.argmax(f1))]) if len(th) else 0.5


def threshold_by_rule(rule: str, y: np.ndarray, p: np.ndarray, target: float | None = None) -> float:
    if rule == "equal_error":
        return equal_error_threshold(y, p)
    if rule == "balanced":
        return balanced_threshold(y, p)
    if rule == "sensitivity":
        return sensitivity_threshold(y, p, CHILD_TARGET_SENSITIVITY if target is None else target)
    raise ValueError(f"unknown operating-point rule {rule!r}; choose from {sorted(RULE_TEXT)}")


def non_dominated(points: dict[str, dict]) -> tuple[dict[str, dict], dict[str, str]]:
    """The operating points worth offering: those no other point beats on sensitivity or specificity without
    losing on the other. Returns (kept, dropped -> the point that dominates it), so the page can say why one is
    missing (the cry head's balanced point was 0.931 / 0.868 beside high sensitivity's 0.931 / 0.894)."""
    kept, dropped = {}, {}
    for name, p in points.items():
        s, q = p.get("sensitivity"), p.get("specificity")
        by = next((other for other, o in points.items() if other != name and s is not None and q is not None
                   and o.get("sensitivity") is not None and o.get("specificity") is not None
                   and o["sensitivity"] >= s and o["specificity"] >= q
                   and (o["sensitivity"] > s or o["specificity"] > q)), None)
        if by is None:
            kept[name] = p
        else:
            dropped[name] = by
    return kept, dropped
