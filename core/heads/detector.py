"""The window detector: for every 2-s window the app analyses, the probability that it holds each kind of event.

Trained on exactly what the app sees: every sliding window (the app's length and hop) of every training recording,
labelled from the annotated events (`core.windows.labels`). One binary classifier per class (one-vs-rest), because a
window can hold a wheeze and a crackle at once; windows that fail the quality gate, and windows that are ambiguous
for a class (they hold a sliver of an event), do not train that class. Recordings labelled Poor Quality carry no
event annotation at all, so their windows are not negatives either.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from core.windows.labels import NEGATIVE, POSITIVE

#: Chosen by patient-grouped CV against logistic regression (see the respiratory model card's ablation table).
DETECTOR_MODEL = "hgb"


def _classifier(name: str = DETECTOR_MODEL):
    if name == "hgb":
        return HistGradientBoostingClassifier(max_iter=200, learning_rate=0.08, max_leaf_nodes=15,
                                              l2_regularization=1.0, random_state=0)
    if name == "logreg":
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=0.05, max_iter=3000)
    raise ValueError(f"unknown detector model {name!r}")


#: (what was fitted, the people it saw) for every fit: a no-leak test reads this, the protocol never needs it
Audit = list[tuple[str, frozenset]]


@dataclass
class WindowDetector:
    """One-vs-rest window classifiers; `predict_proba` gives [n_windows, n_classes] in `classes` order."""

    classes: tuple[str, ...]
    model: str = DETECTOR_MODEL
    models: dict[str, Pipeline] = field(default_factory=dict)

    def fit(self, X: np.ndarray, Y: np.ndarray, usable: np.ndarray, *, groups: np.ndarray | None = None,
            audit: Audit | None = None, stage: str = "detector") -> "WindowDetector":
        """`Y` [n, k] in {POSITIVE, NEGATIVE, AMBIGUOUS}; `groups` [n] (the person of each window) only feeds `audit`."""
        if audit is not None and groups is not None:
            audit.append((stage, frozenset(np.unique(groups[usable]).tolist())))
        for j, name in enumerate(self.classes):
            rows = usable & ((Y[:, j] == POSITIVE) | (Y[:, j] == NEGATIVE))
            y = Y[rows, j] == POSITIVE
            if y.all() or not y.any():
                raise ValueError(f"the detector class {name!r} needs positive and negative windows to train "
                                 f"({int(y.sum())} positive of {len(y)})")
            self.models[name] = Pipeline([("scale", StandardScaler()), ("clf", _classifier(self.model))]).fit(
                X[rows], y)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        if len(X) == 0:
            return np.zeros((0, len(self.classes)))
        return np.stack([self.models[c].predict_proba(X)[:, 1] for c in self.classes], axis=1)


def fit_detector(classes: tuple[str, ...], X: np.ndarray, Y: np.ndarray, usable: np.ndarray,
                 groups: np.ndarray | None = None, audit: Audit | None = None, stage: str = "detector",
                 model: str = DETECTOR_MODEL) -> WindowDetector:
    return WindowDetector(classes, model).fit(X, Y, usable, groups=groups, audit=audit, stage=stage)


def out_of_fold(
    fit: Callable[[np.ndarray], WindowDetector], predict_rows: Callable[[WindowDetector, np.ndarray], np.ndarray],
    splits: list[tuple[np.ndarray, np.ndarray]], n: int, k: int,
) -> np.ndarray:
    """[n, k] predictions where each held-out part comes from a detector fitted without it. `fit(train_units)`
    returns a detector; `predict_rows(detector, test_units)` returns (rows, probabilities) for the test units."""
    out = np.full((n, k), np.nan)
    for train_u, test_u in splits:
        det = fit(train_u)
        rows, p = predict_rows(det, test_u)
        out[rows] = p
    return out
