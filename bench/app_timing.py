"""The app as a user meets it, in headless Chromium, each figure beside its floor measured in the same run:

- cold start to a usable uploader (server process start -> the Analyze page's file drop zone drawn) against the
  same for a one-line Streamlit app holding only an uploader: what the framework itself costs;
- upload to verdict for a 10-s cry against the core analysis of the same file (no browser);
- server memory per session: resident memory of the server after 8 sessions have each analysed a recording, minus
  the memory after one, per added session.
"""
from __future__ import annotations

import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.app_server import launch_chromium, rss_mb, streamlit_server

DROPZONE = '[data-testid="stFileUploaderDropzone"]'
FLOOR_APP = 'import streamlit as st\nst.file_uploader("Recording")\n'


@dataclass(frozen=True)
class AppFigures:
    floor_uploader_s: float  # one-line Streamlit app: process start to its uploader drawn
    cold_uploader_s: float  # this app: process start to the Analyze page's uploader drawn
    cold_models_s: float  # this app: process start to the sidebar naming the loaded encoder (models ready)
    upload_to_verdict_s: float  # a 10-s cry recording, from file chosen to verdict drawn (first in the process)
    second_upload_s: float  # another 10-s recording in the same session
    core_analysis_s: float  # the same file through core.answers.analyzer.Analyzer, warm, no browser
    rss_one_mb: float  # server memory after one session analysed a recording
    rss_per_session_mb: float  # (memory after n sessions - after one) / (n - 1)
    sessions: int


def _time_to_uploader(p, script: str | Path, wait_for: str | None = None) -> tuple[float, float]:
    """(seconds to the drop zone, seconds to `wait_for` text) from the server process's start."""
    t_start = time.perf_counter()
    with streamlit_server(script=script) as (url, _):
        browser = launch_chromium(p)
        page = browser.new_context(viewport={"width": 1300, "height": 1600}).new_page()
        page.goto(url)
        page.locator(DROPZONE).first.wait_for(timeout=180_000)
        uploader = time.perf_counter() - t_start
        extra = uploader
        if wait_for:
            page.get_by_text(wait_for).first.wait_for(timeout=180_000)
            extra = time.perf_counter() - t_start
        browser.close()
    return uploader, extra


def _session(browser, url: str, clip: Path) -> None:
    page = browser.new_context(viewport={"width": 1300, "height": 1600}).new_page()
    page.goto(url)
    page.get_by_text("Infant cry").first.click()
    page.get_by_text(re.compile(r"Head\s+pain")).first.wait_for(timeout=120_000)
    page.locator("input[type=file]").first.set_input_files(str(clip))
    page.get_by_text("Usable windows").first.wait_for(timeout=120_000)


def measure(seconds: float = 10.0, sessions: int = 8) -> AppFigures:
    from playwright.sync_api import sync_playwright

    from core.answers.analyzer import Analyzer
    from core.encoders.cache import EmbeddingCache
    from tests.helpers import cry_like, write

    with tempfile.TemporaryDirectory() as tmp:
        clip = write(Path(tmp) / "cry.flac", cry_like(seconds, f0=500, harsh=0.4), 16000)
        clip2 = write(Path(tmp) / "cry2.flac", cry_like(seconds, f0=450, harsh=0.2, seed=3), 16000)
        clips = [write(Path(tmp) / f"s{i}.flac", cry_like(seconds, f0=400 + 20 * i, seed=10 + i), 16000)
                 for i in range(sessions)]
        an = Analyzer("cry", "acoustic")
        an.analyze(clip)
        an.cache = EmbeddingCache()  # uncached, like a new recording
        t0 = time.perf_counter()
        an.analyze(clip)
        core_s = time.perf_counter() - t0
        floor = Path(tmp) / "floor_app.py"
        floor.write_text(FLOOR_APP)
        with sync_playwright() as p:
            floor_s, _ = _time_to_uploader(p, floor)
            cold_s, models_s = _time_to_uploader(p, "app.py", "Encoder:")
            with streamlit_server() as (url, proc):
                browser = launch_chromium(p)
                page = browser.new_context(viewport={"width": 1300, "height": 1600}).new_page()
                page.goto(url)
                page.get_by_text("Infant cry").first.click()
                page.get_by_text(re.compile(r"Head\s+pain")).first.wait_for(timeout=120_000)
                t0 = time.perf_counter()
                page.locator("input[type=file]").first.set_input_files(str(clip))
                page.get_by_text("Usable windows").first.wait_for(timeout=120_000)
                upload = time.perf_counter() - t0
                page.wait_for_timeout(3000)  # let the first page finish drawing
                t0 = time.perf_counter()
                page.locator("input[type=file]").first.set_input_files(str(clip2))
                page.get_by_text("Recording: cry2.flac").first.wait_for(timeout=120_000)  # the new verdict's caption
                second = time.perf_counter() - t0
                rss_one = rss_mb(proc.pid)
                for c in clips[1:]:  # sessions 2..n, each with its own recording (kept open: a live session each)
                    _session(browser, url, c)
                rss_n = rss_mb(proc.pid)
                browser.close()
    return AppFigures(floor_s, cold_s, models_s, upload, second, core_s, rss_one,
                      (rss_n - rss_one) / max(sessions - 1, 1), sessions)
