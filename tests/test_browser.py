"""End to end in a real headless Chromium: the app served by Streamlit, a fake microphone fed with a WAV file, an
upload, the batch and metrics pages, with a screenshot of each (kept in $E2E_SCREENSHOT_DIR when set).

Skipped, with the reason, where Chromium or Playwright is not installed (Debian: `apt-get install chromium`)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from bench.app_server import CHROMIUM, launch_chromium, streamlit_server, wait_idle
from tests.helpers import cry_like, write

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed (apt-get install chromium)")
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")


def real_cry(path: Path, seconds: float, first: int = 0, fmt: str = "PCM_16") -> Path:
    """`seconds` of real infant crying (cry_pain files end to end) at 16 kHz: a generated cry is rightly refused by
    the input check, and these tests follow a user's answer through the pages."""
    import numpy as np

    from core.audio.decode import decode_audio
    from tests.conftest import data_path

    files = sorted(data_path("cry_pain").rglob("*.flac"))[first:]
    if not files:
        pytest.skip("cry_pain recordings are not in ../shared/data")
    parts, have = [], 0
    for f in files:
        parts.append(decode_audio(f).samples)
        have += len(parts[-1])
        if have >= seconds * 16000:
            break
    return write(path, np.concatenate(parts)[: int(seconds * 16000)], 16000, fmt)


