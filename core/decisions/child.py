"""One child, several chest sites: the sites' recording answers combined into one answer for the child.

The shipped child-level answer is fitted and validated **per child**: the child's answering sites' probabilities
are pooled into one score (the highest, the mean, or the mean of the two highest site probabilities), and that
score is thresholded at the highest value reaching sensitivity `CHILD_TARGET_SENSITIVITY` on children the
scored ones are not (their examinations answered by recording models that never saw them either; see
`core.heads.recording.RespiratoryModel.fit`). The pooling is chosen on the same out-of-fold children by their
child-level AUC. The fixed "any site positive" and "at least two sites" rules are kept only as comparison rows: with
four sites at 0.6-0.7 specificity each, "any site" flagged most healthy children.

A site whose recording gives no answer (too short, too quiet, poor quality) does not vote, and a child with no
answering site gets no answer. SPRSound names its sites p1-p4; the paper's convention is p1 left posterior, p2 left
lateral, p3 right posterior, p4 right lateral.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence, TypeVar

import numpy as np

from core.audio.filenames import recording_stem
from core.data.datasets import SPR_NAME
from core.decisions.operating_points import CHILD_TARGET_SENSITIVITY, sensitivity_threshold

SITES = ("p1", "p2", "p3", "p4")
SITE_NAMES = {"p1": "left posterior", "p2": "left lateral", "p3": "right posterior", "p4": "right lateral"}
SITE_UNKNOWN = "unknown"
FITTED_RULE = "fitted"
#: the shipped child-level rule first, then the fixed rules it is compared with
RULES = {
    FITTED_RULE: "the child's pooled site probability at or above a threshold chosen per child on other children "
                 f"(sensitivity >= {CHILD_TARGET_SENSITIVITY:.2f} on their out-of-fold examinations)",
    "any_site": "positive when at least one answering site is positive",
    "two_sites": "positive when at least two answering sites are positive",
}
SHIPPED_RULE = FITTED_RULE
#: how a child's answering sites' probabilities become one score (chosen per fit on out-of-fold children)
CHILD_POOLINGS = {"max": "the highest site probability", "top2": "the mean of the two highest site probabilities",
                  "mean": "the mean site probability"}
_SITE = re.compile(r"(?:^|[^a-z0-9])(p[1-4])(?:[^a-z0-9]|$)", re.IGNORECASE)
T = TypeVar("T")


@dataclass(frozen=True)
class NameInfo:
    """What a recording's file name says about its child and chest site (SPRSound naming, or a bare `p1`..`p4`)."""

    site: str = SITE_UNKNOWN
    child: str = ""
    age: str = ""
    recording: int | None = None


def name_info(name: str) -> NameInfo:
    stem = recording_stem(name)
    m = SPR_NAME.match(stem)
    if m:
        return NameInfo(m["loc"], m["patient"], m["age"], int(m["rec"]))
    m = _SITE.search(stem)
    return NameInfo(site=m.group(1).lower() if m else SITE_UNKNOWN)


def earliest_per_site(items: Iterable[T], site: Callable[[T], str], order: Callable[[T], tuple]) -> list[T]:
    """The first item (by `order`) of each site: one examination's worth of recordings (at most one per site)."""
    first: dict[str, T] = {}
    for it in sorted(items, key=order):
        first.setdefault(site(it), it)
    return list(first.values())


#: which recordings make up one examination when child-level rules are fitted and scored on a dataset that marks no
#: visits (SPRSound): the recording period stands for the visit
SELECTIONS = {"examination": "earliest recording of each chest site (at most 4 per child and period)",
              "all": "every recording of the child in the period"}


def group_examinations(rows: Sequence[dict], selection: str = "examination") -> dict[tuple[str, str], list[dict]]:
    """Per-recording rows (`patient`, `visit`, `site`, `rec`, ...) -> (patient, visit) -> the examination's rows."""
    by: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        by.setdefault((r["patient"], r.get("visit", "")), []).append(r)
    if selection == "all":
        return by
    if selection != "examination":
        raise ValueError(f"unknown selection {selection!r}; choose from {sorted(SELECTIONS)}")
    return {k: earliest_per_site(v, lambda r: r["site"], lambda r: (r["rec"] if r["rec"] is not None else 0,
                                                                       r["uid"])) for k, v in by.items()}


