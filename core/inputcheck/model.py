"""The input check: does this recording sound like the task's kind of audio, and how familiar is it?

Two questions asked of every recording before any answer is given, from the embeddings the analysis already made:
1. **Kind**: chest auscultation, an infant cry, or another sound. A three-class logistic regression on the
   recording's pooled window embeddings (mean and spread over all windows, quality-failed ones included: a breath
   recording under the cry task must be judged by its breathing, not by the few windows the cry gate let through).
   The rule is fixed, not tuned: the recording is refused when its most probable kind is not the task's.
2. **Familiarity**: how far the recording lies from the training recordings of its own kind, as a percentile a
   clinician can read: the distance to its nearest training recording, against how far each training recording is
   from its nearest recording of *another* person. Above `UNUSUAL_PERCENTILE` the answer is given with a caveat.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.data.embed import pool_windows
from core.encoders.base import EncoderInfo
from core.heads.artifacts import ArtifactError, load_verified

KINDS = ("chest", "cry", "other")
TASK_KIND = {"respiratory": "chest", "cry": "cry"}
KIND_TASK = {kind: task for task, kind in TASK_KIND.items()}
KIND_WORDS = {"chest": "chest auscultation (a stethoscope recording of breath sounds)",
              "cry": "an infant cry", "other": "neither chest auscultation nor an infant cry"}
FAMILY_PEOPLE = {"chest": "patient", "cry": "infant or family"}  # what a training group is, per kind
TASK_WORDS = {"respiratory": "Respiratory (pediatric auscultation)", "cry": "Infant cry"}
#: a recording farther from the training recordings than this share of training recordings are from those of other
#: people is called unusual (its answer is an extrapolation)
UNUSUAL_PERCENTILE = 99.0
#: the other task is suggested only when the check is this sure of its kind (white noise at 80 % "cry" is refused
#: without sending the user to the cry task); a fixed convention, reported in the model card, not tuned
SUGGEST_AT = 0.9
ARTIFACT_NAME = "input_check"
PCA_COMPONENTS = 16


def recording_features(emb: np.ndarray) -> np.ndarray:
    """[1, 2 * dim]: mean and standard deviation of every window's embedding (the training features, same code)."""
    return pool_windows(np.asarray(emb), np.zeros(len(emb), int), 1)


@dataclass(frozen=True)
class Familiarity:
    percentile: float  # share (%) of training recordings whose nearest other-person recording is closer than this one's
    unusual: bool
    people: str  # what a training group is ("patient", "infant or family")

    def statement(self) -> str:
        if self.unusual:
            return (f"This recording is unlike the training recordings: it is farther from all of them than "
                    f"{min(self.percentile, 99.9):.1f} % of training recordings are from the nearest recording of "
                    f"another {self.people}. Treat the answer as an extrapolation (another recording device, "
                    "setting or kind of sound?).")
        return (f"Familiar: as close to the training recordings as {100 - self.percentile:.0f} % of training "
                f"recordings are to another {self.people}'s.")


@dataclass(frozen=True)
class InputCheck:
    """What the check found; `accepted` False means no answer is given, for the reason in `reason`."""

    task: str
    kind: str  # the most probable kind
    probabilities: dict[str, float]
    accepted: bool
    reason: str  # "" when accepted
    suggestion: str  # the task to use instead, or ""
    familiarity: Familiarity | None
    validated: str = ""  # the check's own validated figures, in words

    def sentence(self) -> str:
        """The refusal as a sentence for a page ("" when accepted)."""
        return f"{self.reason[0].upper()}{self.reason[1:]}." if self.reason else ""

    def to_dict(self) -> dict:
        return {"accepted": self.accepted, "kind": self.kind, "reason": self.reason, "suggested_task": self.suggestion,
                "probabilities": {k: round(v, 4) for k, v in self.probabilities.items()},
                "familiarity": None if self.familiarity is None else {
                    "percentile": round(self.familiarity.percentile, 2), "unusual": self.familiarity.unusual,
                    "statement": self.familiarity.statement()},
                "validated": self.validated}


def refusal(task: str, kind: str, p: dict[str, float]) -> tuple[str, str]:
    """(reason, suggested task) for a recording whose most probable kind is not the task's."""
    own = TASK_KIND[task]
    suggestion = KIND_TASK.get(kind, "") if p[kind] >= SUGGEST_AT else ""
    reason = (f"this does not sound like {KIND_WORDS[own]}: it sounds like {KIND_WORDS[kind]} "
              f"(input check: {p[kind]:.0%} {kind}, {p[own]:.0%} {own})")
    if suggestion:
        reason += f". Analyse it under the task '{TASK_WORDS[suggestion]}'"
    elif kind in KIND_TASK:
        reason += ". Check what was recorded; if it is meant as " + KIND_WORDS[kind] + \
            f", analyse it under the task '{TASK_WORDS[KIND_TASK[kind]]}'"
    else:
        reason += (". Record again with the stethoscope on the chest in a quiet room" if own == "chest"
                   else ". Record the infant's cry itself, close to the infant")
    return reason, suggestion