@pytest.fixture(scope="module")
def server_log(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("server") / "streamlit.log"


@pytest.fixture(scope="module")
def profiles(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("profiles")  # the server's calibration-profile folder, never the user's


@pytest.fixture(scope="module")
def server(server_log, profiles):
    with streamlit_server(log=server_log, env={"HEAR_SCREENING_PROFILES_DIR": str(profiles)}) as (url, _):
        yield url


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    d = Path(os.environ.get("E2E_SCREENSHOT_DIR") or tmp_path_factory.mktemp("screenshots"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def _browser(p, fake_wav: Path, fake_ui: bool = True):
    return launch_chromium(p, fake_audio=fake_wav, fake_ui=fake_ui)


def _no_traceback(page) -> None:
    assert page.get_by_text("Traceback").count() == 0


def _download(page, label: str) -> bytes:
    """Click a download button once the page has settled and return the file; a click that still starts no download
    within 40 s is repeated (twice at most)."""
    for attempt in range(3):
        wait_idle(page)
        button = page.get_by_role("button", name=label).first
        button.wait_for(timeout=60_000)
        try:
            with page.expect_download(timeout=40_000) as dl:
                button.click()
            return dl.value.path().read_bytes()
        except sync_api.TimeoutError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _settled(page) -> None:
    """Wait for the charts to draw before a screenshot."""
    page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
    time.sleep(2)


def test_microphone_upload_batch_and_metrics_in_chromium(server, shots, tmp_path):
    fake = real_cry(tmp_path / "fake_mic.wav", 8.0)
    upload = real_cry(tmp_path / "cry.flac", 5.0, first=3, fmt=None)
    with sync_api.sync_playwright() as p:
        browser = _browser(p, fake)
        ctx = browser.new_context(viewport={"width": 1400, "height": 2400}, permissions=["microphone"])
        page = ctx.new_page()
        page.goto(server)
        page.get_by_text("Analyze a recording").first.wait_for(timeout=120_000)
        page.get_by_text("Infant cry").first.click()
        page.get_by_text("voice-quality features").first.wait_for(timeout=60_000)  # the cry models are in

        # microphone: record about 4 s from the fake device, stop, wait for the verdict
        page.get_by_text("Record with the microphone").first.click()
        page.locator('[data-testid="stAudioInputActionButton"]').first.click()
        time.sleep(4)
        page.locator('[data-testid="stAudioInputActionButton"]').first.click()
        t0 = time.time()
        page.get_by_text("Usable windows").first.wait_for(timeout=120_000)
        mic_seconds = time.time() - t0
        _settled(page)
        page.screenshot(path=str(shots / "1_analyze_microphone.png"))
        _no_traceback(page)
        body = page.inner_text("body")
        assert "pain" in body and "Where this recording lands" in body
        (shots / "timings.txt").write_text(f"microphone stop -> verdict: {mic_seconds:.1f} s\n")

        # upload (a fresh page so the recording does not take precedence)
        page.goto(server)
        page.get_by_text("Analyze a recording").first.wait_for(timeout=60_000)
        page.get_by_text("Infant cry").first.click()
        page.get_by_text("voice-quality features").first.wait_for(timeout=60_000)  # the cry models are in
        t0 = time.time()
        page.locator("input[type=file]").first.set_input_files(str(upload))
        page.get_by_text("Usable windows").first.wait_for(timeout=120_000)
        with open(shots / "timings.txt", "a") as fh:
            fh.write(f"upload -> verdict: {time.time() - t0:.1f} s\n")
        _settled(page)
        # clicking a window's marker on the spectrogram plays that 2-s segment
        page.locator(".js-plotly-plot").first.locator(".scatterlayer .trace .points path").nth(1).click(force=True)
        page.wait_for_function("document.body.innerText.includes('Window 1: 1.0')", timeout=30_000)
        assert page.locator("audio").count() >= 2  # the upload's player and the window's
        pdf = _download(page, "Download the report (PDF)")
        assert pdf.startswith(b"%PDF") and b"/Count 1" in pdf
        # one decision on every surface: the page's verdict is the JSON's and the PDF's
        import json as _json
        shown = page.locator('[data-testid="stMetricValue"]').first.inner_text().strip()
        report = _json.loads(_download(page, "Download this analysis (JSON)"))
        assert report["verdicts"][report["primary"]]["label"] == shown
        if shutil.which("pdftotext"):
            text = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True).stdout.decode()
            assert f"{shown} (probability" in text
        (shots / "report.pdf").write_bytes(pdf)
        page.screenshot(path=str(shots / "2_analyze_upload.png"))
        _no_traceback(page)

        # batch with one corrupt file
        bad = tmp_path / "corrupt.wav"
        bad.write_bytes(b"RIFF" + bytes(200))
        page.goto(f"{server}/batch")
        page.get_by_text("Batch analysis").first.wait_for(timeout=60_000)
        page.locator("input[type=file]").first.set_input_files([str(upload), str(bad)])
        page.get_by_text("could not be analysed").first.wait_for(timeout=120_000)
        page.screenshot(path=str(shots / "3_batch.png"))
        _no_traceback(page)

        page.goto(f"{server}/metrics")
        page.get_by_text("SPRSound Score beside the published references").first.wait_for(timeout=60_000)
        _settled(page)
        page.screenshot(path=str(shots / "4_metrics.png"))
        _no_traceback(page)
        browser.close()
    assert all((shots / f).stat().st_size > 10_000 for f in
               ("1_analyze_microphone.png", "2_analyze_upload.png", "3_batch.png", "4_metrics.png"))


def _upload_on_analyze(p, server: str, upload: Path, height: int, task: str | None = None):
    """A 1400-px browser on the Analyze page, the task chosen (or the default's models loaded), `upload` given."""
    browser = _browser(p, upload)
    page = browser.new_context(viewport={"width": 1400, "height": height}).new_page()
    page.goto(server)
    page.get_by_text("Analyze a recording").first.wait_for(timeout=120_000)
    if task is not None:
        page.get_by_text(task).first.click()
        page.get_by_text("voice-quality features" if task == "Infant cry" else "Encoder:").first.wait_for(
            timeout=60_000)  # the task's models are in
    else:
        page.get_by_text("Encoder:").first.wait_for(timeout=120_000)
    page.locator("input[type=file]").first.set_input_files(str(upload))
    return browser, page


def test_wrong_kind_is_refused_and_the_right_task_offered_in_chromium(server, shots, tmp_path):
    """A real cry uploaded under the respiratory task: refused with the reason and a button; the button analyses it
    under the cry task."""
    upload = real_cry(tmp_path / "a_cry.flac", 6.0, first=5, fmt=None)
    with sync_api.sync_playwright() as p:
        browser, page = _upload_on_analyze(p, server, upload, 1600)
        page.get_by_text("Not analysed: wrong kind of audio").first.wait_for(timeout=120_000)
        time.sleep(2)  # no chart to wait for: a refused recording gets no window track
        page.screenshot(path=str(shots / "8_refused_wrong_kind.png"))
        body = page.inner_text("body")
        assert "sounds like an infant cry" in body and "Verdict" not in body and "Event timeline" not in body
        page.get_by_role("button", name=re.compile("Analyse it under 'Infant cry'")).click()
        page.get_by_text("Usable windows").first.wait_for(timeout=120_000)
        _settled(page)
        page.screenshot(path=str(shots / "9_after_switching_task.png"))
        body = page.inner_text("body")
        assert "Input check: sounds like an infant cry" in body and "Validated per recording" in body
        _no_traceback(page)
        browser.close()


def test_work_survives_moving_between_pages_in_chromium(server, shots, tmp_path):
    """Analyze -> Examination -> Batch -> Model metrics -> Analyze through the sidebar: the file and its answer
    come back, said so, until cleared."""
    upload = real_cry(tmp_path / "kept_cry.flac", 5.0, first=2, fmt=None)
    with sync_api.sync_playwright() as p:
        browser, page = _upload_on_analyze(p, server, upload, 1400, task="Infant cry")
        page.get_by_text("Usable windows").first.wait_for(timeout=120_000)
        verdict = page.locator('[data-testid="stMetricValue"]').first.inner_text()
        for title, marker in (("Examination", "Examination of one child"), ("Batch", "Batch analysis"),
                              ("Model metrics", "Model metrics"), ("Analyze", "Analyze a recording")):
            page.get_by_role("link", name=title).first.click()
            page.get_by_text(marker).first.wait_for(timeout=60_000)
        page.get_by_text("Your last file on this page (kept_cry.flac)").first.wait_for(timeout=120_000)
        page.get_by_text("Usable windows").first.wait_for(timeout=60_000)
        _settled(page)
        assert page.locator('[data-testid="stMetricValue"]').first.inner_text() == verdict
        page.screenshot(path=str(shots / "10_back_on_analyze.png"))
        _no_traceback(page)
        browser.close()


def test_live_monitor_streams_the_fake_microphone(server, shots, tmp_path):
    fake = real_cry(tmp_path / "fake_live.wav", 10.0)
    with sync_api.sync_playwright() as p:
        browser = _browser(p, fake)
        ctx = browser.new_context(viewport={"width": 1400, "height": 1800}, permissions=["microphone"])
        page = ctx.new_page()
        page.goto(f"{server}/live")
        page.get_by_text("Windows analysed").first.wait_for(timeout=120_000)
        page.get_by_text("Infant cry").first.click()
        page.get_by_text("voice-quality features").first.wait_for(timeout=60_000)  # the cry models are in
        webrtc = page.frame_locator("iframe[title*='streamlit_webrtc']").first
        webrtc.get_by_text("START").first.click(timeout=60_000)
        seen = []
        for attempt in range(2):  # a user whose connection never starts presses STOP and START again
            for _ in range(75):  # WebRTC setup can take long on a loaded 2-core CI machine
                m = re.search(r"Windows analysed\s*\n\s*(\d+)", page.inner_text("body"))
                seen.append(int(m.group(1)) if m else 0)
                if seen[-1] >= 4:
                    break
                time.sleep(1)
            if seen[-1] >= 4 or attempt:
                break
            page.screenshot(path=str(shots / "5_live_no_audio_yet.png"))
            stop = webrtc.get_by_text("STOP")
            if stop.count():  # still trying: stop it first; a connection that failed is back at START
                stop.first.click(timeout=30_000)
            webrtc.get_by_text("START").first.click(timeout=60_000)
        assert seen[-1] >= 4 and len(set(seen)) >= 2, seen  # predictions keep arriving
        latency = re.search(r"Latency\s*\n\s*(\d+) ms", page.inner_text("body"))
        assert latency is not None
        with open(shots / "timings.txt", "a") as fh:
            fh.write(f"live: latest window latency {latency.group(1)} ms\n")
        page.screenshot(path=str(shots / "5_live.png"))
        _no_traceback(page)
        browser.close()


def _start_live(page, url: str):
    page.goto(f"{url}/live")
    page.get_by_text("Windows analysed").first.wait_for(timeout=120_000)
    player = page.frame_locator("iframe[title*='streamlit_webrtc']").first
    player.get_by_text("START").first.click(timeout=60_000)
    return player


def test_live_monitor_when_the_browser_denies_the_microphone(server, shots, tmp_path):
    fake = write(tmp_path / "mic.wav", cry_like(4.0), 16000, "PCM_16")
    with sync_api.sync_playwright() as p:
        browser = _browser(p, fake, fake_ui=False)  # no auto-accept and no permission granted: the user blocks it
        page = browser.new_context(viewport={"width": 1300, "height": 1400}).new_page()
        player = _start_live(page, server)
        player.get_by_text("Permission denied").first.wait_for(timeout=30_000)
        body = page.inner_text("body")
        assert "allow it from the padlock icon" in body and "Traceback" not in body
        assert re.search(r"Windows analysed\s*\n\s*0", body)
        page.screenshot(path=str(shots / "6_live_denied.png"))
        browser.close()


def test_live_monitor_when_webrtc_cannot_connect(shots, tmp_path):
    fake = write(tmp_path / "mic.wav", cry_like(4.0), 16000, "PCM_16")
    unreachable = ('{"iceServers": [{"urls": "turn:127.0.0.1:9", "username": "u", "credential": "p"}], '
                   '"iceTransportPolicy": "relay"}')  # relay only, through a TURN server that is not there
    with streamlit_server(env={"HEAR_SCREENING_ICE_SERVERS": unreachable}) as (url, _), \
            sync_api.sync_playwright() as p:
        browser = _browser(p, fake)
        page = browser.new_context(viewport={"width": 1300, "height": 1400}, permissions=["microphone"]).new_page()
        _start_live(page, url)
        page.get_by_text("WebRTC cannot connect").first.wait_for(timeout=60_000)
        assert "HEAR_SCREENING_ICE_SERVERS" in page.inner_text("body")
        page.screenshot(path=str(shots / "7_live_cannot_connect.png"))
        _no_traceback(page)
        browser.close()


def _pdf_pages_to_png(pdf: Path, prefix: Path) -> list[Path]:
    """Render a downloaded PDF to PNGs (poppler's pdftoppm) so a person can look at it; [] without poppler."""
    import shutil
    import subprocess

    if shutil.which("pdftoppm") is None:
        return []
    subprocess.run(["pdftoppm", "-r", "80", "-png", str(pdf), str(prefix)], check=True, timeout=120)
    return sorted(prefix.parent.glob(prefix.name + "*.png"))


def test_examination_of_one_sprsound_child_and_a_reference_overlay(server, shots, tmp_path):
    from tests.conftest import data_path

    intra = data_path("sprsound", "BioCAS2022", "test2022_intra_flac")
    sites = sorted(intra.glob("40813160_*.flac"))  # one child of the intra-patient test, sites p1-p4
    assert [f.name.split("_")[3] for f in sites] == ["p1", "p2", "p3", "p4"]
    fake = write(tmp_path / "silence.wav", cry_like(2.0) * 0, 16000, "PCM_16")
    with sync_api.sync_playwright() as p:
        browser = _browser(p, fake)
        ctx = browser.new_context(viewport={"width": 1400, "height": 2600}, accept_downloads=True)
        page = ctx.new_page()
        page.goto(f"{server}/examination")
        page.get_by_text("Examination of one child").first.wait_for(timeout=120_000)
        page.locator("input[type=file]").first.set_input_files([str(f) for f in sites])
        page.get_by_text("The child's answer").first.wait_for(timeout=180_000)
        _settled(page)
        _no_traceback(page)
        body = page.inner_text("body")
        assert "visit 1" in body and "4 of 4 recording(s) answered" in body
        assert re.search(r"(Adventitious sounds present|No adventitious sounds found) \(child score \d+%\)", body)
        assert "Validated per child" in body and "nested patient-grouped" in body
        assert page.locator(".js-plotly-plot").count() >= 2  # the chest diagram and the first site's track
        page.screenshot(path=str(shots / "5_examination.png"), full_page=True)
        pdf = shots / "examination_report.pdf"
        pdf.write_bytes(_download(page, "Download the examination report (PDF)"))
        assert pdf.read_bytes().startswith(b"%PDF")
        pngs = _pdf_pages_to_png(pdf, shots / "examination_report")
        assert not pngs or (len(pngs) <= 3 and pngs[0].stat().st_size > 50_000)  # four sites on at most 3 pages

        # another child's recording and a cry among them: no child answer until resolved, on the page
        other = next(f for f in sorted(intra.glob("*.flac")) if not f.name.startswith("40813160_"))
        cry = real_cry(tmp_path / "a_cry.flac", 5.0, fmt=None)
        page.goto(f"{server}/examination")
        page.get_by_text("Examination of one child").first.wait_for(timeout=120_000)
        page.locator("input[type=file]").first.set_input_files([str(f) for f in sites[:3]] + [str(other), str(cry)])
        page.get_by_text("No child answer yet").first.wait_for(timeout=180_000)
        _settled(page)
        _no_traceback(page)
        body = page.inner_text("body")
        assert "different children" in body and "a_cry.flac does not sound like chest auscultation" in body
        assert "child score" not in body
        page.screenshot(path=str(shots / "5b_examination_mixed.png"), full_page=True)

        # a recording with its reference annotation: reference events drawn above the detected ones
        rec = sites[0]
        ann = rec.parent.parent / "test2022_intra_json" / f"{rec.stem}.json"
        page.goto(server)
        page.get_by_text("Analyze a recording").first.wait_for(timeout=120_000)
        page.locator("input[type=file]").first.set_input_files(str(rec))
        page.get_by_text("Usable windows").first.wait_for(timeout=120_000)
        page.get_by_text("Reference annotation (optional").first.wait_for(timeout=60_000)
        page.locator("input[type=file]").nth(1).set_input_files(str(ann))
        page.get_by_text("Agreement with the reference").first.wait_for(timeout=120_000)
        _settled(page)
        _no_traceback(page)
        assert "reference (annotator)" in page.inner_text("body") or page.locator("text=reference (annotator)").count()
        page.screenshot(path=str(shots / "6_reference_overlay.png"), full_page=True)
        single = shots / "recording_report.pdf"
        single.write_bytes(_download(page, "Download the report (PDF)"))
        pages = int(re.search(rb"/Count (\d+)", single.read_bytes()).group(1))
        assert 1 <= pages <= 2  # a report a clinician can file: at most two pages
        _pdf_pages_to_png(single, shots / "recording_report")
        browser.close()


def test_reference_cries_and_a_clinic_profile_in_chromium(server, shots, profiles, tmp_path):
    """The cry task in a real browser: two bath cries of one infant given as references judge a new cry of that
    infant; then a calibration profile is made from a zip of six infants' labelled cries on the Calibration page,
    chosen, and named by the sidebar and the answer."""
    import zipfile

    from tests.conftest import data_path

    src = data_path("cry_pain")
    refs = sorted((src / "discomfort_bath").glob("MAJ_*.flac"))[:2]
    cry = sorted((src / "discomfort_bath").glob("MAJ_*.flac"))[-1]
    with sync_api.sync_playwright() as p:
        browser, page = _upload_on_analyze(p, server, cry, 2200, task="Infant cry")
        page.get_by_text("Usable windows").first.wait_for(timeout=120_000)
        page.get_by_text("This infant's reference cries (no pain)").first.click()
        page.locator("input[type=file]").nth(1).set_input_files([str(r) for r in refs])
        page.get_by_text("Judged against 2 reference cries").first.wait_for(timeout=120_000)
        _settled(page)
        page.screenshot(path=str(shots / "13_reference_cries.png"))
        body = page.inner_text("body")
        assert "with 2 reference cries drawn from the tested infant's discomfort cries" in body
        _no_traceback(page)

        archive = tmp_path / "clinic.zip"
        with zipfile.ZipFile(archive, "w") as z:
            for folder in ("pain_vaccination", "discomfort_bath"):
                for f in sorted((src / folder).glob("*.flac")):
                    if f.name[:3] in ("AMJ", "AUP", "BEL", "BEV", "CAA", "GRG"):
                        z.write(f, f"clinic/{folder}/{f.name}")
        page.get_by_role("link", name="Calibration").first.click()
        page.get_by_text("Make a profile from your labelled recordings").first.wait_for(timeout=60_000)
        page.locator("input[type=file]").first.set_input_files(str(archive))
        page.get_by_label("Profile name (shown on every answer)").fill("Clinic E2E")
        page.get_by_role("button", name="Make the profile").click()
        page.get_by_text("made from").first.wait_for(timeout=240_000)
        assert len(list(profiles.glob("cry-clinic-e2e-*.json"))) == 1
        page.get_by_text("calibration profile 'Clinic E2E'").first.click()
        page.get_by_text("Calibration: profile").first.wait_for(timeout=60_000)
        _settled(page)
        page.screenshot(path=str(shots / "14_calibration_page.png"))
        page.get_by_role("link", name="Analyze").first.click()
        # the references are kept for this infant: the pain answer keeps their judgement, and says the profile
        # does not recalibrate it
        page.get_by_text("is in use, but this answer was judged against the infant's reference cries").first.wait_for(
            timeout=120_000)
        page.get_by_role("button", name="Clear").first.click()  # the references: another infant now
        page.get_by_text("Answers recalibrated by calibration profile 'Clinic E2E'").first.wait_for(timeout=120_000)
        _settled(page)
        assert "Judged against" not in page.inner_text("body")
        page.screenshot(path=str(shots / "15_answer_with_profile.png"))
        _no_traceback(page)
        browser.close()


def test_the_server_log_of_the_walkthrough_is_clean(server, server_log):
    """After every page above was used: no deprecation warnings, no file-watcher noise, no tracebacks."""
    text = server_log.read_text(errors="replace")
    for noise in ("use_container_width", "Inotify", "Traceback", "deprecated"):
        assert noise not in text, f"{noise!r} in the server log:\n{text[-2000:]}"


def test_the_server_log_stays_clean_through_the_walkthrough(server, server_log):
    """Runs last in this module: after every page, upload, download and live stream above, the server logged no
    warning, error or traceback (once, each PDF download logged "missing ScriptRunContext")."""
    log = server_log.read_text()
    bad = [line for line in log.splitlines()
           if re.search(r"warning|error|traceback|exception|missing ScriptRunContext", line, re.I)]
    assert not bad, "\n".join(bad[:20])


def test_live_monitor_without_a_microphone_says_so_in_words(server, shots):
    """No microphone on the machine (no fake device): a plain message with what to do, not only the player's raw
    "NotFoundError"."""
    with sync_api.sync_playwright() as p:
        browser = launch_chromium(p, fake_audio=None, fake_ui=True)
        page = browser.new_context(viewport={"width": 1300, "height": 1100}, permissions=["microphone"]).new_page()
        page.goto(f"{server}/live")
        page.get_by_text("No microphone found on this device").first.wait_for(timeout=120_000)
        page.screenshot(path=str(shots / "6b_live_no_microphone.png"))
        _no_traceback(page)
        browser.close()
