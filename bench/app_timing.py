"""The app as a user meets it, in headless Chromium: cold start to first paint, then upload to verdict on the
Analyze page; baselines in the same run are a warm reload's first paint and the core analysis of the same file."""
from __future__ import annotations

import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.app_server import launch_chromium, streamlit_server


@dataclass(frozen=True)
class AppFigures:
    server_start_s: float  # process start to /_stcore/health answering
    cold_first_paint_s: float  # process start to the Analyze page's title in the browser
    warm_first_paint_s: float  # a reload of the page once the server is warm
    upload_to_verdict_s: float  # a 10-s cry recording, from file chosen to verdict drawn (first in the process)
    second_upload_s: float  # another 10-s recording in the same session (the process is warm)
    core_analysis_s: float  # the same file through core.answers.analyzer.Analyzer, warm, no browser


def measure(seconds: float = 10.0) -> AppFigures:
    from playwright.sync_api import sync_playwright

    from core.answers.analyzer import Analyzer
    from core.encoders.cache import EmbeddingCache
    from tests.helpers import cry_like, write

    with tempfile.TemporaryDirectory() as tmp:
        clip = write(Path(tmp) / "cry.flac", cry_like(seconds, f0=500, harsh=0.4), 16000)
        clip2 = write(Path(tmp) / "cry2.flac", cry_like(seconds, f0=450, harsh=0.2, seed=3), 16000)
        an = Analyzer("cry", "acoustic")
        an.analyze(clip)
        an.cache = EmbeddingCache()  # uncached, like a new recording
        t0 = time.perf_counter()
        an.analyze(clip)
        core_s = time.perf_counter() - t0
        t_start = time.perf_counter()
        with streamlit_server() as (url, _), sync_playwright() as p:
            server_s = time.perf_counter() - t_start
            browser = launch_chromium(p)
            page = browser.new_context(viewport={"width": 1300, "height": 1600}).new_page()
            page.goto(url)
            page.get_by_text("Analyze a recording").first.wait_for(timeout=180_000)
            cold = time.perf_counter() - t_start
            t0 = time.perf_counter()
            page.reload()
            page.get_by_text("Analyze a recording").first.wait_for(timeout=60_000)
            warm = time.perf_counter() - t0
            page.get_by_text("Infant cry").first.click()
            page.get_by_text(re.compile(r"Head\s+pain")).first.wait_for(timeout=60_000)
            t0 = time.perf_counter()
            page.locator("input[type=file]").first.set_input_files(str(clip))
            page.get_by_text("Usable windows").first.wait_for(timeout=120_000)
            upload = time.perf_counter() - t0
            page.wait_for_timeout(3000)  # let the first page finish drawing
            t0 = time.perf_counter()
            page.locator("input[type=file]").first.set_input_files(str(clip2))
            page.get_by_text("Recording: cry2.flac").first.wait_for(timeout=120_000)  # the new verdict's caption
            second = time.perf_counter() - t0
            browser.close()
    return AppFigures(server_s, cold, warm, upload, second, core_s)
