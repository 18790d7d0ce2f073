"""The app as a user meets it, in headless Chromium, each figure beside its floor measured in the same run. Browser
timings on a 2-core machine vary by a few tenths of a second from run to run, so each is the median of several runs,
the app's interleaved with its floor's:

- cold start to a usable uploader (server process start -> the Analyze page's file drop zone drawn) against the
  same for a one-line Streamlit app holding only an uploader: what the framework itself costs;
- upload to verdict for 10-s cries (the first file a server analyses, and the files after it) against the core
  analysis of the same file (no browser, uncached). Timed inside the page: from the file input's change event to the
  first animation frame after the verdict's text is in the document (Playwright's own waiting polls at 0, 20, 70,
  170, 270, 770 ms…, so a wait on it would round a 0.3-s answer up to 0.8 s). Beside it the same for a one-line app
  that echoes the upload: the framework's own upload and rerun;
- server memory per session: resident memory of the server after 8 sessions have each analysed a recording, minus
  the memory after one, per added session.
"""
from __future__ import annotations

import re
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.app_server import ANSWERED, CRY_MODELS_IN, cry_clip, launch_chromium, rss_mb, streamlit_server, wait_idle

DROPZONE = '[data-testid="stFileUploaderDropzone"]'
FLOOR_APP = 'import streamlit as st\nst.file_uploader("Recording")\n'
FLOOR_ECHO_APP = ('import streamlit as st\nf = st.file_uploader("Recording")\n'
                  'if f is not None:\n    st.write(f"Recording: {f.name} ({len(f.getvalue())} bytes)")\n')
VIEWPORT = {"width": 1300, "height": 1600}
#: armed before a file is chosen: notes the page's clock when the file input changes, then, on every DOM change,
#: whether `text` is in the document; the first animation frame after it appears is when the user can read it
_ARM = """pattern => {
  const re = new RegExp(pattern);
  const t = window.__verdictTiming = {start: null, drawn: null};
  document.addEventListener('change', e => { if (e.target.type === 'file' && t.start === null)
                                               t.start = performance.now(); }, {capture: true, once: true});
  const seen = () => { if (t.drawn === null && re.test(document.body.textContent)) {
                         obs.disconnect(); requestAnimationFrame(() => { t.drawn = performance.now(); }); } };
  const obs = new MutationObserver(seen);
  obs.observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


@dataclass(frozen=True)
class AppFigures:
    """Medians over `runs` server processes (uploads after the first: over all of them)."""
    floor_uploader_s: float  # one-line Streamlit app: process start to its uploader drawn
    cold_uploader_s: float  # this app: process start to the Analyze page's uploader drawn
    cold_models_s: float  # this app: process start to the sidebar naming the loaded encoder (models ready)
    first_upload_s: float  # a 10-s cry, file chosen to verdict drawn: the first file the server analyses
    next_upload_s: float  # further 10-s cries in the same session
    floor_echo_s: float  # the one-line echo app: file chosen to its echo drawn (files after the first)
    core_analysis_s: float  # the same files through core.answers.analyzer.Analyzer, warm, uncached, no browser
    rss_one_mb: float  # server memory after one session analysed a recording
    rss_per_session_mb: float  # (memory after n sessions - after one) / (n - 1)
    sessions: int
    runs: int
    cold_ratios: tuple[float, ...]  # app / floor for each interleaved pair (the spread behind the median)


def upload_until(page, clip: Path, text, timeout_s: float = 120.0) -> float:
    """Seconds from choosing `clip` in the page's first file input to `text` (a string or a compiled pattern) drawn,
    on the page's own clock; from a settled page (the last run finished and drawn), as a user picks a file."""
    wait_idle(page)
    page.wait_for_timeout(1000)
    page.evaluate(_ARM, text.pattern if isinstance(text, re.Pattern) else re.escape(text))
    page.locator("input[type=file]").first.set_input_files(str(clip))
    page.wait_for_function("() => window.__verdictTiming.drawn !== null && window.__verdictTiming.start !== null",
                           polling=50, timeout=timeout_s * 1000)
    t = page.evaluate("() => window.__verdictTiming")
    return (t["drawn"] - t["start"]) / 1000


def _new_page(browser, url: str):
    page = browser.new_context(viewport=VIEWPORT).new_page()
    page.goto(url)
    return page


