"""A calibration profile: for each recording answer, a logistic recalibration of the shipped probability and a
threshold, (respiratory) the child-level threshold, and the local figures that justify them.

Logistic recalibration keeps the model's ranking and refits two numbers per answer, P_local = sigmoid(a * logit(P) +
b): calibration-in-the-large and slope, the established update of a clinical prediction model moved to a new
setting. The threshold is then chosen on the recalibrated probabilities of the local recordings for the requested
target. A profile is tied to the model it was made for (the model file's SHA-256 and the encoder): applied to
another, its parameters would be misread, so it is refused with the reason. It holds derived numbers only: counts,
the SHA-256 of each file used, the fitted parameters and the figures; never audio, names or labels per file.
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

FORMAT = 1
KIND = "calibration_profile"
MAX_NAME = 80
_NAME_OK = re.compile(r"[^\w .,()\-+/&']", re.UNICODE)


class ProfileError(ValueError):
    """A profile that cannot be made or used: the message says why, for the person who asked."""


def clean_name(name: str) -> str:
    """A profile name shown on every answer: printable, at most MAX_NAME characters."""
    name = _NAME_OK.sub("", " ".join(str(name).split()))[:MAX_NAME].strip()
    if not name:
        raise ProfileError("a profile needs a name (letters, digits, spaces and . , ( ) - + / & ')")
    return name


def logit(p) -> np.ndarray:
    p = np.clip(np.asarray(p, float), 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


@dataclass(frozen=True)
class AnswerCalibration:
    """One answer: P_local = sigmoid(a * logit(P_shipped) + b), positive when P_local >= threshold."""

    a: float
    b: float
    threshold: float
    figures: dict = field(default_factory=dict)  # before / after per unit, with CIs and the split

    def probability(self, p_shipped) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(self.a * logit(p_shipped) + self.b)))


@dataclass(frozen=True)
class ChildCalibration:
    """The child-level answer on recalibrated site probabilities: the shipped pooling, a local threshold."""

    pooling: str
    threshold: float
    figures: dict = field(default_factory=dict)


@dataclass(frozen=True)
class CalibrationProfile:
    name: str
    task: str
    created: str
    model: str  # "<head> sha256 <hex>" of the model the profile reads
    encoder: str  # encoder identity
    app_version: str
    target: dict  # {"kind": "sensitivity" | "specificity" | "shipped", "value": float | None, "text": str}
    data: dict  # counts per class and people, and the SHA-256 of every file used
    answers: dict[str, AnswerCalibration]
    child: dict[str, ChildCalibration] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"format": FORMAT, "kind": KIND, "name": self.name, "task": self.task, "created": self.created,
                "model": self.model, "encoder": self.encoder, "app_version": self.app_version, "target": self.target,
                "data": self.data, "answers": {k: asdict(v) for k, v in self.answers.items()},
                "child": {k: asdict(v) for k, v in self.child.items()}, "notes": list(self.notes)}

    @classmethod
    def from_dict(cls, d: dict) -> "CalibrationProfile":
        if not isinstance(d, dict) or d.get("kind") != KIND:
            raise ProfileError("this file is not a calibration profile")
        if d.get("format") != FORMAT:
            raise ProfileError(f"profile format {d.get('format')!r} is not {FORMAT}; make the profile again")
        try:
            return cls(clean_name(d["name"]), str(d["task"]), str(d["created"]), str(d["model"]), str(d["encoder"]),
                       str(d["app_version"]), dict(d["target"]), dict(d["data"]),
                       {k: AnswerCalibration(float(v["a"]), float(v["b"]), float(v["threshold"]),
                                             dict(v.get("figures") or {})) for k, v in d["answers"].items()},
                       {k: ChildCalibration(str(v["pooling"]), float(v["threshold"]), dict(v.get("figures") or {}))
                        for k, v in (d.get("child") or {}).items()},
                       tuple(d.get("notes") or ()))
        except (KeyError, TypeError, ValueError) as exc:
            raise ProfileError(f"the profile is damaged ({type(exc).__name__}: {exc})") from exc

    def save(self, path: Path) -> Path:
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        return path

    @classmethod
    def load(cls, path: Path | str) -> "CalibrationProfile":
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError) as exc:
            raise ProfileError(f"cannot read the profile {Path(path).name}: {exc}") from exc

    def check_for(self, task: str, model: str, encoder: str) -> None:
        """Refuse a profile made for another task, model version or encoder."""
        if self.task != task:
            raise ProfileError(f"profile '{self.name}' was made for the {self.task} task, not {task}")
        if self.model != model or self.encoder != encoder:
            raise ProfileError(f"profile '{self.name}' was made for another model version ({self.model}, "
                               f"{self.encoder}); this install runs {model}, {encoder}. Make the profile again with "
                               "this version (python -m core calibrate)")

    def words(self) -> str:
        """The profile in one line, for the sidebar and every answer."""
        d = self.data
        return (f"calibration profile '{self.name}' ({self.created[:10]}; {d.get('recordings', '?')} local "
                f"recordings of {d.get('people', '?')} people; {self.target.get('text', '')})")


def model_identity(head: str, meta: dict) -> str:
    """What a profile is tied to: the head and its model file's SHA-256 (from the verified meta.json)."""
    return f"{head} sha256 {(meta.get('sha256') or {}).get('model.skops', '')}"
