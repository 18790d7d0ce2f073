"""Respiratory answers per recording, built from the window detector's evidence, with few fitted knobs.

The record label of SPRSound follows from the events a recording holds (CAS: a wheeze, rhonchus or stridor; DAS: a
crackle; both; none: Normal), so the recording-level answers are decided from the detector's window probabilities
pooled over the recording's usable windows:

- *evidence*: per class, the mean of the detector's probability over usable windows (chosen over the maximum and
  the top-2 mean by patient-grouped CV; see the model card's ablation table);
- *calibration*: per class, a logistic map of that pooled score (two numbers) fitted on out-of-fold recordings, so
  "P(continuous sounds present) = 0.7" means what it says on the training population;
- *decisions*: one threshold per screening answer on the calibrated probability, at the point where sensitivity
  equals specificity on out-of-fold recordings (`core.decisions.operating_points`: a quantile-defined point, where
  the balanced point's argmax jumped on a flat curve); the continuous-sound answer also needs the adventitious
  screen positive;
- *record label*: Poor Quality by the quality rule; Normal when the screen is negative; otherwise CAS when the
  continuous-sound answer is positive, DAS when it is not, and CAS & DAS when crackle evidence also reaches a typing
  threshold chosen on out-of-fold recordings for the SPRSound task 2-2 Score. The label, the screen and the
  continuous-sound answer are therefore one decision read three ways and never contradict;
- *child-level rules*: the examination's answer per child (`core.decisions.child`), its pooling and threshold
  chosen on out-of-fold examinations (one per patient and recording period: the earliest recording of each site);
- *Poor Quality*: a recording the gate and a quality model both doubt. The quality model (pooled embedding plus the
  gate's level and usable-window statistics) has its probabilities corrected to equal class priors, and its
  threshold is the one that calls at most `MAX_GOOD_CALLED_POOR` of the good training recordings poor, so its 9 %
  training prevalence cannot decide how often it fires on a new population (0.5-2 % in the later test sets).

`RespiratoryModel.fit` computes every out-of-fold quantity with patient-grouped folds inside the data it is given,
so nesting it (`nested_predictions`) scores every training recording with a model, calibration and thresholds that
never saw its patient.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from core.config import WINDOW_SECONDS
from core.data.embed import EmbeddedSet, pool_windows
from core.decisions.child import ChildRule, child_truth, fit_child_rule, group_examinations, name_info
from core.decisions.operating_points import RECORDING_RULE, f1_threshold, threshold_by_rule
from core.heads.detector import DETECTOR_MODEL, Audit, WindowDetector
from core.tasks import RESP_ANSWERS, RESP_PERIODS
from core.windows.labels import AMBIGUOUS, POSITIVE, Event, label_windows

POOR_QUALITY = "Poor Quality"
NORMAL = "Normal"
#: the share of good training recordings the Poor Quality rule may reject (a design choice, not fitted)
MAX_GOOD_CALLED_POOR = 0.02
POOLINGS = ("mean", "max", "top2")
DEFAULT_POOLING = "mean"


# ------------------------------------------------------------------------------------------------ data


@dataclass
class RecordingSet:
    """Whole recordings with their sliding windows, as the app sees them, and what the annotation says."""

    uids: np.ndarray  # [R]
    groups: np.ndarray  # [R] person (SPRSound patient)
    labels: np.ndarray  # [R] record label
    splits: np.ndarray  # [R]
    duration_s: np.ndarray  # [R]
    events: list[tuple[Event, ...]]  # [R] annotated events
    X: np.ndarray  # [N, d] window embeddings
    rec_of: np.ndarray  # [N] recording of each window
    usable: np.ndarray  # [N] passed the quality gate
    start_s: np.ndarray  # [N]
    rms_dbfs: np.ndarray  # [N]
    clip_ratio: np.ndarray  # [N]
    Y: np.ndarray  # [N, k] window labels (core.windows.labels)
    classes: tuple[str, ...]
    periods: np.ndarray | None = None  # [R] recording period ("earlier", "later"; core.tasks.RESP_PERIODS)

    def __post_init__(self) -> None:
        if self.periods is None:
            self.periods = np.array([RESP_PERIODS.get(str(v), str(v)) for v in self.splits], dtype=object)

    @classmethod
    def from_embedded(cls, emb: EmbeddedSet, classes: Mapping[str, frozenset[str]],
                      window_s: float = WINDOW_SECONDS, **label_kw) -> "RecordingSet":
        n_rec = len(emb.units)
        Y = np.zeros((len(emb.X), len(classes)), np.int8)
        for r, u in enumerate(emb.units):
            rows = np.flatnonzero(emb.unit_of == r)
            Y[rows] = label_windows(emb.start_s[rows], window_s, float(emb.duration_s[r]), u.events, classes,
                                    **label_kw)
        return cls(np.array([u.uid for u in emb.units]), np.array([u.group for u in emb.units]),
                   np.array([u.label for u in emb.units]), np.array([u.split for u in emb.units]),
                   np.asarray(emb.duration_s, float)[:n_rec], [u.events for u in emb.units], emb.X, emb.unit_of,
                   emb.usable, emb.start_s, emb.rms_dbfs, emb.clip_ratio, Y, tuple(classes))

    @property
    def n(self) -> int:
        return len(self.uids)

    def rows(self, recs: np.ndarray) -> np.ndarray:
        """Window rows of the given recordings."""
        mask = np.zeros(self.n, bool)
        mask[np.asarray(recs, int)] = True
        return np.flatnonzero(mask[self.rec_of])

    def present(self, presence: Mapping[str, frozenset[str] | None]) -> np.ndarray:
        """[R, k] True where the record label says the class is present (NaN-free; Poor Quality rows all False)."""
        return label_presence(self.labels, presence, self.classes)


def label_presence(labels: np.ndarray, presence: Mapping[str, frozenset[str] | None],
                   classes: tuple[str, ...]) -> np.ndarray:
    """[R, k] True where a record label says the class is present (labels without events, e.g. Poor Quality: none)."""
    return np.array([[c in (presence.get(lab) or frozenset()) for c in classes] for lab in labels], bool).reshape(
        len(labels), len(classes))


# ------------------------------------------------------------------------------------------------ evidence


def pool_scores(P: np.ndarray, rec_of: np.ndarray, usable: np.ndarray, recs: np.ndarray,
                how: str | Callable[[np.ndarray], np.ndarray] = DEFAULT_POOLING) -> np.ndarray:
    """[len(recs), k] pooled window probabilities over each recording's usable windows (all of them when none is
    usable: such a recording is decided by the quality rule, but still gets evidence). `how`: a pooling's name, or
    a function of a recording's windows [n, k] -> [k] (a measured alternative, scripts/period_length.py)."""
    out = np.zeros((len(recs), P.shape[1]))
    for i, r in enumerate(np.asarray(recs, int)):
        mine = rec_of == r
        pick = mine & usable if (mine & usable).any() else mine
        v = P[pick]
        if not len(v):
            out[i] = np.nan
        elif callable(how):
            out[i] = how(v)
        elif how == "mean":
            out[i] = v.mean(axis=0)
        elif how == "max":
            out[i] = v.max(axis=0)
        elif how == "top2":
            out[i] = np.sort(v, axis=0)[-2:].mean(axis=0)
        else:
            raise ValueError(f"unknown pooling {how!r}; choose from {POOLINGS}")
    return out