def _floor_cold(p, script: Path) -> float:
    t_start = time.perf_counter()
    with streamlit_server(script=script) as (url, _):
        browser = launch_chromium(p)
        _new_page(browser, url).locator(DROPZONE).first.wait_for(timeout=180_000)
        cold = time.perf_counter() - t_start
        browser.close()
    return cold


def _floor_echo(p, script: Path, clips: list[Path]) -> list[float]:
    """The one-line echo app: each file chosen to its echo drawn."""
    with streamlit_server(script=script) as (url, _):
        browser = launch_chromium(p)
        page = _new_page(browser, url)
        page.locator(DROPZONE).first.wait_for(timeout=180_000)
        times = [upload_until(page, c, f"Recording: {c.name}") for c in clips]
        browser.close()
    return times


def _app_run(p, clips: list[Path]) -> tuple[float, float, float, list[float]]:
    """One server process of this app: (cold start to uploader, to models loaded, first upload, later uploads)."""
    t_start = time.perf_counter()
    with streamlit_server() as (url, _):
        browser = launch_chromium(p)
        page = _new_page(browser, url)
        page.locator(DROPZONE).first.wait_for(timeout=180_000)
        cold = time.perf_counter() - t_start
        page.get_by_text("Encoder:").first.wait_for(timeout=180_000)
        models = time.perf_counter() - t_start
        page.get_by_text("Infant cry").first.click()
        page.get_by_text(CRY_MODELS_IN).first.wait_for(timeout=120_000)
        first = upload_until(page, clips[0], ANSWERED)
        later = [upload_until(page, c, f"Recording: {c.name}") for c in clips[1:]]  # each verdict's own caption
        browser.close()
    return cold, models, first, later


def _session(browser, url: str, clip: Path) -> None:
    page = _new_page(browser, url)
    page.get_by_text("Infant cry").first.click()
    page.get_by_text(CRY_MODELS_IN).first.wait_for(timeout=120_000)
    page.locator("input[type=file]").first.set_input_files(str(clip))
    page.get_by_text(ANSWERED).first.wait_for(timeout=120_000)


def _memory(p, clips: list[Path]) -> tuple[float, float]:
    """(server memory after one session analysed a recording, after all of them), each session kept open."""
    with streamlit_server() as (url, proc):
        browser = launch_chromium(p)
        _session(browser, url, clips[0])
        rss_one = rss_mb(proc.pid)
        for c in clips[1:]:
            _session(browser, url, c)
        rss_n = rss_mb(proc.pid)
        browser.close()
    return rss_one, rss_n


def _core_seconds(clips: list[Path]) -> float:
    """The median over the files of the core analysis, warm, each uncached like a new recording."""
    from core.answers.analyzer import Analyzer
    from core.encoders.cache import EmbeddingCache

    an = Analyzer("cry", "acoustic")
    an.warm_up()
    runs = []
    for clip in clips:
        an.cache = EmbeddingCache()
        t0 = time.perf_counter()
        an.analyze(clip)
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs)


def measure(seconds: float = 10.0, sessions: int = 8, runs: int = 3, uploads: int = 3) -> AppFigures:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        def clip(name: str, i: int) -> Path:
            return cry_clip(Path(tmp) / f"{name}{i}.flac", seconds, i)

        upload_clips = [[clip(f"run{r}_", u) for u in range(uploads)] for r in range(runs)]
        session_clips = [clip("session", i) for i in range(sessions)]
        core_s = _core_seconds([c for run in upload_clips for c in run])
        floor = Path(tmp) / "floor_app.py"
        floor.write_text(FLOOR_APP)
        echo = Path(tmp) / "floor_echo_app.py"
        echo.write_text(FLOOR_ECHO_APP)
        floors, colds, models, firsts, laters = [], [], [], [], []
        with sync_playwright() as p:
            for r in range(runs):  # interleaved, so a slow spell of the machine hits both
                floors.append(_floor_cold(p, floor))
                cold, model, first, later = _app_run(p, upload_clips[r])
                colds.append(cold)
                models.append(model)
                firsts.append(first)
                laters += later
            echoes = _floor_echo(p, echo, upload_clips[0])[1:]
            rss_one, rss_n = _memory(p, session_clips)
    med = statistics.median
    return AppFigures(med(floors), med(colds), med(models), med(firsts), med(laters), med(echoes), core_s, rss_one,
                      (rss_n - rss_one) / max(sessions - 1, 1), sessions, runs,
                      tuple(c / f for c, f in zip(colds, floors)))
