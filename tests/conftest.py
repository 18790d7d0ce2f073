from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("HEAR_SCREENING_DATA_DIR", ROOT.parent / "shared" / "data"))

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def data_path(*parts: str) -> Path:
    p = DATA.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"real data not present: {p}")
    return p


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Tests never touch the user's embedding cache."""
    monkeypatch.setenv("HEAR_SCREENING_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture
def app_heads_only():
    """For page tests on generated audio: the app's loaded analyzer of a task without its input check for this
    test (see `tests.helpers.heads_only`), restored afterwards. Call it with the task names."""
    from ui.state import get_analyzer

    saved = {}

    def disable(*tasks: str) -> None:
        for task in tasks:
            an = get_analyzer(task)
            saved.setdefault(task, (an, an.input_check))
            an.input_check = None

    yield disable
    for an, check in saved.values():
        an.input_check = check