QUALITY_FEATURES = ("usable fraction", "median window level (dBFS)", "10th percentile level", "90th percentile level",
                    "largest clipped share", "log duration")


def quality_evidence(usable: np.ndarray, rms_dbfs: np.ndarray, clip_ratio: np.ndarray, duration_s: float
                     ) -> np.ndarray:
    """What the quality gate measured, summarised over one recording (QUALITY_FEATURES order)."""
    if not len(usable):
        return np.array([0.0, -120.0, -120.0, -120.0, 0.0, np.log(max(duration_s, 1e-3))])
    p10, p50, p90 = np.percentile(rms_dbfs, [10, 50, 90])
    return np.array([float(np.mean(usable)), p50, p10, p90, float(np.max(clip_ratio)), np.log(max(duration_s, 1e-3))])


def recording_inputs(rs: RecordingSet, recs: np.ndarray) -> np.ndarray:
    """Inputs of the Poor Quality model: the pooled [mean, std] embedding and the quality evidence."""
    recs = np.asarray(recs, int)
    rows = rs.rows(recs)
    remap = {r: i for i, r in enumerate(recs.tolist())}
    pooled = pool_windows(rs.X[rows], np.array([remap[r] for r in rs.rec_of[rows]], int), len(recs))
    q = np.stack([quality_evidence(rs.usable[rs.rec_of == r], rs.rms_dbfs[rs.rec_of == r],
                                   rs.clip_ratio[rs.rec_of == r], rs.duration_s[r]) for r in recs])
    return np.concatenate([pooled, q], axis=1)


