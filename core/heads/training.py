"""Fit, select, calibrate and evaluate a classification head on embeddings, always split by person.

Protocol (the same for every head, so the numbers are comparable):
1. Hold out ~20 % of the groups (patients / infants / families) as a test set, stratified by label.
2. On the remaining development groups, compare candidate heads by grouped k-fold CV (unit-level macro ROC-AUC).
3. Calibrate the chosen head with a multinomial logistic map fitted on its out-of-fold scores (cross-validated
   Platt/vector scaling) and choose the decision rule on those calibrated out-of-fold predictions.
4. Fit on all development groups and report the held-out groups: the headline figures.
5. For the shipped model, repeat 3-4 on all groups (grouped CV over all groups gives the calibration data and a
   second, labelled figure) and fit on everything.
A unit (event, record or recording) is scored by the mean of its usable windows' calibrated probabilities, or,
for pooled heads, directly from its pooled embedding. Event heads train on two views of every event (the event
alone, repeated to fill 2 s, and the event centred in its surrounding sound) so one model serves both the
challenge's event-level scoring and the app's sliding windows; units are scored on the head's `score_view`, and
the other view is reported beside it.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, StratifiedGroupKFold
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from core.data.embed import EmbeddedSet

VIEW_TEXT = {
    "context": "one 2-s window centred on the event with the sound around it, as the app's sliding windows see it",
    "event": "the event alone, repeated to fill 2 s; longer events windowed and averaged",
}
from core.evaluation.metrics import (SCORE_RULE, Decision, binary_operating_points, evaluate, macro_auc, per_group,
                      score_tuned_divisors)
from core.tasks import HeadSpec

CANDIDATES: dict[str, Callable[[], object]] = {
    "logreg": lambda: LogisticRegression(C=0.05, class_weight="balanced", max_iter=5000),
    "svm_rbf": lambda: SVC(C=1.0, kernel="rbf", gamma="scale", class_weight="balanced", decision_function_shape="ovr"),
    "hgb": lambda: HistGradientBoostingClassifier(max_iter=150, learning_rate=0.08, max_leaf_nodes=15,
                                                  l2_regularization=1.0, random_state=0),
    # no class_weight: sklearn's weighted binning is ~15x slower; imbalance is handled by the decision rule
    "mlp": lambda: MLPClassifier(hidden_layer_sizes=(128,), alpha=1e-2, early_stopping=True, max_iter=400,
                                 random_state=0),
}
DEFAULT_CANDIDATES = ("logreg", "svm_rbf", "hgb")


def make_pipeline(name: str) -> Pipeline:
    return Pipeline([("scale", StandardScaler()), ("clf", CANDIDATES[name]())])


def raw_scores(model: Pipeline, X: np.ndarray, k: int) -> np.ndarray:
    """Uncalibrated class scores [n, k] (log-probabilities or decision values), aligned to label indices."""
    clf = model[-1]
    classes = np.asarray(clf.classes_, int)
    if hasattr(clf, "predict_proba"):
        s = np.log(np.clip(model.predict_proba(X), 1e-6, 1.0))
    else:
        d = model.decision_function(X)
        s = np.stack([-d / 2, d / 2], axis=1) if d.ndim == 1 else d
    out = np.full((len(X), k), s.min() - 5.0 if s.size else -20.0)
    out[:, classes] = s
    return out


def _cal_features(scores: np.ndarray) -> np.ndarray:
    return scores[:, 1:2] - scores[:, 0:1] if scores.shape[1] == 2 else scores


def fit_calibrator(scores: np.ndarray, y: np.ndarray) -> LogisticRegression:
    cal = LogisticRegression(C=1.0, max_iter=2000)
    cal.fit(_cal_features(scores), y)
    return cal


def calibrated(cal: LogisticRegression, scores: np.ndarray, k: int) -> np.ndarray:
    p = cal.predict_proba(_cal_features(scores))
    out = np.zeros((len(scores), k))
    out[:, np.asarray(cal.classes_, int)] = p
    return out


@dataclass
class Design:
    """Training samples (windows or pooled units) tied to the units they belong to."""

    X: np.ndarray
    y: np.ndarray  # per sample
    sample_unit: np.ndarray
    unit_y: np.ndarray
    unit_groups: np.ndarray
    n_units: int
    scoring: np.ndarray | None = None  # [n_samples] True where the sample votes for its unit's probability
    view: np.ndarray | None = None  # [n_samples] the view each sample comes from

    def __post_init__(self) -> None:
        if self.scoring is None:
            self.scoring = np.ones(len(self.X), bool)
        if self.view is None:
            self.view = np.full(len(self.X), "context", dtype=object)

    def samples_of(self, units: np.ndarray) -> np.ndarray:
        mask = np.zeros(self.n_units, bool)
        mask[units] = True
        return np.flatnonzero(mask[self.sample_unit])

    def unit_probs(self, probs: np.ndarray, samples: np.ndarray, units: np.ndarray) -> np.ndarray:
        """Per-unit mean of the scoring samples' probabilities (`probs` aligned with `samples`)."""
        m = self.scoring[samples]
        return unit_probs(probs[m], self.sample_unit[samples][m], units, probs.shape[1])

    def rescored(self, view: str) -> "Design":
        """The same samples, units scored on `view` (units without a usable window in it fall back to all)."""
        return Design(self.X, self.y, self.sample_unit, self.unit_y, self.unit_groups, self.n_units,
                      _scoring(self.view, self.sample_unit, self.n_units, view), self.view)


