"""What produced an answer, stamped on every report (PDF, JSON, CSV): when, by which app and models, from which audio.

A filed report must be traceable without the server: the UTC time of the analysis, the app's version (its git
commit, or `HEAR_SCREENING_VERSION` where the app is deployed without git), each model's training date, encoder and
file hash, and the SHA-256 of the audio bytes exactly as given. Clinician fields (patient reference, age, site,
device) are typed by the user, go only into the report they download, and are never stored.
"""
from __future__ import annotations

import datetime as _dt
import os
import subprocess
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

APP_NAME = "Body-sound screening dashboard"  # the encoder in use (HeAR or built-in) is named beside it
VERSION_ENV = "HEAR_SCREENING_VERSION"
REPO_ROOT = Path(__file__).resolve().parents[2]
#: the optional fields a clinician may type for the report (key -> label); free text, length-capped
CLINICIAN_FIELDS = {"patient_ref": "Patient reference", "age": "Age", "site": "Recording site",
                    "device": "Recording device", "clinician": "Recorded by"}
MAX_FIELD_CHARS = 80


@lru_cache(maxsize=1)
def app_version() -> str:
    """`<short commit>[+modified]` from git, else the environment's version, else "unknown (no git)"."""
    env = os.environ.get(VERSION_ENV, "").strip()
    if env:
        return env
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                                text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (no git)"
    return commit + ("+modified" if dirty else "") if commit else "unknown (no git)"


def now_utc() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def clean_fields(fields: dict[str, str] | None) -> dict[str, str]:
    """Only the known clinician fields, stripped of control characters and capped, empty ones dropped."""
    out = {}
    for key in CLINICIAN_FIELDS:
        value = "".join(c for c in str((fields or {}).get(key, "") or "") if c.isprintable()).strip()
        if value:
            out[key] = value[:MAX_FIELD_CHARS]
    return out


@dataclass(frozen=True)
class Provenance:
    analysed_at: str  # UTC, ISO 8601
    app_version: str
    audio_sha256: str
    models: dict[str, str]  # head -> "trained <date> | <encoder:version> | model sha256 <12 hex>"
    encoder: str
    thresholds: dict[str, float] = field(default_factory=dict)  # thresholds in use when the user moved one
    clinician: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def when(self) -> str:
        """The analysis time for people: "2026-11-24 09:31:36 UTC"."""
        return self.analysed_at.replace("T", " ").replace("Z", " UTC")

    def model_lines(self) -> list[str]:
        return [f"Model {name}: {desc}" for name, desc in self.models.items()]

    def lines(self) -> list[str]:
        """The provenance as short lines for a printed report."""
        return [f"Analysed {self.when} by {APP_NAME} version {self.app_version}; encoder {self.encoder}.",
                f"Audio SHA-256: {self.audio_sha256 or 'n/a (live audio)'}", *self.model_lines()]


def model_versions(heads: dict) -> dict[str, str]:
    """Each loaded head's training date, encoder and the hash of its model file (from its verified meta.json)."""
    out = {}
    for name, art in heads.items():
        meta = art.meta
        digest = (meta.get("sha256") or {}).get("model.skops", "")
        enc = meta.get("encoder", {})
        out[name] = (f"trained {str(meta.get('created', '?'))[:10]} | {enc.get('name', '?')}:{enc.get('version', '?')}"
                     + (f" | model sha256 {digest[:12]}" if digest else ""))
    return out