# ------------------------------------------------------------------------------------------------ decisions


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


@dataclass
class QualityModel:
    """Poor Quality vs the rest. Its probabilities are re-weighted to equal class priors (the training share of
    Poor Quality divided out), so a 9 % training prevalence does not set how often it fires on a new population.
    Prior correction instead of class weights: sklearn's weighted binning would make the fit ~15x slower."""

    model: Pipeline
    prior: float  # share of Poor Quality among the training recordings

    def p_poor(self, inputs: np.ndarray) -> np.ndarray:
        p = np.clip(self.model.predict_proba(inputs)[:, 1], 1e-6, 1 - 1e-6)
        a, b = p / self.prior, (1 - p) / (1 - self.prior)
        return a / (a + b)


def fit_quality_model(inputs: np.ndarray, poor: np.ndarray) -> QualityModel | None:
    """None when the data has no Poor Quality recordings (or nothing else)."""
    if not poor.any() or poor.all():
        return None
    model = Pipeline([("scale", StandardScaler()), ("clf", HistGradientBoostingClassifier(
        max_iter=150, learning_rate=0.08, max_leaf_nodes=15, l2_regularization=1.0, random_state=0))]).fit(inputs, poor)
    return QualityModel(model, float(np.mean(poor)))


@dataclass
class RecordingDecider:
    """Pooled evidence -> calibrated presence probabilities -> answers. Fitted on out-of-fold recordings only."""

    classes: tuple[str, ...]
    pooling: str = DEFAULT_POOLING
    calibrators: dict[str, LogisticRegression] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    quality_model: QualityModel | None = None
    quality_threshold: float = 1.0
    window_thresholds: dict[str, float] = field(default_factory=dict)  # where the timeline cuts segments
    #: crackle evidence at or above this adds DAS to a recording with continuous sounds (CAS -> CAS & DAS)
    das_type_threshold: float = 1.0
    rule: str = RECORDING_RULE
    child_rules: dict[str, ChildRule] = field(default_factory=dict)  # answer key -> the examination's rule

    def fit(self, scores: np.ndarray, labels: np.ndarray, presence: Mapping[str, frozenset[str] | None]
            ) -> "RecordingDecider":
        """`scores` [R, k] pooled out-of-fold evidence; `labels` [R] record labels (Poor Quality left out of the
        calibration: it carries no event annotation). Every class is calibrated against all other good recordings;
        a screening answer's threshold is chosen against the recordings it is validated against (Normal)."""
        good = labels != POOR_QUALITY
        present = label_presence(labels, presence, self.classes)
        for j, c in enumerate(self.classes):
            self.calibrators[c] = LogisticRegression(C=1.0, max_iter=1000).fit(_logit(scores[good, j])[:, None],
                                                                               present[good, j])
        probs = self.calibrate(scores)
        for j, c in enumerate(self.classes):
            answer = next((a for a in RESP_ANSWERS.values() if a["class"] == c), None)
            keep = np.isin(labels, answer["positives"] + answer["negatives"]) if answer is not None else good
            self.thresholds[c] = threshold_by_rule(self.rule, present[keep, j], probs[keep, j])
        return self

    def fit_typing(self, probs: np.ndarray, poor: np.ndarray, labels: np.ndarray) -> None:
        """The CAS -> CAS & DAS typing threshold: the value (over percentiles of the out-of-fold crackle
        probability) with the best SPRSound task 2-2 Score on these out-of-fold recordings."""
        from core.evaluation.metrics import sprsound_scores
        from core.tasks import RESP_RECORD_LABELS

        y = np.array([RESP_RECORD_LABELS.index(v) for v in labels])
        j = self.classes.index("DAS")
        best = (-1.0, 1.0)
        for t in np.unique(np.quantile(probs[:, j], np.linspace(0.0, 1.0, 101))):
            self.das_type_threshold = float(t)
            pred = np.array([RESP_RECORD_LABELS.index(v) for v in self.record_labels(probs, poor)])
            s = sprsound_scores(y, pred, RESP_RECORD_LABELS.index(NORMAL))["Score"]
            if s > best[0] + 1e-9:
                best = (s, float(t))
        self.das_type_threshold = best[1]

    def present(self, probs: np.ndarray) -> np.ndarray:
        """[R, k] decided: Adventitious = the screen; CAS = the continuous-sound answer (needs the screen); DAS =
        the screen positive without continuous sounds, or with crackle evidence at the typing threshold."""
        c = self.classes
        adv = probs[:, c.index("Adventitious")] >= self.thresholds["Adventitious"]
        cas = adv & (probs[:, c.index("CAS")] >= self.thresholds["CAS"])
        das = adv & (~cas | (probs[:, c.index("DAS")] >= self.das_type_threshold))
        out = np.zeros(probs.shape, bool)
        out[:, c.index("Adventitious")], out[:, c.index("CAS")], out[:, c.index("DAS")] = adv, cas, das
        return out

    def record_labels(self, probs: np.ndarray, poor: np.ndarray) -> np.ndarray:
        return record_labels(self.present(probs), poor, self.classes)

    def predictions(self, recs, rows, window_probs, scores, p_poor) -> "RecordingPredictions":
        """Every decision for recordings whose pooled evidence (`scores`) and quality probability are known."""
        probs = self.calibrate(scores)
        present = self.present(probs)
        poor = p_poor >= self.quality_threshold
        return RecordingPredictions(recs, rows, window_probs, scores, probs, p_poor, present, poor,
                                    record_labels(present, poor, self.classes))

    def set_quality_threshold(self, p_poor_oof: np.ndarray, poor: np.ndarray) -> None:
        """The lowest threshold that calls at most MAX_GOOD_CALLED_POOR of the good recordings poor."""
        good = np.sort(p_poor_oof[~poor])
        if not len(good):
            self.quality_threshold = 0.5
            return
        k = int(np.floor(MAX_GOOD_CALLED_POOR * len(good)))
        self.quality_threshold = float(max(0.5, good[len(good) - 1 - k] + 1e-6)) if k < len(good) else 0.5

    def calibrate(self, scores: np.ndarray) -> np.ndarray:
        return np.stack([self.calibrators[c].predict_proba(_logit(scores[:, j])[:, None])[:, 1]
                         for j, c in enumerate(self.classes)], axis=1)

    def p_poor(self, inputs: np.ndarray) -> np.ndarray:
        if self.quality_model is None:
            return np.zeros(len(inputs))
        return self.quality_model.p_poor(inputs)