def _scoring(view: np.ndarray, sample_unit: np.ndarray, n_units: int, score_view: str) -> np.ndarray:
    scoring = view == score_view
    has = np.zeros(n_units, bool)
    has[sample_unit[scoring]] = True
    return scoring | ~has[sample_unit]


def build_design(emb: EmbeddedSet, head: HeadSpec, unit_idx: np.ndarray) -> tuple[Design, list[tuple[str, str]]]:
    """Units with a label outside the head, or (window heads) without a usable window, are dropped and reported.
    A unit with no usable window in the scoring view is scored on its other views."""
    labels = list(head.labels)
    skipped: list[tuple[str, str]] = []
    keep, uy = [], []
    in_views = np.isin(emb.view, head.views)
    has_usable = np.zeros(len(emb.units), bool)
    has_usable[emb.unit_of[emb.usable & in_views]] = True
    for i in unit_idx:
        u = emb.units[i]
        lab = head.label_map.get(u.label, u.label) if head.label_map else u.label
        if lab not in labels:
            skipped.append((u.uid, f"label {u.label!r} not in head {head.name}"))
            continue
        if not head.pooled and not has_usable[i]:
            skipped.append((u.uid, "no window passed the quality gate"))
            continue
        keep.append(i)
        uy.append(labels.index(lab))
    keep_a = np.asarray(keep, int)
    sub = emb.subset(keep_a)
    unit_y = np.asarray(uy, int)
    groups = np.asarray([u.group for u in sub.units])
    if head.pooled:
        X = sub.pooled()
        su = np.arange(len(sub.units))
        scoring = view = None
    else:
        m = sub.usable & np.isin(sub.view, head.views)
        X, su, view = sub.X[m], sub.unit_of[m], sub.view[m]
        if head.duration_feature:  # a crackle series lasts longer than a wheeze: the annotation says how long
            dur = np.array([max((u.end_s or 0.0) - (u.start_s or 0.0), 1e-3) for u in sub.units])
            X = np.concatenate([X, np.log(dur)[su][:, None].astype(X.dtype)], axis=1)
        scoring = _scoring(view, su, len(sub.units), head.score_view)
    return Design(X, unit_y[su], su, unit_y, groups, len(sub.units), scoring, view), skipped


