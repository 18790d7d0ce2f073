"""Names of user files as the app shows and prints them: a name is only ever a label, never a path."""
from __future__ import annotations

import unicodedata
from pathlib import PurePosixPath

MAX_NAME_CHARS = 120


def display_name(name: str, limit: int = MAX_NAME_CHARS) -> str:
    """Control and bidirectional-override characters become '?' (a name cannot fake another on screen or break a
    CSV row), and very long names keep their start and their extension."""
    clean = "".join("?" if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c for c in str(name)).strip()
    clean = clean or "recording"
    if len(clean) <= limit:
        return clean
    suffix = PurePosixPath(clean).suffix[:10]
    return clean[: limit - len(suffix) - 1] + "…" + suffix