# ------------------------------------------------------------------------------------------------ the model


@dataclass
class RecordingPredictions:
    recs: np.ndarray  # [R'] recording indices into the RecordingSet
    window_rows: np.ndarray  # [N'] window rows
    window_probs: np.ndarray  # [N', k]
    scores: np.ndarray  # [R', k] pooled evidence
    probs: np.ndarray  # [R', k] calibrated presence probabilities
    p_poor: np.ndarray  # [R']
    present: np.ndarray  # [R', k] bool: decided present
    poor: np.ndarray  # [R'] bool: decided Poor Quality
    record_label: np.ndarray  # [R'] the decided SPRSound record label (record_labels)


@dataclass
class RespiratoryModel:
    """Window detector + recording decider, fitted with patient-grouped out-of-fold evidence (sklearn-like)."""

    classes: tuple[str, ...]
    presence: Mapping[str, frozenset[str] | None]
    folds: int = 4
    seed: int = 0
    pooling: str = DEFAULT_POOLING
    detector_model: str = DETECTOR_MODEL
    detector: WindowDetector | None = None
    decider: RecordingDecider | None = None
    oof_: RecordingPredictions | None = None  # the out-of-fold evidence the decider was fitted on

    def fit(self, rs: RecordingSet, recs: np.ndarray, *, audit: Audit | None = None,
            log: Callable[[str], None] = lambda s: None) -> "RespiratoryModel":
        from core.heads.training import grouped_folds

        recs = np.asarray(recs, int)
        k = len(self.classes)
        poor = rs.labels[recs] == POOR_QUALITY
        P = np.full((len(rs.X), k), np.nan)
        p_poor_oof = np.zeros(len(recs))
        inputs = recording_inputs(rs, recs)
        for n, (tr, te) in enumerate(grouped_folds(rs.labels[recs], rs.groups[recs], self.folds, self.seed), 1):
            rows_tr, rows_te = rs.rows(recs[tr]), rs.rows(recs[te])
            det = WindowDetector(self.classes, self.detector_model).fit(
                rs.X[rows_tr], rs.Y[rows_tr], rs.usable[rows_tr], groups=rs.groups[rs.rec_of[rows_tr]],
                audit=audit, stage="inner detector")
            P[rows_te] = det.predict_proba(rs.X[rows_te])
            qm = fit_quality_model(inputs[tr], poor[tr])
            if qm is not None:
                if audit is not None:
                    audit.append(("inner quality model", frozenset(np.unique(rs.groups[recs[tr]]).tolist())))
                p_poor_oof[te] = qm.p_poor(inputs[te])
            log(f"    inner fold {n}: detector fitted on {len(np.unique(rs.groups[recs[tr]]))} patients")
        scores = pool_scores(P, rs.rec_of, rs.usable, recs, self.pooling)
        self.decider = RecordingDecider(self.classes, self.pooling).fit(scores, rs.labels[recs], self.presence)
        if audit is not None:  # the people whose out-of-fold evidence chose the calibration and every threshold
            audit.append(("thresholds", frozenset(np.unique(rs.groups[recs]).tolist())))
        rows = rs.rows(recs[~poor])
        for j, c in enumerate(self.classes):
            ok = rows[rs.usable[rows] & (rs.Y[rows, j] != AMBIGUOUS)]
            self.decider.window_thresholds[c] = f1_threshold(rs.Y[ok, j] == POSITIVE, P[ok, j])
        self.decider.quality_model = fit_quality_model(inputs, poor)
        if audit is not None and self.decider.quality_model is not None:
            audit.append(("quality model", frozenset(np.unique(rs.groups[recs]).tolist())))
        self.decider.set_quality_threshold(p_poor_oof, poor)
        rows = rs.rows(recs)
        self.detector = WindowDetector(self.classes, self.detector_model).fit(
            rs.X[rows], rs.Y[rows], rs.usable[rows], groups=rs.groups[rs.rec_of[rows]], audit=audit,
            stage="detector")
        self.decider.fit_typing(self.decider.calibrate(scores), p_poor_oof >= self.decider.quality_threshold,
                                rs.labels[recs])
        self.oof_ = self.decider.predictions(recs, rows, P[rows], scores, p_poor_oof)
        self.decider.child_rules = fit_child_rules(recording_rows(rs, self.oof_))
        if audit is not None:  # the children whose out-of-fold examinations chose the child-level rules
            audit.append(("child rules", frozenset(np.unique(rs.groups[recs]).tolist())))
        return self

    def predict(self, rs: RecordingSet, recs: np.ndarray) -> RecordingPredictions:
        recs = np.asarray(recs, int)
        rows = rs.rows(recs)
        P = np.full((len(rs.X), len(self.classes)), np.nan)
        P[rows] = self.detector.predict_proba(rs.X[rows])
        scores = pool_scores(P, rs.rec_of, rs.usable, recs, self.pooling)
        return self.decider.predictions(recs, rows, P[rows], scores, self.decider.p_poor(recording_inputs(rs, recs)))


