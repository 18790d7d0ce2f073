"""Paths, limits and fixed signal parameters shared by the whole pipeline.

Everything a deployment may want to change is read from environment variables here, in one place, so that the
app, the CLIs and the tests agree on where models, data and caches live.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

#: printed beside every answer, in the app, every report and the CLI
DISCLAIMER = "Screening aid for research; not a diagnosis."

PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: HeAR's input contract: 2 s of 16 kHz mono float32 in [-1, 1].
SAMPLE_RATE = 16_000
WINDOW_SECONDS = 2.0
WINDOW_SAMPLES = 32_000
DEFAULT_HOP_SECONDS = 1.0


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name, "").strip()
    return Path(value).expanduser() if value else default


def trained_dir() -> Path:
    """Folder of shipped/trained head artefacts (operators may point it elsewhere)."""
    return _env_path("HEAR_SCREENING_TRAINED_DIR", PROJECT_ROOT / "trained")


def data_dir() -> Path:
    """Root of the development datasets (`../shared/data` beside the checkout by default)."""
    return _env_path("HEAR_SCREENING_DATA_DIR", PROJECT_ROOT.parent / "shared" / "data")


def _env_on(name: str) -> bool:
    """A deployment switch: on when the variable says 1, on, true or yes."""
    return os.environ.get(name, "").strip().lower() in ("1", "on", "true", "yes")


def storage_url() -> str | None:
    """Where saved visits go, or None: storage is off unless the deployment enables it (HEAR_SCREENING_DATABASE_URL,
    e.g. postgresql+psycopg://user:pass@host/db, or HEAR_SCREENING_STORAGE=on for SQLite in the data folder)."""
    url = os.environ.get("HEAR_SCREENING_DATABASE_URL", "").strip()
    if url:
        return url
    if _env_on("HEAR_SCREENING_STORAGE"):
        xdg = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
        return f"sqlite:///{_env_path('HEAR_SCREENING_STORAGE_DIR', xdg / 'hear-screening') / 'visits.db'}"
    return None


def keep_audio() -> bool:
    """Whether saved visits keep their audio too (off unless the deployment enables it separately)."""
    return _env_on("HEAR_SCREENING_KEEP_AUDIO")


def profiles_dir() -> Path:
    """The server folder of calibration profiles (derived numbers only, never audio), shared by the app's users."""
    xdg = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
    return _env_path("HEAR_SCREENING_PROFILES_DIR", xdg / "hear-screening" / "profiles")


def cache_dir() -> Path:
    """Disk cache for embeddings computed by the CLIs (never holds audio)."""
    xdg = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return _env_path("HEAR_SCREENING_CACHE_DIR", xdg / "hear-screening")


def hear_model_dir() -> Path | None:
    """A local copy of the HeAR SavedModel, if the operator configured one."""
    value = os.environ.get("HEAR_MODEL_DIR", "").strip()
    return Path(value).expanduser() if value else None


@dataclass(frozen=True)
class QualityThresholds:
    """Quality-gate limits; defaults follow common practice for auscultation and cry recordings."""

    silence_dbfs: float = -50.0  # window RMS below this is treated as silence
    #: when set, a window is also silence unless it is this many dB above the recording's own noise floor
    #: (`gate.noise_floor_dbfs`): a quiet phone recording is judged against its own background, not a fixed level
    above_floor_db: float | None = None
    clip_level: float = 0.999  # |x| at or above this counts as a clipped sample
    max_clip_ratio: float = 0.01  # more than 1 % clipped samples flags the window
    min_clip_seconds: float = 0.25  # shorter clips cannot be analysed at all
    min_window_content_s: float = 1.0  # a trailing window with less real audio is flagged as mostly padding
    min_cry_voicing: float | None = None  # cry task: share of frames voiced at 250-1000 Hz below which "no crying"


def _env_number(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    try:
        return float(value) if value else default
    except ValueError:
        raise ValueError(f"{name}={value!r} is not a number") from None


@dataclass(frozen=True)
class Limits:
    """Input limits, enforced before anything is fully decoded: size before reading, duration while decoding,
    files and decompressed bytes while expanding a batch. The upload widget's own limit is Streamlit's
    `server.maxUploadSize` (MB, `.streamlit/config.toml`); keep it equal to `max_bytes`."""

    max_bytes: int = int(_env_number("HEAR_SCREENING_MAX_BYTES", 200 * 1024 * 1024))  # per file
    max_seconds: float = _env_number("HEAR_SCREENING_MAX_SECONDS", 30 * 60)  # analysed per recording
    max_files: int = int(_env_number("HEAR_SCREENING_MAX_FILES", 200))  # per batch, zip members included
    max_archive_bytes: int = int(_env_number("HEAR_SCREENING_MAX_ARCHIVE_BYTES", 1024 * 1024 * 1024))  # per zip


def default_jobs() -> int:
    """Worker processes for many recordings (a batch, dataset embedding): the cores this process may use."""
    import os

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def analysis_threads() -> int:
    """Threads one recording's windows are embedded on (HEAR_SCREENING_THREADS, default every core this process may
    use, at most 4). NumPy and SciPy release the GIL in the array work, so batches of windows run side by side;
    a worker process of a batch or of dataset embedding uses one (the workers are the parallelism there)."""
    raw = os.environ.get("HEAR_SCREENING_THREADS", "").strip()
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    return min(4, default_jobs())


def single_threaded_worker() -> None:
    """In a worker process of a batch or of dataset embedding: one OpenMP and BLAS thread, for the libraries loaded
    now and (through the environment) those loaded later, and one embedding thread; the workers are the
    parallelism."""
    import os

    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["HEAR_SCREENING_THREADS"] = "1"
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