class InputCheckModel:
    """The fitted check of one task and encoder (scikit-learn-style: `fit` on features, `check` a recording)."""

    def __init__(self, task: str, pipeline=None, pca_mean=None, pca_components=None, reference=None,
                 reference_nn=None, people: str = "person", validated: str = "", meta: dict | None = None):
        self.task = task
        self.meta = meta or {}  # the artefact's verified meta.json (versions and hashes for provenance)
        self.pipeline = pipeline
        self.pca_mean, self.pca_components = pca_mean, pca_components
        self.reference, self.reference_nn = reference, reference_nn
        self.people = people
        self.validated = validated

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(str(c) for c in self.pipeline.classes_)

    def fit(self, X: np.ndarray, kinds: np.ndarray, groups: np.ndarray, cuts: np.ndarray | None = None,
            cut_groups: np.ndarray | None = None) -> "InputCheckModel":
        """`cuts`: features of shorter pieces of own-kind recordings (and their people): they join the familiarity
        reference, so a short cut of an ordinary recording is judged against pieces like it, not only against
        whole recordings (without them, 13 % of held-out cuts were called unusual)."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler

        self.pipeline = Pipeline([("scale", StandardScaler()),
                                  ("clf", LogisticRegression(C=0.05, class_weight="balanced", max_iter=5000))])
        self.pipeline.fit(X, kinds)
        own = kinds == TASK_KIND[self.task]
        Z = self.pipeline[0].transform(X[own])
        self.pca_mean = Z.mean(axis=0)
        _, _, vt = np.linalg.svd(Z - self.pca_mean, full_matrices=False)
        self.pca_components = vt[:PCA_COMPONENTS]
        ref_groups = np.asarray(groups)[own]
        if cuts is not None and len(cuts):
            Z = np.vstack([Z, self.pipeline[0].transform(cuts)])
            ref_groups = np.concatenate([ref_groups, np.asarray(cut_groups)])
        self.reference = self._project_scaled(Z)
        self.reference_nn = np.sort(other_group_nn(self.reference, ref_groups))
        return self

    def _project_scaled(self, Z: np.ndarray) -> np.ndarray:
        return (Z - self.pca_mean) @ self.pca_components.T

    def project(self, X: np.ndarray) -> np.ndarray:
        return self._project_scaled(self.pipeline[0].transform(X))

    def percentile(self, X: np.ndarray) -> np.ndarray:
        """Per row: % of training recordings whose nearest other-person recording is closer than this row's
        nearest training recording."""
        from scipy.spatial.distance import cdist

        d = cdist(self.project(X), self.reference).min(axis=1)
        return 100.0 * np.searchsorted(self.reference_nn, d, side="left") / len(self.reference_nn)

    def probabilities(self, X: np.ndarray) -> np.ndarray:
        return self.pipeline.predict_proba(X)

    def check(self, emb: np.ndarray) -> InputCheck:
        X = recording_features(emb)
        p = dict(zip(self.classes, (float(v) for v in self.probabilities(X)[0])))
        kind = max(p, key=p.get)
        own = TASK_KIND[self.task]
        reason, suggestion = ("", "") if kind == own else refusal(self.task, kind, p)
        pct = float(self.percentile(X)[0])
        fam = Familiarity(pct, pct >= UNUSUAL_PERCENTILE, self.people)
        return InputCheck(self.task, kind, p, kind == own, reason, suggestion, fam, self.validated)

    def objects(self) -> dict:
        return {"check": self.pipeline, "pca_mean": self.pca_mean, "pca_components": self.pca_components,
                "reference": self.reference, "reference_nn": self.reference_nn}

    @classmethod
    def load(cls, path: Path, encoder: EncoderInfo) -> "InputCheckModel":
        """Verified like every artefact (format, encoder, hashes, allowed types) before it is used."""
        meta, obj, _ = load_verified(path, encoder)
        if meta.get("kind") != ARTIFACT_NAME or not isinstance(obj, dict) or "check" not in obj:
            raise ArtifactError(f"{path}: not an input-check artefact.")
        return cls(meta["task"], obj["check"], obj["pca_mean"], obj["pca_components"], obj["reference"],
                   obj["reference_nn"], meta.get("people", "person"), meta.get("validated_text", ""), meta)


def other_group_nn(P: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Each row's distance to its nearest row of another group (chunked: memory stays at 512 x n distances)."""
    from scipy.spatial.distance import cdist

    out = np.empty(len(P))
    for a in range(0, len(P), 512):
        d = cdist(P[a:a + 512], P)
        d[groups[a:a + 512, None] == groups[None, :]] = np.inf
        out[a:a + 512] = d.min(axis=1)
    return out
