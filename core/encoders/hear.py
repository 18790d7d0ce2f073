"""Google HeAR (Health Acoustic Representations) as a TensorFlow SavedModel.

Source, in this order: a local folder (argument or HEAR_MODEL_DIR); the Hugging Face cache (no network); a
download of the gated repo `google/hear` with the user's HF_TOKEN. TensorFlow is imported only here and only when
HeAR is actually used, so the built-in encoder never pays for it.
"""
from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.config import WINDOW_SAMPLES, hear_model_dir
from .base import EncoderInfo, EncoderUnavailable, check_windows

REPO_ID = "google/hear"
MODEL_PAGE = "https://huggingface.co/google/hear"
SIGNATURE = "serving_default"
INPUT_NAME = "x"
OUTPUT_KEY = "output_0"
EMBEDDING_DIM = 512

HOW_TO = (
    "To use HeAR: (1) accept the HeAR licence on " + MODEL_PAGE + " while logged in to Hugging Face; "
    "(2) create a read token and set it as HF_TOKEN before starting the app; or point HEAR_MODEL_DIR at a local "
    "copy of the SavedModel folder (the one holding saved_model.pb)."
)


@dataclass(frozen=True)
class HearSource:
    path: Path
    origin: str  # "local folder", "Hugging Face cache" or "Hugging Face download"


def _is_saved_model(path: Path) -> bool:
    return (path / "saved_model.pb").is_file()


def resolve_hear(local_dir: str | Path | None = None, *, allow_download: bool = True) -> HearSource:
    """Find the SavedModel without ever hanging: local folder, then cache, then (if allowed) a token download."""
    folder = Path(local_dir).expanduser() if local_dir else hear_model_dir()
    if folder is not None:
        if _is_saved_model(folder):
            return HearSource(folder, "local folder")
        raise EncoderUnavailable(f"HEAR_MODEL_DIR={folder} holds no saved_model.pb. " + HOW_TO)

    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError

    try:
        cached = Path(snapshot_download(REPO_ID, local_files_only=True))
        if _is_saved_model(cached):
            return HearSource(cached, "Hugging Face cache")
    except (LocalEntryNotFoundError, FileNotFoundError, OSError, ValueError):
        pass
    offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}
    token = os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")
    if not allow_download or offline:
        raise EncoderUnavailable("HeAR weights are not on this machine (offline mode or download not requested). " + HOW_TO)
    if not token:
        raise EncoderUnavailable("HeAR weights are gated on Hugging Face and no HF_TOKEN is set. " + HOW_TO)
    try:
        path = Path(snapshot_download(REPO_ID, token=token, etag_timeout=10))
    except GatedRepoError as exc:
        raise EncoderUnavailable("Your Hugging Face account has not been granted access to google/hear yet. " + HOW_TO) from exc
    except RepositoryNotFoundError as exc:
        raise EncoderUnavailable("Hugging Face refused the token (invalid or expired HF_TOKEN). " + HOW_TO) from exc
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as exc:
        raise EncoderUnavailable(f"Could not download HeAR from Hugging Face ({type(exc).__name__}). " + HOW_TO) from exc
    if not _is_saved_model(path):
        raise EncoderUnavailable(f"The downloaded snapshot at {path} holds no saved_model.pb. " + HOW_TO)
    return HearSource(path, "Hugging Face download")


def _fingerprint(path: Path) -> str:
    """Hash of the graph and the variable index: cheap, and changes whenever the weights change."""
    h = hashlib.sha256()
    for name in ("saved_model.pb", "variables/variables.index"):
        f = path / name
        if f.is_file():
            h.update(f.read_bytes())
    return h.hexdigest()[:12]


def default_batch_size() -> int:
    """Large batches on a GPU, modest ones on CPU (HeAR is a ViT: memory grows with the batch)."""
    import tensorflow as tf

    return 128 if tf.config.list_physical_devices("GPU") else 16


class HearEncoder:
    """Loads the SavedModel once per instance; callers share an instance (see encoders.get_encoder)."""

    def __init__(self, source: HearSource, batch_size: int | None = None):
        import tensorflow as tf

        self.source = source
        try:
            self._model = tf.saved_model.load(str(source.path))
            self._fn = self._model.signatures[SIGNATURE]
        except (KeyError, OSError, ValueError) as exc:
            raise EncoderUnavailable(f"{source.path} is not a usable HeAR SavedModel ({exc}).") from exc
        self._tf = tf
        self._lock = threading.Lock()
        self.batch_size = batch_size or default_batch_size()
        gpu = bool(tf.config.list_physical_devices("GPU"))
        self.device = "GPU" if gpu else "CPU"
        self.info = EncoderInfo(
            name="hear",
            version="hear-1",
            dim=EMBEDDING_DIM,
            label=f"Google HeAR ({source.origin}, {self.device})",
            fingerprint=_fingerprint(source.path),
        )

    def embed(self, windows: np.ndarray) -> np.ndarray:
        x = check_windows(windows, WINDOW_SAMPLES)
        out = np.zeros((len(x), EMBEDDING_DIM), np.float32)
        for i in range(0, len(x), self.batch_size):
            batch = self._tf.constant(x[i : i + self.batch_size])
            with self._lock:  # one graph call at a time keeps GPU memory predictable across app sessions
                y = self._fn(**{INPUT_NAME: batch})[OUTPUT_KEY]
            y = np.asarray(y.numpy(), dtype=np.float32)
            if y.shape != (len(batch), EMBEDDING_DIM):
                raise EncoderUnavailable(f"HeAR returned shape {y.shape}, expected ({len(batch)}, {EMBEDDING_DIM}).")
            out[i : i + len(batch)] = y
        return out