def unit_probs(window_probs: np.ndarray, sample_unit: np.ndarray, units: np.ndarray, k: int) -> np.ndarray:
    """Mean of the samples' probabilities per unit, in the order of `units`."""
    pos = {u: j for j, u in enumerate(units.tolist())}
    out = np.zeros((len(units), k))
    cnt = np.zeros(len(units))
    for p, u in zip(window_probs, sample_unit):
        j = pos[u]
        out[j] += p
        cnt[j] += 1
    return out / np.maximum(cnt, 1)[:, None]


def grouped_folds(y: np.ndarray, groups: np.ndarray, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    k = min(k, len(np.unique(groups)))
    if np.bincount(np.unique(y, return_inverse=True)[1]).max() < k:
        # every class is rarer than the fold count (a small user dataset): stratification is impossible, so the
        # folds are by group only
        return list(GroupKFold(n_splits=k).split(np.zeros(len(y)), y, groups))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # rare classes cannot always be spread over all folds
        sgkf = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
        return [(tr, te) for tr, te in sgkf.split(np.zeros(len(y)), y, groups)]


def oof_scores(d: Design, units: np.ndarray, name: str, k: int, folds: int, seed: int,
               splits: list[tuple[np.ndarray, np.ndarray]] | None = None) -> np.ndarray:
    """Out-of-fold raw scores for every sample of `units`, folds by group (or the given unit splits)."""
    samples = d.samples_of(units)
    out = np.zeros((len(samples), k))
    pos = {s: j for j, s in enumerate(samples.tolist())}
    if splits is None:
        splits = grouped_folds(d.unit_y[units], d.unit_groups[units], folds, seed)
    for tr_u, te_u in splits:
        tr, te = d.samples_of(units[tr_u]), d.samples_of(units[te_u])
        model = make_pipeline(name).fit(d.X[tr], d.y[tr])
        out[[pos[s] for s in te.tolist()]] = raw_scores(model, d.X[te], k)
    return out


def choose_decision(head: HeadSpec, y_unit: np.ndarray, p_unit: np.ndarray) -> tuple[Decision, dict]:
    labels = tuple(head.labels)
    if head.positive is not None and len(labels) == 2:
        pos = labels.index(head.positive)
        ops = binary_operating_points(y_unit == pos, p_unit[:, pos])
        return Decision(labels, head.positive, ops[head.operating_point]["threshold"]), ops
    if head.negative_label in labels:
        div, info = score_tuned_divisors(y_unit, p_unit, labels.index(head.negative_label))
        return Decision(labels, priors=tuple(float(v) for v in div), rule=SCORE_RULE), {"score_rule": info}
    priors = np.bincount(y_unit, minlength=len(labels)) / len(y_unit)
    priors = np.where(priors > 0, priors, 1.0 / len(y_unit))
    return Decision(labels, priors=tuple(float(p) for p in priors),
                    rule="label = highest probability relative to its training prevalence"), {}


@dataclass
class CalibratedStage:
    """The outcome of steps 2-3 on a set of units: chosen candidate, calibrator, decision, OOF predictions."""

    name: str
    calibrator: LogisticRegression
    decision: Decision
    operating_points: dict
    oof_unit_probs: np.ndarray
    units: np.ndarray
    selection: dict = field(default_factory=dict)
    oof_scores: np.ndarray | None = None  # raw out-of-fold scores of every sample of `units`


def select_and_calibrate(
    d: Design, head: HeadSpec, units: np.ndarray, candidates: tuple[str, ...], folds: int, seed: int,
    log: Callable[[str], None] = print,
) -> CalibratedStage:
    k = len(head.labels)
    samples = d.samples_of(units)
    selection, best = {}, None
    for name in candidates:
        scores = oof_scores(d, units, name, k, folds, seed)
        up = d.unit_probs(_softmax(scores), samples, units)  # ranking only: calibration comes later
        auc = macro_auc(d.unit_y[units], up)
        selection[name] = {"unit_macro_auc": auc}
        log(f"    candidate {name:8s} grouped {folds}-fold unit macro AUC = {auc:.3f}")
        if best is None or auc > selection[best[0]]["unit_macro_auc"]:
            best = (name, scores)
    name, scores = best
    cal = fit_calibrator(scores, d.y[samples])
    p_unit = d.unit_probs(calibrated(cal, scores, k), samples, units)
    decision, ops = choose_decision(head, d.unit_y[units], p_unit)
    return CalibratedStage(name, cal, decision, ops, p_unit, units, selection, scores)


def _softmax(s: np.ndarray) -> np.ndarray:
    e = np.exp(s - s.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def predict_units(base: Pipeline, cal: LogisticRegression, d: Design, units: np.ndarray, k: int) -> np.ndarray:
    s = d.samples_of(units)
    return d.unit_probs(calibrated(cal, raw_scores(base, d.X[s], k), k), s, units)


@dataclass
class TrainOutcome:
    base: Pipeline
    calibrator: LogisticRegression
    decision: Decision
    operating_points: dict
    chosen: str
    report: dict
    design: Design
    heldout_decision: Decision
    # (unit labels, calibrated probabilities, groups), for derived views such as SPRSound task 2-1:
    heldout: tuple[np.ndarray, np.ndarray, np.ndarray]  # held-out groups, model fitted on the development groups
    dev_oof: tuple[np.ndarray, np.ndarray, np.ndarray]  # out-of-fold, development groups
    all_oof: tuple[np.ndarray, np.ndarray, np.ndarray]  # out-of-fold, all groups (the shipped decision's data)


LOGO_MAX_GROUPS = 30  # with this few people every person gets a fold of their own


def nested_cv(d: Design, head: HeadSpec, name: str, folds: int, inner_folds: int, seed: int,
              log: Callable[[str], None] = print, audit: list | None = None) -> dict:
    """Every unit scored by a model whose calibration and decision rule were chosen on the other folds' people
    only (inner grouped CV inside each outer training part): the honest estimate of the shipped procedure,
    operating point included. The candidate is fixed beforehand (chosen on the development people). With at
    most LOGO_MAX_GROUPS people (18 infants) every person is an outer fold of their own, and the result carries
    per-person sensitivity, specificity and within-person AUC."""
    from sklearn.model_selection import LeaveOneGroupOut

    k = len(head.labels)
    units = np.arange(d.n_units)
    p_unit = np.zeros((d.n_units, k))
    pred = np.zeros(d.n_units, int)
    binary = head.positive is not None and k == 2
    op_pred: dict[str, np.ndarray] = {}
    thresholds: list[dict] = []
    n_g = len(np.unique(d.unit_groups))
    logo = n_g <= LOGO_MAX_GROUPS
    splits = list(LeaveOneGroupOut().split(units, groups=d.unit_groups)) if logo else \
        grouped_folds(d.unit_y, d.unit_groups, folds, seed + 7)
    for f, (tr, te) in enumerate(splits):
        scores = oof_scores(d, units[tr], name, k, inner_folds, seed + f)
        s_tr = d.samples_of(units[tr])
        cal = fit_calibrator(scores, d.y[s_tr])
        decision, ops = choose_decision(head, d.unit_y[tr], d.unit_probs(calibrated(cal, scores, k), s_tr, units[tr]))
        base = make_pipeline(name).fit(d.X[s_tr], d.y[s_tr])
        if audit is not None:  # who chose this fold's calibration and rule, and who it scores
            audit.append((frozenset(np.unique(d.unit_groups[tr]).tolist()),
                          frozenset(np.unique(d.unit_groups[te]).tolist())))
        p_unit[te] = predict_units(base, cal, d, units[te], k)
        pred[te] = decision.predict(p_unit[te])
        if binary:
            pos = head.labels.index(head.positive)
            for op_name, op in ops.items():
                op_pred.setdefault(op_name, np.zeros(d.n_units, int))[te] = np.where(
                    p_unit[te, pos] >= op["threshold"], pos, 1 - pos)
            thresholds.append({n: o["threshold"] for n, o in ops.items()})
        log(f"    nested fold {f + 1}/{len(splits)}: rule chosen on {len(np.unique(d.unit_groups[tr]))} people, "
            f"scored on {len(np.unique(d.unit_groups[te]))}")
    if logo:
        split = (f"nested leave-one-person-out over all {n_g} people: each person scored by a model, calibration "
                 f"and threshold chosen on the other {n_g - 1} only (inner grouped {inner_folds}-fold CV)")
    else:
        split = (f"nested grouped {len(splits)}-fold CV over all {n_g} people: each {head.unit} scored by a model, "
                 f"calibration and decision rule chosen on the other folds' people only (inner grouped "
                 f"{inner_folds}-fold CV)")
    res = evaluate(d.unit_y, p_unit, d.unit_groups, Decision(tuple(head.labels)), normal_label=head.negative_label,
                   split=split, pred=pred)
    if logo:
        res["per_group"] = per_group(d.unit_y, p_unit, d.unit_groups, Decision(tuple(head.labels)), pred=pred,
                                     positive=head.positive)
    if binary:
        res["operating_points"] = {}
        pos = head.labels.index(head.positive)
        for op_name, pr in op_pred.items():
            ev = evaluate(d.unit_y, p_unit, d.unit_groups, Decision(tuple(head.labels)), split=split, pred=pr)
            pc = ev["per_class"]
            res["operating_points"][op_name] = {
                "sensitivity": pc[head.positive]["recall"], "sensitivity_ci": pc[head.positive]["recall_ci"],
                "specificity": pc[head.labels[1 - pos]]["recall"],
                "specificity_ci": pc[head.labels[1 - pos]]["recall_ci"],
                "fold_thresholds": [t[op_name] for t in thresholds], "split": split}
    return res


def held_out_split(d: Design, units: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    n_splits = max(2, int(round(1.0 / test_fraction)))
    tr, te = grouped_folds(d.unit_y[units], d.unit_groups[units], n_splits, seed)[0]
    return units[tr], units[te]


def train_head(
    d: Design,
    head: HeadSpec,
    *,
    candidates: tuple[str, ...] = DEFAULT_CANDIDATES,
    folds: int = 4,
    test_fraction: float = 0.2,
    seed: int = 0,
    nested: bool = True,
    log: Callable[[str], None] = print,
) -> TrainOutcome:
    k = len(head.labels)
    normal = head.negative_label
    all_units = np.arange(d.n_units)
    dev, test = held_out_split(d, all_units, test_fraction, seed)
    log(f"  held-out split: {len(np.unique(d.unit_groups[test]))} of {len(np.unique(d.unit_groups))} groups "
        f"({len(test)} units) never used for selection or fitting")
    stage = select_and_calibrate(d, head, dev, candidates, folds, seed, log)
    log(f"  chosen: {stage.name}")
    s_dev = d.samples_of(dev)
    base_dev = make_pipeline(stage.name).fit(d.X[s_dev], d.y[s_dev])
    p_test = predict_units(base_dev, stage.calibrator, d, test, k)
    n_dev_g, n_test_g = len(np.unique(d.unit_groups[dev])), len(np.unique(d.unit_groups[test]))
    heldout = evaluate(
        d.unit_y[test], p_test, d.unit_groups[test], stage.decision, normal_label=normal,
        split=f"held-out groups: {n_test_g} people ({len(test)} {head.unit}s) never seen in selection, calibration "
              f"or fitting; model fitted on the other {n_dev_g}",
    )
    dev_cv = evaluate(
        d.unit_y[dev], stage.oof_unit_probs, d.unit_groups[dev], stage.decision, normal_label=normal,
        split=f"grouped {folds}-fold CV on the {n_dev_g} development groups (out-of-fold; these predictions also "
              f"fitted the calibration and threshold, so slightly optimistic)",
    )
    log(f"  held-out: balanced acc {heldout['metrics']['balanced_accuracy']:.3f}, macro AUC "
        f"{heldout['metrics']['roc_auc']:.3f}")

    # Shipped model: same candidate, calibration and decision re-derived from grouped CV over all groups.
    log("  final fit on all groups (calibration from grouped CV over all groups)")
    scores_all = oof_scores(d, all_units, stage.name, k, folds + 1, seed + 1)
    s_all = d.samples_of(all_units)
    cal_all = fit_calibrator(scores_all, d.y[s_all])
    p_all = d.unit_probs(calibrated(cal_all, scores_all, k), s_all, all_units)
    decision_all, ops_all = choose_decision(head, d.unit_y, p_all)
    all_cv = evaluate(
        d.unit_y, p_all, d.unit_groups, decision_all, normal_label=normal,
        split=f"grouped {folds + 1}-fold CV over all {len(np.unique(d.unit_groups))} groups (out-of-fold; the candidate "
              f"was chosen on the development groups; threshold fitted on these predictions)",
    )
    other_views = {}
    for view in sorted(set(d.view.tolist()) - {head.score_view}):
        p_view = d.rescored(view).unit_probs(calibrated(cal_all, scores_all, k), s_all, all_units)
        other_views[view] = evaluate(
            d.unit_y, p_view, d.unit_groups, decision_all, normal_label=normal,
            split=f"as all_groups_cv, but each {head.unit} scored on its '{view}' view ({VIEW_TEXT.get(view, view)})",
        )
        log(f"  '{view}' view, all-groups CV: balanced acc {other_views[view]['metrics']['balanced_accuracy']:.3f}"
            + (f", Score {other_views[view]['metrics']['Score']:.3f}" if "Score" in other_views[view]["metrics"] else ""))
    nested_res = nested_cv(d, head, stage.name, folds + 1, folds, seed, log) if nested else None
    if nested_res is not None:
        m = nested_res["metrics"]
        log(f"  nested {'leave-one-person-out' if 'per_group' in nested_res else 'grouped CV'}: macro AUC "
            f"{m['roc_auc']:.3f}, balanced acc {m['balanced_accuracy']:.3f}"
            + (f", Score {m['Score']:.3f}" if "Score" in m else "")
            + (f"; majority right for {nested_res['per_group']['majority_correct']} of "
               f"{nested_res['per_group']['n_groups']} people" if "per_group" in nested_res else ""))
        # what the app shows beside the shipped threshold: measured on people the rule was not chosen on
        for op_name, op in ops_all.items():
            v = nested_res.get("operating_points", {}).get(op_name)
            if isinstance(op, dict) and v:
                op.update({"sensitivity": v["sensitivity"], "specificity": v["specificity"],
                           "sensitivity_ci": v["sensitivity_ci"], "specificity_ci": v["specificity_ci"],
                           "validated_on": v["split"]})
    base = make_pipeline(stage.name).fit(d.X[s_all], d.y[s_all])
    report = {
        "protocol": __doc__.strip().split("\n", 1)[1].strip(),
        "selection": {"criterion": "unit-level macro ROC-AUC, grouped CV on development groups",
                      "candidates": stage.selection, "chosen": stage.name},
        "heldout": heldout,
        "dev_cv": dev_cv,
        "all_groups_cv": all_cv,
        **({"nested_cv": nested_res} if nested_res is not None else {}),
        "score_view": head.score_view if not head.pooled else None,
        "all_groups_cv_other_views": other_views,
        "operating_points_dev": stage.operating_points,
        "operating_points": ops_all,
        "decision_heldout_eval": stage.decision.to_dict(),
    }
    return TrainOutcome(base, cal_all, decision_all, ops_all, stage.name, report, d, stage.decision,
                        (d.unit_y[test], p_test, d.unit_groups[test]),
                        (d.unit_y[dev], stage.oof_unit_probs, d.unit_groups[dev]), (d.unit_y, p_all, d.unit_groups))
