"""Self-describing, versioned, integrity-checked head artefacts under trained/<task>/<encoder>/<head>/.

Files: model.skops (the fitted estimators, in skops' safe format: loading never runs pickled code and refuses
unexpected types), meta.json (kind, labels, encoder identity, window parameters, decision rules, hashes),
projection.npz (PCA of the training embeddings with labels and ids), metrics.json, MODEL_CARD.md.

Two kinds: a `head` (scaler + classifier + calibrator: one label set, `HeadArtifact`) and a `recording_model` (the
respiratory window detector with its recording-level calibrators and quality model, read by
`core.heads.recording.RecordingModelArtifact`). Both are verified here the same way before anything is built.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.config import SAMPLE_RATE, WINDOW_SAMPLES, trained_dir
from core.encoders.base import EncoderInfo
from core.evaluation.metrics import Decision

FORMAT = 1
KINDS = ("head", "recording_model", "input_check")
MODEL_FILE = "model.skops"
META_FILE = "meta.json"
PROJ_FILE = "projection.npz"
METRICS_FILE = "metrics.json"
CARD_FILE = "MODEL_CARD.md"

#: the only types a head artefact may contain (checked before anything is instantiated)
ALLOWED_TYPES = {
    "sklearn.pipeline.Pipeline",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.svm._classes.SVC",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.loss.HalfMultinomialLoss",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.MultinomialLogit",
    "sklearn._loss.link.Interval",
    "sklearn.neural_network._multilayer_perceptron.MLPClassifier",
    "sklearn.preprocessing._label.LabelBinarizer",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "numpy.ndarray",
    "numpy.dtype",
    "numpy.float64",
    "numpy.int64",
    "numpy.random._generator.Generator",
    "numpy.random._pcg64.PCG64",
    "numpy.random.mtrand.RandomState",
    "builtins.slice",
    "collections.OrderedDict",
}


class ArtifactError(RuntimeError):
    """An artefact is missing, damaged or was built for another encoder; the message says which and why."""


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def artifact_dir(task: str, encoder: str, head: str, root: Path | None = None) -> Path:
    return (root or trained_dir()) / task / encoder / head


@dataclass(frozen=True)
class Projection:
    """PCA of the scaled training embeddings (one point per training unit)."""

    mean: np.ndarray
    components: np.ndarray  # [c, d]
    explained: np.ndarray  # explained variance ratio per component
    coords: np.ndarray  # [n_units, c]
    labels: np.ndarray
    groups: np.ndarray
    uids: np.ndarray
    splits: np.ndarray

    def transform(self, Z: np.ndarray) -> np.ndarray:
        return (np.asarray(Z, np.float64) - self.mean) @ self.components.T

    @classmethod
    def fit(cls, Z: np.ndarray, labels, groups, uids, splits, n_components: int = 16) -> "Projection":
        from sklearn.decomposition import PCA

        c = int(min(n_components, Z.shape[0], Z.shape[1]))
        pca = PCA(n_components=c, random_state=0).fit(Z)
        return cls(pca.mean_, pca.components_, pca.explained_variance_ratio_, pca.transform(Z).astype(np.float32),
                   np.asarray(labels, str), np.asarray(groups, str), np.asarray(uids, str), np.asarray(splits, str))

    def table(self, components: int = 3):
        """One row per training unit: its first components and everything known about it (for browsing)."""
        import pandas as pd

        from core.data.datasets import describe_uid

        c = min(components, self.coords.shape[1])
        df = pd.DataFrame({f"PC{i + 1}": self.coords[:, i] for i in range(c)})
        df["label"], df["group"], df["split"], df["uid"] = self.labels, self.groups, self.splits, self.uids
        extra = pd.DataFrame([describe_uid(u) for u in self.uids.tolist()], index=df.index)
        return pd.concat([df, extra], axis=1)

    def save(self, path: Path) -> None:
        np.savez_compressed(path, **{k: getattr(self, k) for k in self.__dataclass_fields__})

    @classmethod
    def load(cls, path: Path) -> "Projection":
        with np.load(path, allow_pickle=False) as z:
            return cls(**{k: z[k] for k in cls.__dataclass_fields__})


@dataclass
class HeadArtifact:
    path: Path
    meta: dict
    base: object  # sklearn Pipeline: scaler + classifier
    calibrator: object
    decision: Decision
    projection: Projection | None

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.meta["labels"])

    @property
    def pooled(self) -> bool:
        return bool(self.meta["pooled"])

    def probabilities(self, X: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities for samples (windows, or pooled units for pooled heads)."""
        from core.heads.training import calibrated, raw_scores

        k = len(self.labels)
        if len(X) == 0:
            return np.zeros((0, k))
        return calibrated(self.calibrator, raw_scores(self.base, X, k), k)

    def pooled_features(self, emb: np.ndarray, usable: np.ndarray) -> np.ndarray:
        """The one input row of a pooled head for a clip's window embeddings, built as in training."""
        from core.data.embed import pool_windows

        return pool_windows(emb, np.zeros(len(emb), int), 1)

    @property
    def track_labels(self) -> tuple[str, ...] | None:
        """Labels of the per-window track this artefact can draw (None for pooled heads)."""
        return None if self.pooled else self.labels

    def window_probabilities(self, X: np.ndarray) -> np.ndarray:
        return self.probabilities(X)

    def scaled(self, X: np.ndarray) -> np.ndarray:
        return self.base[0].transform(X)

    def metrics(self) -> dict:
        return json.loads((self.path / METRICS_FILE).read_text())


