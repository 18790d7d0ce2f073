"""The reference map: P(pain) of a new cry from its score and the mean score of the infant's reference cries.

Cries say more about who is crying than why (the shipped pain head ranks pain within an infant almost perfectly,
but each infant's cries sit at their own level). Given k cries of the same infant recorded without pain, the answer
is a logistic map of two numbers: the new cry's score u (the pain head's mean window logit, uncalibrated) and the
references' mean score r, with one map per k (k = 1, 2, 3; more references are averaged and use the 3-reference
map). The map's weights, and its threshold, were fitted on other infants' out-of-fold scores with references drawn
from their own discomfort cries (`core.references.train`), so the reference's weight is learned, not assumed: with
one noisy reference it trusts r less than with three. This form was specified before it was scored; the fixed
offset (u - r) and centring the embeddings on the references are the ablation rows it was compared with.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.heads.artifacts import ArtifactError, HeadArtifact
from core.heads.training import raw_scores

REFERENCE_FILE = "references.json"
FORMAT = 1
MAX_REFERENCES = 10  # more is no better (the map is validated up to 3) and costs an analysis each


def window_scores(art: HeadArtifact, emb: np.ndarray) -> np.ndarray:
    """Each window's uncalibrated score for the head's positive label (log-odds of positive vs negative)."""
    if len(emb) == 0:
        return np.zeros(0)
    pos = art.labels.index(art.decision.positive)
    s = raw_scores(art.base, emb, len(art.labels))
    return s[:, pos] - s[:, 1 - pos]


def unit_score(art: HeadArtifact, emb: np.ndarray, usable: np.ndarray) -> float | None:
    """A recording's score: the mean of its usable windows' scores (None without a usable window)."""
    if not usable.any():
        return None
    return float(window_scores(art, emb[usable]).mean())


@dataclass(frozen=True)
class ReferenceMap:
    """One logistic map per number of references, with its threshold and the figures validated with it."""

    head: str
    positive: str
    negative: str
    coef: dict[int, tuple[float, float, float]]  # k -> (weight of u, weight of r, intercept)
    thresholds: dict[int, float]  # k -> threshold on P(positive), chosen with the head's operating-point rule
    figures: dict[int, dict]  # k -> nested validation figures (sensitivity, specificity, CIs, AUC, split)
    head_model_sha256: str  # the head whose scores the map reads: another head's scores would be misread
    operating_point: str = "high_sensitivity"
    extra: dict = field(default_factory=dict)  # the without-references row, ablation, identity measurement

    def k_map(self, k: int) -> int:
        """The map used for k references (the largest fitted one beyond it)."""
        if k < 1:
            raise ValueError("at least one reference is needed")
        return min(k, max(self.coef))

    def probability(self, u: np.ndarray | float, r: float, k: int) -> np.ndarray:
        a_u, a_r, b = self.coef[self.k_map(k)]
        z = a_u * np.asarray(u, float) + a_r * r + b
        return 1.0 / (1.0 + np.exp(-z))

    def threshold(self, k: int) -> float:
        return self.thresholds[self.k_map(k)]

    def validated(self, k: int) -> dict:
        """The operating point's figures for k references, in the shape of a head's operating point."""
        return self.figures[self.k_map(k)]

    def to_dict(self) -> dict:
        return {"format": FORMAT, "head": self.head, "positive": self.positive, "negative": self.negative,
                "coef": {str(k): list(v) for k, v in self.coef.items()},
                "thresholds": {str(k): v for k, v in self.thresholds.items()},
                "figures": {str(k): v for k, v in self.figures.items()},
                "head_model_sha256": self.head_model_sha256, "operating_point": self.operating_point, **self.extra}

    @classmethod
    def from_dict(cls, d: dict) -> "ReferenceMap":
        if d.get("format") != FORMAT:
            raise ArtifactError(f"reference map format {d.get('format')!r} is not {FORMAT}")
        known = {"format", "head", "positive", "negative", "coef", "thresholds", "figures", "head_model_sha256",
                 "operating_point"}
        return cls(d["head"], d["positive"], d["negative"],
                   {int(k): tuple(float(x) for x in v) for k, v in d["coef"].items()},
                   {int(k): float(v) for k, v in d["thresholds"].items()},
                   {int(k): v for k, v in d["figures"].items()}, d["head_model_sha256"],
                   d.get("operating_point", "high_sensitivity"), {k: v for k, v in d.items() if k not in known})

    @classmethod
    def load(cls, head_dir: Path, art: HeadArtifact) -> "ReferenceMap":
        """The map beside its head; refused when it was fitted on another version of the head."""
        path = head_dir / REFERENCE_FILE
        try:
            m = cls.from_dict(json.loads(path.read_text()))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ArtifactError(f"{path} is unreadable ({exc})") from exc
        have = (art.meta.get("sha256") or {}).get("model.skops", "")
        if m.head_model_sha256 != have:
            raise ArtifactError(f"{path} was fitted on another version of the '{m.head}' head (model sha256 "
                                f"{m.head_model_sha256[:12]}, installed {have[:12]}); run `python -m core "
                                "train-references` again")
        return m


@dataclass(frozen=True)
class ReferenceCry:
    """One reference the user gave: used, or not and why (never the audio itself)."""

    name: str
    sha256: str
    used: bool
    reason: str = ""  # why it is not used
    score: float | None = None
    usable_windows: int = 0

    def to_dict(self) -> dict:
        return {"name": self.name, "sha256": self.sha256, "used": self.used, "reason": self.reason,
                "usable_windows": self.usable_windows}


@dataclass(frozen=True)
class ReferenceSet:
    """The references given for one cry, after their checks."""

    cries: tuple[ReferenceCry, ...]

    @property
    def used(self) -> tuple[ReferenceCry, ...]:
        return tuple(c for c in self.cries if c.used)

    @property
    def k(self) -> int:
        return len(self.used)

    @property
    def score(self) -> float | None:
        return float(np.mean([c.score for c in self.used])) if self.used else None

    @property
    def rejected(self) -> tuple[ReferenceCry, ...]:
        return tuple(c for c in self.cries if not c.used)

    def against(self, cry_sha256: str) -> "ReferenceSet":
        """The set for one cry: a reference that is that cry's own file is not used (a batch checks its references
        once, then each file against them)."""
        from dataclasses import replace

        return ReferenceSet(tuple(replace(c, used=False, reason="it is the same file as the cry being judged")
                                  if c.sha256 and c.sha256 == cry_sha256 else c for c in self.cries))

    def to_dict(self) -> dict:
        return {"given": len(self.cries), "used": self.k, "cries": [c.to_dict() for c in self.cries]}


def plural(k: int) -> str:
    return f"{k} reference cr{'y' if k == 1 else 'ies'}"
