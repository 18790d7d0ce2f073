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
