"""Record heads that also read what an event model sees in each window.

A record's label (CAS, DAS, ...) says which events it contains, and an event can be a fraction of one window, so
the mean and spread of the window embeddings blur it. A record head with `stack_from` therefore also gets, per
record, summaries (mean, max, upper quartile, second highest) of an event model's class probabilities over the
record's windows. For training, every record's window probabilities come from an event model fitted on the events
of *other* patients (patient-grouped out-of-fold), so the record head never learns from probabilities that saw the
record's own patient; the shipped window model is fitted on all training events and travels inside the record
head's artefact. As in any k-fold stacking, the fold models for some records saw the events of patients in other
folds; no record's own patient is ever among them.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from core.data.embed import EmbeddedSet
from core.tasks import HeadSpec

STACK_CANDIDATE = "hgb"
STATS = ("mean", "max", "p75", "second")


def window_probs(model, X: np.ndarray, k: int) -> np.ndarray:
    """Softmax of the window model's raw scores: features, so they need to be consistent, not calibrated."""
    from core.heads.training import _softmax, raw_scores

    return _softmax(raw_scores(model, X, k)) if len(X) else np.zeros((0, k))


def window_summary(probs: np.ndarray, unit_of: np.ndarray, usable: np.ndarray, n_units: int,
                   labels: tuple[str, ...], groups: dict[str, tuple[str, ...]]) -> np.ndarray:
    """Per unit: STATS of each class probability and of each group of classes, over its usable windows (all of
    them when none is usable, so a Poor Quality record still gets features), plus the usable fraction."""
    labels = list(labels)
    cols = [probs[:, j] for j in range(len(labels))]
    for members in groups.values():
        cols.append(probs[:, [labels.index(m) for m in members]].sum(axis=1))
    V = np.stack(cols, axis=1) if cols else np.zeros((len(probs), 0))
    out = np.zeros((n_units, V.shape[1] * len(STATS) + 1), np.float32)
    for u in range(n_units):
        mine = unit_of == u
        pick = mine & usable if (mine & usable).any() else mine
        v = V[pick]
        if not len(v):
            continue
        srt = np.sort(v, axis=0)
        second = srt[-2] if len(v) > 1 else srt[-1]
        out[u, :-1] = np.concatenate([v.mean(axis=0), srt[-1], np.percentile(v, 75, axis=0), second])
        out[u, -1] = float(usable[mine].mean())
    return out


def summary_names(spec: HeadSpec) -> list[str]:
    cols = list(spec.labels) + list(spec.stack_groups)
    return [f"{spec.name}:{c}:{s}" for s in STATS for c in cols] + ["usable_fraction"]


def oof_window_probs(
    records: EmbeddedSet, events: EmbeddedSet, event_head: HeadSpec, *, folds: int, seed: int,
    log: Callable[[str], None] = print,
) -> tuple[np.ndarray, object]:
    """Window probabilities for every record window, each from an event model that never saw the record's
    patient (training records) or from the model fitted on all training events (other splits); and that model."""
    from core.heads.training import build_design, grouped_folds, make_pipeline

    k = len(event_head.labels)
    ev_train = np.asarray([i for i, u in enumerate(events.units) if u.split == "train"])
    d, _ = build_design(events, event_head, ev_train)
    sample_group = d.unit_groups[d.sample_unit]
    W = np.zeros((len(records.X), k))
    rec_train = np.asarray([i for i, u in enumerate(records.units) if u.split == "train"])
    rec_groups = np.asarray([u.group for u in records.units])
    rec_labels = np.unique([u.label for u in records.units], return_inverse=True)[1]
    for n, (_, te) in enumerate(grouped_folds(rec_labels[rec_train], rec_groups[rec_train], folds, seed), 1):
        held = set(rec_groups[rec_train[te]].tolist())
        fit = ~np.isin(sample_group, list(held))
        model = make_pipeline(STACK_CANDIDATE).fit(d.X[fit], d.y[fit])
        rows = np.isin(records.unit_of, rec_train[te])
        W[rows] = window_probs(model, records.X[rows], k)
        log(f"    stacked {event_head.name} window model, fold {n}: {int(fit.sum())} event samples, "
            f"{len(held)} patients held out")
    model = make_pipeline(STACK_CANDIDATE).fit(d.X, d.y)
    rest = ~np.isin(records.unit_of, rec_train)
    if rest.any():
        W[rest] = window_probs(model, records.X[rest], k)
    return W, model