def validated_evaluation(metrics: dict) -> dict:
    """The evaluation a head is quoted by outside its model card (report, sidebar): nested, where it was trained
    with it (its threshold, too, chosen without the scored people), else its held-out people."""
    return metrics.get("nested_cv") or metrics.get("heldout", {})


def save_artifact(
    out: Path,
    *,
    meta: dict,
    objects: dict,
    projection: Projection | None,
    metrics: dict,
    card: str,
) -> Path:
    """`objects`: the estimators, e.g. {"base": Pipeline, "calibrator": LogisticRegression} for a head."""
    import skops.io as sio

    out.mkdir(parents=True, exist_ok=True)
    sio.dump(objects, out / MODEL_FILE)
    files = [MODEL_FILE]
    if projection is not None:
        projection.save(out / PROJ_FILE)
        files.append(PROJ_FILE)
    import sklearn
    import skops

    meta = dict(meta)
    meta.setdefault("kind", "head")
    meta.update({
        "format": FORMAT,
        "created": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
        "window": {"samples": WINDOW_SAMPLES, "sample_rate": SAMPLE_RATE, **meta.get("window", {})},
        "versions": {"scikit-learn": sklearn.__version__, "numpy": np.__version__, "skops": skops.__version__},
        "sha256": {f: sha256(out / f) for f in files},
    })
    (out / METRICS_FILE).write_text(json.dumps(metrics, indent=1, default=_json_default))
    (out / META_FILE).write_text(json.dumps(meta, indent=1, default=_json_default))
    (out / CARD_FILE).write_text(card)
    return out


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return None if not np.isfinite(o) else float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (set, frozenset)):
        return sorted(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")


def read_meta(path: Path) -> dict:
    try:
        return json.loads((path / META_FILE).read_text())
    except FileNotFoundError:
        raise ArtifactError(f"No trained head at {path} (meta.json missing).") from None
    except ValueError as exc:
        raise ArtifactError(f"{path / META_FILE} is not valid JSON ({exc}).") from exc


def check_encoder(meta: dict, encoder: EncoderInfo, path: Path) -> None:
    want = meta.get("encoder", {})
    if want.get("name") != encoder.name or want.get("version") != encoder.version or want.get("dim") != encoder.dim:
        raise ArtifactError(
            f"The head at {path} was trained on encoder {want.get('name')}:{want.get('version')} "
            f"({want.get('dim')}-d) but this install runs {encoder.name}:{encoder.version} ({encoder.dim}-d). "
            f"Retrain it with `python -m core train --task {meta.get('task')} --encoder {encoder.name}`."
        )
    if want.get("fingerprint") and encoder.fingerprint and want["fingerprint"] != encoder.fingerprint:
        raise ArtifactError(
            f"The head at {path} was trained on other HeAR weights (fingerprint {want['fingerprint']}, these are "
            f"{encoder.fingerprint}). Retrain it on these weights."
        )


def load_verified(path: Path, encoder: EncoderInfo) -> tuple[dict, object, Projection | None]:
    """(meta, the model file's objects, projection) after checking format, encoder, every file's SHA-256 and the
    model file's types; nothing is instantiated before all of that passes."""
    import skops.io as sio

    meta = read_meta(path)
    if meta.get("format") != FORMAT:
        raise ArtifactError(f"{path}: artefact format {meta.get('format')} is not supported (expected {FORMAT}).")
    if meta.get("kind", "head") not in KINDS:
        raise ArtifactError(f"{path}: unknown artefact kind {meta.get('kind')!r}.")
    check_encoder(meta, encoder, path)
    for name, digest in meta.get("sha256", {}).items():
        f = path / name
        if not f.is_file():
            raise ArtifactError(f"{path}: {name} is missing.")
        if sha256(f) != digest:
            raise ArtifactError(f"{path}: {name} does not match the hash in meta.json (corrupted or modified).")
    if MODEL_FILE not in meta.get("sha256", {}):
        raise ArtifactError(f"{path}: meta.json does not record the model's hash.")
    model_path = path / MODEL_FILE
    untrusted = set(sio.get_untrusted_types(file=model_path))
    unexpected = sorted(untrusted - ALLOWED_TYPES)
    if unexpected:
        raise ArtifactError(f"{path}: the model file contains unexpected types {unexpected}; refusing to load it.")
    obj = sio.load(model_path, trusted=sorted(untrusted))
    proj = Projection.load(path / PROJ_FILE) if (path / PROJ_FILE).is_file() else None
    return meta, obj, proj


def load_artifact(path: Path, encoder: EncoderInfo):
    """A verified artefact: a `HeadArtifact`, or a `RecordingModelArtifact` for kind "recording_model"."""
    meta, obj, proj = load_verified(path, encoder)
    if meta.get("kind", "head") == "recording_model":
        from core.heads.recording import RecordingModelArtifact

        return RecordingModelArtifact.from_objects(path, meta, obj, proj)
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    if not (isinstance(obj, dict) and isinstance(obj.get("base"), Pipeline)
            and isinstance(obj.get("calibrator"), LogisticRegression)):
        raise ArtifactError(f"{path}: the model file does not hold a scaler+classifier pipeline and its calibrator.")
    return HeadArtifact(path, meta, obj["base"], obj["calibrator"], Decision.from_dict(meta["decision"]), proj)