def nested_predictions(model_factory: Callable[[], RespiratoryModel], rs: RecordingSet, recs: np.ndarray,
                       outer_folds: int, seed: int, *, audit: Audit | None = None,
                       log: Callable[[str], None] = lambda s: None
                       ) -> tuple[RecordingPredictions, np.ndarray, list[RespiratoryModel]]:
    """Every recording of `recs` predicted by a model (detector, calibration, thresholds, quality rule) fitted on
    the other folds' patients only. Returns the concatenated predictions, the outer fold of each recording, and
    the fold models."""
    from core.heads.training import grouped_folds

    recs = np.asarray(recs, int)
    parts, fold_of, models = [], np.zeros(len(recs), int), []
    for f, (tr, te) in enumerate(grouped_folds(rs.labels[recs], rs.groups[recs], outer_folds, seed)):
        log(f"  outer fold {f + 1}/{outer_folds}: {len(np.unique(rs.groups[recs[te]]))} patients held out")
        m = model_factory().fit(rs, recs[tr], audit=audit, log=log)
        if audit is not None:
            audit.append((f"outer fold {f + 1} held out", frozenset(np.unique(rs.groups[recs[te]]).tolist())))
        parts.append(m.predict(rs, recs[te]))
        fold_of[te] = f
        models.append(m)
    order = np.concatenate([p.recs for p in parts])
    pos = {r: i for i, r in enumerate(order.tolist())}
    idx = np.array([pos[r] for r in recs.tolist()])
    cat = lambda name: np.concatenate([getattr(p, name) for p in parts])  # noqa: E731
    rows = cat("window_rows")
    return (RecordingPredictions(recs, rows, cat("window_probs"), cat("scores")[idx], cat("probs")[idx],
                                 cat("p_poor")[idx], cat("present")[idx], cat("poor")[idx],
                                 cat("record_label")[idx]), fold_of, models)


