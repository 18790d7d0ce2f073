"""Evaluation with the numbers a reviewer asks for, and confidence intervals that respect the grouping.

Confidence intervals come from a cluster bootstrap: whole patients/infants are resampled, because windows and
events of one person are not independent and a per-item bootstrap would make the intervals look too narrow.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import (
    average_precision_score,
    confusion_matrix,
    precision_recall_curve,
    precision_recall_fscore_support,
    roc_auc_score,
    roc_curve,
)

N_BOOT = 1000
#: fewer people than this get no CI: a cluster bootstrap over 3 infants has at most 10 distinct resamples
MIN_CI_GROUPS = 10
CURVE_POINTS = 101


@dataclass(frozen=True)
class Decision:
    """How probabilities become a label. Binary: threshold on the positive class. Multi-class: argmax of
    p / prior, which maximises balanced accuracy instead of favouring the majority class."""

    labels: tuple[str, ...]
    positive: str | None = None
    threshold: float | None = None
    priors: tuple[float, ...] | None = None  # per-class divisors: training prevalence, or tuned (see `rule`)
    rule: str = ""  # how the divisors were chosen, in words

    def predict(self, probs: np.ndarray) -> np.ndarray:
        probs = np.atleast_2d(probs)
        if self.positive is not None and self.threshold is not None:
            pos = self.labels.index(self.positive)
            other = 1 - pos
            return np.where(probs[:, pos] >= self.threshold, pos, other)
        if self.priors is not None:
            return np.argmax(probs / np.asarray(self.priors)[None, :], axis=1)
        return np.argmax(probs, axis=1)

    def to_dict(self) -> dict:
        return {"labels": list(self.labels), "positive": self.positive, "threshold": self.threshold,
                "priors": list(self.priors) if self.priors is not None else None, "rule": self.rule}

    @classmethod
    def from_dict(cls, d: dict) -> "Decision":
        return cls(tuple(d["labels"]), d.get("positive"), d.get("threshold"),
                   tuple(d["priors"]) if d.get("priors") is not None else None, d.get("rule", ""))


def format_with_ci(value: float, ci: list | tuple | None) -> str:
    """"0.854 (0.82–0.88)": how every table in the README and on the pages writes a figure with its 95 % CI."""
    return f"{value:.3f} ({ci[0]:.2f}–{ci[1]:.2f})" if ci else f"{value:.3f}"


def _auc(pos: np.ndarray, score: np.ndarray) -> float:
    """ROC-AUC by the Mann-Whitney rank statistic (ties averaged): fast enough for thousands of bootstraps."""
    from scipy.stats import rankdata

    n1 = int(pos.sum())
    n0 = len(pos) - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    r = rankdata(score)
    return float((r[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def macro_auc(y: np.ndarray, probs: np.ndarray) -> float:
    """One-vs-rest ROC-AUC averaged over the classes present as both positives and negatives."""
    k = probs.shape[1]
    if k == 2:
        return _auc(y == 1, probs[:, 1])
    aucs = [_auc(y == c, probs[:, c]) for c in range(k) if 0 < np.sum(y == c) < len(y)]
    return float(np.mean(aucs)) if aucs else float("nan")


def sprsound_scores(y: np.ndarray, pred: np.ndarray, normal: int) -> dict[str, float]:
    """BioCAS 2022 official scoring: SE over the non-normal classes (exact class), SP on normal."""
    is_norm = y == normal
    sp = float(np.mean(pred[is_norm] == normal)) if is_norm.any() else float("nan")
    se = float(np.mean(pred[~is_norm] == y[~is_norm])) if (~is_norm).any() else float("nan")
    as_ = (se + sp) / 2
    hs = 2 * se * sp / (se + sp) if (se + sp) > 0 else 0.0
    return {"SE": se, "SP": sp, "AS": as_, "HS": hs, "Score": (as_ + hs) / 2}


SCORE_RULE = ("label = highest probability divided by (training prevalence ^ a), with the normal class further "
              "weighted by w; a and w chosen on patient-grouped out-of-fold predictions to maximise the SPRSound Score")


def score_tuned_divisors(y: np.ndarray, probs: np.ndarray, normal: int) -> tuple[np.ndarray, dict]:
    """Two-parameter decision rule for the challenge tasks. Plain argmax under-calls rare abnormal classes and
    full prevalence correction over-calls them; the official Score sits in between. Two knobs (not one weight
    per class) so that a handful of stridor events cannot steer the rule."""
    k = probs.shape[1]
    prior = np.bincount(y, minlength=k) / len(y)
    prior = np.where(prior > 0, prior, 1.0 / len(y))
    best = (-1.0, 1.0, 1.0)
    for a in np.linspace(0.0, 1.0, 11):
        for w in np.exp(np.linspace(np.log(0.1), np.log(4.0), 25)):
            div = prior**a
            div[normal] /= w
            s = sprsound_scores(y, np.argmax(probs / div, axis=1), normal)["Score"]
            if s > best[0] + 1e-9:
                best = (s, a, w)
    s, a, w = best
    div = prior**a
    div[normal] /= w
    return div / div.sum(), {"a": float(a), "w_normal": float(w), "oof_score": float(s)}


def expected_calibration_error(y: np.ndarray, probs: np.ndarray, bins: int = 10) -> tuple[float, list[dict]]:
    """Top-label ECE with equal-width bins; also returns the reliability-diagram data."""
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y
    edges = np.linspace(0, 1, bins + 1)
    ece, table = 0.0, []
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (conf > lo) & (conf <= hi) if lo > 0 else (conf >= lo) & (conf <= hi)
        if m.any():
            acc, c = float(correct[m].mean()), float(conf[m].mean())
            ece += m.mean() * abs(acc - c)
            table.append({"bin_low": float(lo), "bin_high": float(hi), "confidence": c, "accuracy": acc, "count": int(m.sum())})
    return float(ece), table


def _point_metrics(y, probs, pred, k, normal) -> dict[str, float]:
    cm = np.bincount(y * k + pred, minlength=k * k).reshape(k, k)
    support, predicted, tp = cm.sum(axis=1), cm.sum(axis=0), np.diag(cm)
    present = support > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(present, tp / np.maximum(support, 1), np.nan)
        precision = np.where(predicted > 0, tp / np.maximum(predicted, 1), 0.0)
        f1 = np.where(precision + np.nan_to_num(recall) > 0,
                      2 * precision * np.nan_to_num(recall) / (precision + np.nan_to_num(recall)), 0.0)
    out = {
        "accuracy": float(tp.sum() / max(1, len(y))),
        "balanced_accuracy": float(np.nanmean(recall)) if present.sum() > 1 else float("nan"),
        "macro_f1": float(f1[present].mean()) if present.any() else float("nan"),
        "roc_auc": macro_auc(y, probs),
    }
    for c in range(k):
        out[f"recall[{c}]"] = float(recall[c])
    if normal is not None:
        out.update(sprsound_scores(y, pred, normal))
    return out


def _downsample(xs: np.ndarray, ys: np.ndarray, th: np.ndarray | None = None) -> dict:
    idx = np.unique(np.linspace(0, len(xs) - 1, min(CURVE_POINTS, len(xs))).round().astype(int))
    d = {"x": xs[idx].round(4).tolist(), "y": ys[idx].round(4).tolist()}
    if th is not None:
        t = np.concatenate([th, [th[-1] if len(th) else 1.0]])[: len(xs)]
        d["threshold"] = np.nan_to_num(t[idx], posinf=1.0).round(4).tolist()
    return d


def evaluate(
    y: np.ndarray,
    probs: np.ndarray,
    groups: np.ndarray,
    decision: Decision,
    *,
    split: str,
    normal_label: str | None = None,
    n_boot: int = N_BOOT,
    seed: int = 0,
    pred: np.ndarray | None = None,
) -> dict:
    """Everything for the metrics page, at the level the arrays are given (units or windows). `pred` overrides
    `decision.predict(probs)` where the decisions were made elsewhere (e.g. per outer fold of a nested CV, each
    fold with its own threshold)."""
    labels = list(decision.labels)
    k = len(labels)
    y = np.asarray(y, int)
    probs = np.asarray(probs, float)
    groups = np.asarray(groups)
    pred = decision.predict(probs) if pred is None else np.asarray(pred, int)
    normal = labels.index(normal_label) if normal_label in labels else None
    point = _point_metrics(y, probs, pred, k, normal)

    # Cluster bootstrap over groups (none with too few people for it to mean anything).
    rng = np.random.default_rng(seed)
    ug, inv = np.unique(groups, return_inverse=True)
    members = [np.flatnonzero(inv == g) for g in range(len(ug))]
    boots: dict[str, list[float]] = {key: [] for key in point}
    for _ in range(n_boot if len(ug) >= MIN_CI_GROUPS else 0):
        pick = rng.integers(0, len(ug), len(ug))
        idx = np.concatenate([members[g] for g in pick])
        if len(np.unique(y[idx])) < 2:
            continue
        for key, v in _point_metrics(y[idx], probs[idx], pred[idx], k, normal).items():
            boots[key].append(v)
    ci = {}
    for key, vals in boots.items():
        v = np.asarray(vals, float)
        v = v[np.isfinite(v)]
        ci[key] = [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))] if len(v) >= 20 else None

    p, r, f, s = precision_recall_fscore_support(y, pred, labels=list(range(k)), zero_division=0)
    per_class = {
        lab: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i]),
              "recall_ci": ci.get(f"recall[{i}]")}
        for i, lab in enumerate(labels)
    }
    curves = {}
    for i, lab in enumerate(labels):
        yt = y == i
        if 0 < yt.sum() < len(yt):
            fpr, tpr, th = roc_curve(yt, probs[:, i])
            prec, rec, pth = precision_recall_curve(yt, probs[:, i])
            curves[lab] = {
                "roc": _downsample(fpr, tpr, th),
                "auc": float(roc_auc_score(yt, probs[:, i])),
                "pr": _downsample(rec[::-1], prec[::-1]),
                "average_precision": float(average_precision_score(yt, probs[:, i])),
            }
    ece, reliability = expected_calibration_error(y, probs)
    scalar = {key: v for key, v in point.items() if not key.startswith("recall[")}
    out = {
        "split": split,
        "n": int(len(y)),
        "n_groups": int(len(ug)),
        "counts": {lab: int(np.sum(y == i)) for i, lab in enumerate(labels)},
        "metrics": scalar,
        "ci95": {key: ci[key] for key in scalar},
        "per_class": per_class,
        "confusion_matrix": confusion_matrix(y, pred, labels=list(range(k))).tolist(),
        "labels": labels,
        "curves": curves,
        "ece": ece,
        "reliability": reliability,
        "bootstrap": {"resamples": n_boot, "unit": "group (patient/infant/family)"} if len(ug) >= MIN_CI_GROUPS
        else {"resamples": 0, "note": f"no CI: {len(ug)} people are too few for a cluster bootstrap"},
    }
    return out


def detection_scores(y: np.ndarray, p: np.ndarray, groups: np.ndarray, *, split: str, n_boot: int = N_BOOT,
                     seed: int = 0) -> dict:
    """Threshold-free detection figures for one class (ROC-AUC, average precision = PR-AUC) with cluster-bootstrap
    intervals over people, and the curves; for window-level detection, where thousands of windows come from a few
    hundred people."""
    y = np.asarray(y, bool)
    p = np.asarray(p, float)
    groups = np.asarray(groups)
    ug, inv = np.unique(groups, return_inverse=True)
    members = [np.flatnonzero(inv == g) for g in range(len(ug))]
    rng = np.random.default_rng(seed)
    aucs, aps = [], []
    for _ in range(n_boot):
        idx = np.concatenate([members[g] for g in rng.integers(0, len(ug), len(ug))])
        if 0 < y[idx].sum() < len(idx):
            aucs.append(_auc(y[idx], p[idx]))
            aps.append(float(average_precision_score(y[idx], p[idx])))

    def ci(v: list[float]) -> list[float] | None:
        return [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))] if len(v) >= 20 else None

    fpr, tpr, th = roc_curve(y, p)
    prec, rec, _ = precision_recall_curve(y, p)
    return {"split": split, "n": int(len(y)), "n_positive": int(y.sum()), "n_groups": int(len(ug)),
            "roc_auc": _auc(y, p), "average_precision": float(average_precision_score(y, p)),
            "prevalence": float(y.mean()), "ci95": {"roc_auc": ci(aucs), "average_precision": ci(aps)},
            "curves": {"roc": _downsample(fpr, tpr, th), "pr": _downsample(rec[::-1], prec[::-1])}}


def binary_operating_points(y: np.ndarray, p_pos: np.ndarray, target_sensitivity: float = 0.90) -> dict:
    """Thresholds chosen on development predictions: max balanced accuracy, and the highest threshold reaching
    the sensitivity target (with the specificity it costs)."""
    fpr, tpr, th = roc_curve(y, p_pos)
    th = np.clip(th, 0.0, 1.0)
    j = int(np.argmax(tpr - fpr))
    # midway to the next lower score: the same dev performance, but not on the edge of one training example
    t_bal = float((th[j] + th[j + 1]) / 2) if j + 1 < len(th) else float(th[j])
    ok = np.flatnonzero(tpr >= target_sensitivity)
    s = int(ok[0]) if len(ok) else len(th) - 1
    return {
        "balanced": {"threshold": t_bal, "sensitivity": float(tpr[j]), "specificity": float(1 - fpr[j])},
        "high_sensitivity": {"target": target_sensitivity, "threshold": float(th[s]), "sensitivity": float(tpr[s]),
                             "specificity": float(1 - fpr[s])},
    }


def per_group(y: np.ndarray, probs: np.ndarray, groups: np.ndarray, decision: Decision,
              pred: np.ndarray | None = None, positive: str | None = None) -> dict:
    """Per person: how many of their units are classified right, per true label and overall, and whether the
    majority is; for a binary head also the person's sensitivity, specificity and within-person AUC (does the
    ranking hold inside one voice even where the threshold does not). A model can look good on units while
    failing whole people; this shows it. `pred`: decisions made elsewhere (per fold of a nested CV)."""
    labels = list(decision.labels)
    pred = decision.predict(probs) if pred is None else np.asarray(pred, int)
    pos = labels.index(positive) if positive in labels else None
    rows = []
    for g in sorted(set(np.asarray(groups).tolist())):
        m = np.asarray(groups) == g
        row = {"group": str(g), "n": int(m.sum()), "correct": int((pred[m] == y[m]).sum())}
        for i, lab in enumerate(labels):
            mi = m & (y == i)
            if mi.any():
                row[lab] = {"n": int(mi.sum()), "correct": int((pred[mi] == i).sum()),
                            "mean_probability": float(probs[mi, i].mean())}
        row["majority_correct"] = row["correct"] * 2 > row["n"]
        if pos is not None and len(labels) == 2:
            yp, yn = m & (y == pos), m & (y != pos)
            row["sensitivity"] = float((pred[yp] == pos).mean()) if yp.any() else None
            row["specificity"] = float((pred[yn] != pos).mean()) if yn.any() else None
            row["auc"] = _auc(y[m] == pos, probs[m, pos]) if yp.any() and yn.any() else None
        rows.append(row)
    by_label = {lab: sum(1 for r in rows if lab in r and r[lab]["correct"] * 2 > r[lab]["n"]) for lab in labels}
    with_label = {lab: sum(1 for r in rows if lab in r) for lab in labels}
    return {"groups": rows, "majority_correct": sum(r["majority_correct"] for r in rows), "n_groups": len(rows),
            "majority_correct_by_label": {lab: [by_label[lab], with_label[lab]] for lab in labels}}


def operating_point_at(roc: dict, threshold: float) -> dict:
    """Sensitivity and specificity of 'positive when p >= threshold', read off a stored ROC curve (the nearest
    stored point at or above the threshold; curves keep about a hundred points)."""
    th = np.asarray(roc["threshold"], float)
    tpr, fpr = np.asarray(roc["y"], float), np.asarray(roc["x"], float)
    ok = np.flatnonzero(th >= threshold)
    i = int(ok[-1]) if len(ok) else 0
    return {"threshold": float(th[i]), "sensitivity": float(tpr[i]), "specificity": float(1.0 - fpr[i])}


def cluster_rate(flags: np.ndarray, groups: np.ndarray, n_boot: int = N_BOOT, seed: int = 0) -> dict:
    """Share of flagged recordings with a 95 % CI from resampling people (a person's recordings move together);
    no CI with fewer people than the project's cluster bootstrap takes (`MIN_CI_GROUPS`)."""
    flags = np.asarray(flags, bool)
    n, k = len(flags), int(flags.sum())
    if not n:
        return {"n": 0, "count": 0, "rate": None, "ci": None}
    uniq, inv = np.unique(groups, return_inverse=True)
    if len(uniq) < MIN_CI_GROUPS:
        return {"n": n, "count": k, "rate": k / n, "ci": None}
    per_k = np.bincount(inv, weights=flags, minlength=len(uniq))
    per_n = np.bincount(inv, minlength=len(uniq))
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(uniq), size=(n_boot, len(uniq)))
    boot = per_k[draws].sum(axis=1) / np.maximum(per_n[draws].sum(axis=1), 1)
    return {"n": n, "count": k, "rate": k / n, "ci": [float(np.percentile(boot, 2.5)),
                                                       float(np.percentile(boot, 97.5))]}