def child_truth(rows: Sequence[dict], positives: Sequence[str]) -> bool | None:
    """Whether the child has the sounds per the annotations: True when any good recording is annotated with them,
    False when every good one is Normal, None otherwise (all Poor Quality, or e.g. only crackles for the continuous
    answer: neither a positive nor a Normal child)."""
    good = [r for r in rows if r["label"] != "Poor Quality"]
    if not good:
        return None
    if any(r["label"] in positives for r in good):
        return True
    return False if all(r["label"] == "Normal" for r in good) else None


def child_positive(site_answers: Sequence[bool | None], rule: str) -> bool | None:
    """A fixed comparison rule on the sites' decided answers (None: that site gave no answer)."""
    votes = [bool(a) for a in site_answers if a is not None]
    if not votes:
        return None
    need = {"any_site": 1, "two_sites": 2}.get(rule)
    if need is None:
        raise ValueError(f"{rule!r} is not a fixed site-vote rule; choose from any_site, two_sites")
    return sum(votes) >= need


def pool_sites(probs: Sequence[float | None], pooling: str) -> float | None:
    v = np.sort(np.array([p for p in probs if p is not None], float))
    if not len(v):
        return None
    if pooling == "max":
        return float(v[-1])
    if pooling == "mean":
        return float(v.mean())
    if pooling == "top2":
        return float(v[-2:].mean())
    raise ValueError(f"unknown site pooling {pooling!r}; choose from {sorted(CHILD_POOLINGS)}")


@dataclass(frozen=True)
class ChildRule:
    """The fitted child-level answer: pool the answering sites' probabilities, compare with a threshold."""

    pooling: str
    threshold: float
    target_sensitivity: float = CHILD_TARGET_SENSITIVITY

    def score(self, site_probs: Sequence[float | None]) -> float | None:
        return pool_sites(site_probs, self.pooling)

    def decide(self, site_probs: Sequence[float | None]) -> bool | None:
        s = self.score(site_probs)
        return None if s is None else bool(s >= self.threshold)

    def text(self) -> str:
        return f"{CHILD_POOLINGS[self.pooling]} over the answering sites >= {self.threshold:.3f}"

    def to_dict(self) -> dict:
        return {"pooling": self.pooling, "threshold": self.threshold, "target_sensitivity": self.target_sensitivity,
                "text": self.text()}

    @classmethod
    def from_dict(cls, d: dict) -> "ChildRule":
        if d.get("pooling") not in CHILD_POOLINGS:
            raise ValueError(f"unknown site pooling {d.get('pooling')!r}")
        return cls(str(d["pooling"]), float(d["threshold"]), float(d.get("target_sensitivity",
                                                                         CHILD_TARGET_SENSITIVITY)))


def fit_child_rule(exams: Sequence[Sequence[float | None]], truth: Sequence[bool],
                   target: float = CHILD_TARGET_SENSITIVITY) -> ChildRule:
    """Choose the pooling (child-level AUC on these examinations) and its threshold (the highest reaching `target`
    sensitivity on them). `exams`: the site probabilities of each examination (None: a site with no answer);
    `truth`: whether the child has the sounds. The caller hands out-of-fold examinations only."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(truth, bool)
    best: tuple[float, str, np.ndarray] | None = None
    for pooling in CHILD_POOLINGS:
        s = np.array([pool_sites(e, pooling) for e in exams], dtype=object)
        ok = np.array([v is not None for v in s])
        if ok.sum() < 4 or y[ok].all() or not y[ok].any():
            raise ValueError("a child-level rule needs positive and negative children with an answering site")
        auc = roc_auc_score(y[ok], s[ok].astype(float))
        if best is None or auc > best[0] + 1e-9:
            best = (auc, pooling, np.where(ok, s, np.nan).astype(float))
    _, pooling, s = best
    ok = ~np.isnan(s)
    return ChildRule(pooling, sensitivity_threshold(y[ok], s[ok], target), target)
