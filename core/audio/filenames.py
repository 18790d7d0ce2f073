"""Names of user files as the app shows and prints them: a name is only ever a label, never a path."""
from __future__ import annotations

import unicodedata
from pathlib import PurePosixPath

MAX_NAME_CHARS = 120
#: suffixes a recording's (or its annotation's) name may end with; anything else is part of the name, as the dot in
#: SPRSound's age field ("41112159_4.9_1_p1_153") is
RECORDING_SUFFIXES = (".wav", ".flac", ".ogg", ".opus", ".mp3", ".webm", ".m4a", ".mp4", ".caf", ".3gp", ".json",
                      ".csv")


def display_name(name: str, limit: int = MAX_NAME_CHARS) -> str:
    """Control and bidirectional-override characters become '?' (a name cannot fake another on screen or break a
    CSV row), and very long names keep their start and their extension."""
    clean = "".join("?" if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c for c in str(name)).strip()
    clean = clean or "recording"
    if len(clean) <= limit:
        return clean
    suffix = PurePosixPath(clean).suffix[:10]
    return clean[: limit - len(suffix) - 1] + "…" + suffix


def recording_stem(name: str) -> str:
    """The last path component of a name (zip members, Windows paths), without a known recording suffix: what a
    dataset id or a file-name convention is matched against."""
    stem = PurePosixPath(str(name).replace("\\", "/")).name
    suffix = PurePosixPath(stem).suffix
    return stem[: -len(suffix)] if suffix and suffix.lower() in RECORDING_SUFFIXES else stem
