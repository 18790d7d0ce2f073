"""The training examples most like a clip, and where their audio is when the dataset is on this machine.

Similarity is Euclidean distance in the head's stored PCA space (the first components of its scaled training
inputs, one point per training unit): the same space the placement plot shows, so the neighbours agree with it.
It is a browsing aid, not the classifier's reasoning.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.audio.filenames import recording_stem
from core.heads.artifacts import Projection
from core.data.datasets import _spr_audio, _spr_pairs, _spr_split


@dataclass(frozen=True)
class Neighbour:
    uid: str
    label: str
    group: str
    split: str
    distance: float


@dataclass(frozen=True)
class AudioRef:
    path: Path
    start_s: float | None = None  # None: the whole recording
    end_s: float | None = None


def nearest(projection: Projection, point: np.ndarray, k: int = 5) -> list[Neighbour]:
    c = min(len(point), projection.coords.shape[1])
    d = np.linalg.norm(projection.coords[:, :c] - np.asarray(point)[None, :c], axis=1)
    order = np.argsort(d)[:k]
    return [Neighbour(str(projection.uids[i]), str(projection.labels[i]), str(projection.groups[i]),
                      str(projection.splits[i]), float(d[i])) for i in order]


#: a training unit this close (relative to the typical neighbour distance) is the same audio: distinct recordings
#: are never within a thousandth of the usual spacing in a 16-component space, re-encodings of one are
SAME_AUDIO_REL = 1e-3


@dataclass(frozen=True)
class TrainingMatch:
    uid: str
    how: str  # "same audio" (identical placement) or "same file name"


def training_match(projection: Projection, point: np.ndarray, name: str, typical: float) -> TrainingMatch | None:
    """The training unit a clip is, if it is one: a clip the model was trained on is not a test of it. Matched by
    placement (the same audio through the same pipeline lands on its own training point) or by file name (SPRSound
    and Donate-a-cry names are unique ids)."""
    stem = recording_stem(name)
    ids = np.array([u.split("/")[-1].split("#")[0] for u in projection.uids.tolist()])
    named = np.flatnonzero(ids == stem) if stem else np.zeros(0, int)
    near = nearest(projection, point, k=1)
    if near and near[0].distance <= SAME_AUDIO_REL * max(typical, 1e-12):
        return TrainingMatch(near[0].uid, "same audio")
    if len(named):
        return TrainingMatch(str(projection.uids[named[0]]), "same file name")
    return None


def locate_audio(uid: str, layout: str, root: Path) -> AudioRef | None:
    """The file (and, for SPRSound events, the event's span) a training uid came from, if it is under `root`."""
    root = Path(root)
    if not root.is_dir():
        return None
    head, _, stem = uid.partition("/")
    if layout.startswith("sprsound"):
        stem, _, event = stem.partition("#")
        for split, jdir, adir in _spr_pairs(root):
            if split != _spr_split(head) and split != head:
                continue
            audio = _spr_audio(adir, stem)
            if audio is None:
                continue
            if not event:
                return AudioRef(audio)
            try:
                ev = json.loads((jdir / f"{stem}.json").read_text())["event_annotation"][int(event)]
                return AudioRef(audio, float(ev["start"]) / 1000.0, float(ev["end"]) / 1000.0)
            except (OSError, ValueError, KeyError, IndexError, TypeError):
                return AudioRef(audio)
        return None
    folder = root / head
    if folder.is_dir():
        for p in sorted(folder.glob(f"{stem}.*")):
            return AudioRef(p)
    return None


def load_clip(ref: AudioRef, margin_s: float = 0.25, max_s: float = 10.0) -> np.ndarray:
    """The referenced audio (an event with a little context, or the start of a recording) as 16-kHz samples."""
    from core.audio.decode import decode_audio
    from core.config import SAMPLE_RATE

    x = decode_audio(ref.path).samples
    if ref.start_s is None:
        return x[: int(max_s * SAMPLE_RATE)]
    a = max(0, int((ref.start_s - margin_s) * SAMPLE_RATE))
    b = min(len(x), int(((ref.end_s or ref.start_s) + margin_s) * SAMPLE_RATE), a + int(max_s * SAMPLE_RATE))
    return x[a:b]


def typical_nn_distance(projection: Projection, q: float = 95.0, sample: int = 1500, seed: int = 0) -> float:
    """The q-th percentile of training units' distance to their nearest other training unit (on a sample, so a
    few thousand events stay cheap): a clip whose nearest neighbour is farther than this is unlike the training
    data, and its verdict is an extrapolation."""
    X = projection.coords.astype(np.float64)
    if len(X) < 3:
        return float("inf")
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(X), size=min(sample, len(X)), replace=False)
    from scipy.spatial.distance import cdist

    nn = []
    for start in range(0, len(pick), 250):  # chunks keep memory at 250 x n distances
        rows = pick[start : start + 250]
        d = cdist(X[rows], X)
        d[np.arange(len(rows)), rows] = np.inf
        nn.append(d.min(axis=1))
    return float(np.percentile(np.concatenate(nn), q))