# ------------------------------------------------------------------------------------------------ answers


def record_labels(present: np.ndarray, poor: np.ndarray, classes: tuple[str, ...]) -> np.ndarray:
    """The SPRSound record label read off the decisions (`RecordingDecider.present`), consistent with the screen and
    the continuous-sound answer by construction: Poor Quality first; Normal when no adventitious sounds were found;
    otherwise which kinds are present."""
    adv = present[:, classes.index("Adventitious")]
    cas = adv & present[:, classes.index("CAS")]
    das = adv & (present[:, classes.index("DAS")] | ~cas)  # adventitious without continuous sounds: crackles
    out = np.where(cas & das, "CAS & DAS", np.where(cas, "CAS", np.where(das, "DAS", NORMAL))).astype(object)
    out[~adv] = NORMAL
    out[np.asarray(poor, bool)] = POOR_QUALITY
    return out


def screen_answers(present: np.ndarray, classes: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The two screening answers (`core.tasks.RESP_ANSWERS`) from the decisions: adventitious sounds present, and
    continuous adventitious sounds present (conditional on the screen in `RecordingDecider.present` already)."""
    adv = present[:, classes.index("Adventitious")]
    return {key: adv & present[:, classes.index(a["class"])] for key, a in RESP_ANSWERS.items()}


def recording_rows(rs: "RecordingSet", pred: "RecordingPredictions") -> list[dict]:
    """Each recording's decided answers and probabilities, with its patient, period (the visit) and chest site:
    what child-level rules are fitted and scored on (small enough to keep in metrics.json)."""
    c = rs.classes
    decided = screen_answers(pred.present, c)
    rows = []
    for i, r in enumerate(pred.recs.tolist()):
        info = name_info(str(rs.uids[r]))
        rows.append({"uid": str(rs.uids[r]), "patient": str(rs.groups[r]), "visit": str(rs.periods[r]),
                     "site": info.site, "rec": info.recording, "label": str(rs.labels[r]), "poor": bool(pred.poor[i]),
                     **{f"p_{k}": round(float(pred.probs[i, c.index(a["class"])]), 5)
                        for k, a in RESP_ANSWERS.items()},
                     **{k: bool(v[i]) for k, v in decided.items()}})
    return rows


def fit_child_rules(rows: list[dict]) -> dict[str, ChildRule]:
    """Per answer, the child-level rule fitted on out-of-fold examinations (`core.decisions.child`): one per
    patient and period, the earliest recording of each site; a site the model called Poor Quality does not vote."""
    exams = group_examinations(rows, "examination")
    out = {}
    for key, a in RESP_ANSWERS.items():
        truth = {e: child_truth(r, a["positives"]) for e, r in exams.items()}
        keep = [e for e, t in truth.items() if t is not None]
        try:
            out[key] = fit_child_rule([[None if r["poor"] else r[f"p_{key}"] for r in exams[e]] for e in keep],
                                      [truth[e] for e in keep])
        except ValueError:
            pass  # no healthy (or no affected) child to choose on: the examination falls back to "any site"
    return out


def label_probabilities(probs: np.ndarray, p_poor: np.ndarray, classes: tuple[str, ...]) -> np.ndarray:
    """[R, 5] record-label probabilities from the calibrated presence probabilities, treating continuous and
    discontinuous sounds as independent given good quality (RESP_RECORD_LABELS order). Their argmax is the "plain
    argmax" the thresholded rule is compared against."""
    c, d = probs[:, classes.index("CAS")], probs[:, classes.index("DAS")]
    q = np.asarray(p_poor, float)
    return np.stack([(1 - q) * (1 - c) * (1 - d), (1 - q) * c * (1 - d), (1 - q) * (1 - c) * d, (1 - q) * c * d, q],
                    axis=1)


@dataclass(frozen=True, eq=False)
class RecordingAnalysis:
    """What the respiratory model says about one recording."""

    window_probs: np.ndarray  # [n_windows, k]
    scores: np.ndarray  # [k] pooled evidence
    probs: np.ndarray  # [k] calibrated presence probabilities
    present: np.ndarray  # [k] bool
    p_poor: float
    poor: bool
    label: str  # SPRSound record label
    label_probs: np.ndarray  # [5]


@dataclass
class RecordingModelArtifact:
    """A verified `recording_model` artefact, ready to analyse recordings (see `core.heads.artifacts`)."""

    path: object
    meta: dict
    model: RespiratoryModel
    projection: object | None = None
    kind: str = "recording_model"

    @classmethod
    def from_objects(cls, path, meta: dict, obj, projection) -> "RecordingModelArtifact":
        from core.heads.artifacts import ArtifactError

        classes = tuple(meta["classes"])
        ok = (isinstance(obj, dict) and isinstance(obj.get("detector"), dict)
              and set(obj["detector"]) == set(classes) and all(isinstance(v, Pipeline) for v in obj["detector"].values())
              and isinstance(obj.get("calibrators"), dict) and set(obj["calibrators"]) == set(classes)
              and all(isinstance(v, LogisticRegression) for v in obj["calibrators"].values())
              and (obj.get("quality_model") is None or isinstance(obj["quality_model"], Pipeline)))
        quality = (QualityModel(obj["quality_model"], float(meta["quality_prior"]))
                   if obj.get("quality_model") is not None else None)
        if not ok:
            raise ArtifactError(f"{path}: the model file does not hold a window detector per class, a calibrator per "
                                f"class and a quality model as meta.json describes.")
        presence = {k: (frozenset(v) if v is not None else None) for k, v in meta["presence"].items()}
        model = RespiratoryModel(classes, presence, pooling=meta["pooling"])
        model.detector = WindowDetector(classes, meta.get("detector_model", DETECTOR_MODEL), dict(obj["detector"]))
        rules = (meta.get("examination") or {}).get("rules") or {}
        model.decider = RecordingDecider(classes, meta["pooling"], dict(obj["calibrators"]),
                                         {c: float(v) for c, v in meta["thresholds"].items()},
                                         quality, float(meta["quality_threshold"]),
                                         {c: float(v) for c, v in meta["window_thresholds"].items()},
                                         float(meta.get("das_type_threshold", 1.0)),
                                         meta.get("operating_point_rule", RECORDING_RULE),
                                         {k: ChildRule.from_dict(d) for k, d in rules.items()})
        return cls(path, meta, model, projection)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.meta["labels"])

    @property
    def classes(self) -> tuple[str, ...]:
        return self.model.classes

    @property
    def track_labels(self) -> tuple[str, ...]:
        """The window detector's classes, in words (the live monitor's and the page's track)."""
        names = self.meta.get("class_names", {})
        return tuple(names.get(c, c) for c in self.classes)

    @property
    def pooled(self) -> bool:
        return False

    def window_probabilities(self, X: np.ndarray) -> np.ndarray:
        """[n, k] the detector's per-class probabilities (one-vs-rest: they need not sum to one)."""
        return self.model.detector.predict_proba(X)

    def metrics(self) -> dict:
        import json
        from pathlib import Path

        return json.loads((Path(self.path) / "metrics.json").read_text())

    def analyse(self, X: np.ndarray, usable: np.ndarray, rms_dbfs: np.ndarray, clip_ratio: np.ndarray,
                duration_s: float) -> RecordingAnalysis:
        m = self.model
        P = m.detector.predict_proba(X)
        scores = pool_scores(P, np.zeros(len(X), int), np.asarray(usable, bool), np.array([0]), m.pooling)
        probs = m.decider.calibrate(scores)
        q = quality_evidence(np.asarray(usable, bool), np.asarray(rms_dbfs, float), np.asarray(clip_ratio, float),
                             duration_s)
        inputs = np.concatenate([pool_windows(X, np.zeros(len(X), int), 1), q[None, :]], axis=1)
        p_poor = m.decider.p_poor(inputs)
        present = m.decider.present(probs)
        poor = p_poor >= m.decider.quality_threshold
        label = record_labels(present, poor, m.classes)[0]
        return RecordingAnalysis(P, scores[0], probs[0], present[0], float(p_poor[0]), bool(poor[0]), str(label),
                                 label_probabilities(probs, p_poor, m.classes)[0])

    def scaled_recording(self, X: np.ndarray) -> np.ndarray:
        """The point this recording takes in the projection's space (mean of its scaled window embeddings)."""
        scaler = self.model.detector.models[self.classes[0]][0]
        return scaler.transform(X).mean(axis=0, keepdims=True)
