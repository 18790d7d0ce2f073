"""Saved visits end to end in a real headless Chromium, behind a real sign-in: a local OpenID Connect provider
(`oidc-provider-mock`, from the registry) and Streamlit's built-in `st.login`, storage on SQLite. A clinician of
clinic A signs in, saves an examination of one SPRSound child at two visits, reads the history's trend and exports a
visit as FHIR (validated); a clinician of clinic B then sees none of it.

Skipped, with the reason, without Chromium, Playwright, the provider package or ../shared/data."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from bench.app_server import CHROMIUM, free_port, launch_chromium, streamlit_server
from tests.conftest import DATA

pytestmark = [pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed"),
              pytest.mark.skipif(not (DATA / "sprsound").is_dir(), reason="needs ../shared/data")]
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
pytest.importorskip("oidc_provider_mock", reason="oidc-provider-mock is not installed")
pytest.importorskip("authlib", reason="Authlib (st.login) is not installed")

USERS = [{"sub": "dr.a", "email": "dr.a@clinic-a.example", "clinic": "clinic-a", "roles": ["admin"]},
         {"sub": "dr.b", "email": "dr.b@clinic-b.example", "clinic": "clinic-b"}]


@pytest.fixture(scope="module")
def provider():
    port = free_port()
    args = [sys.executable, "-m", "oidc_provider_mock", "-p", str(port)]
    for u in USERS:
        args += ["--user-claims", json.dumps(u)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(f"{url}/.well-known/openid-configuration", timeout=1)
            break
        except OSError:
            time.sleep(0.2)
    yield url
    proc.terminate()


@pytest.fixture(scope="module")
def app(provider, tmp_path_factory):
    d = tmp_path_factory.mktemp("storage")
    port = free_port()
    secrets = d / "secrets.toml"
    secrets.write_text(f'''[auth]
redirect_uri = "http://localhost:{port}/oauth2callback"
cookie_secret = "test-cookie-secret-{os.getpid()}"
client_id = "hear-screening-test"
client_secret = "test-secret"
server_metadata_url = "{provider}/.well-known/openid-configuration"
''')
    env = {"HEAR_SCREENING_STORAGE": "on", "HEAR_SCREENING_STORAGE_DIR": str(d),
           "HEAR_SCREENING_PROFILES_DIR": str(d / "profiles")}
    with streamlit_server(env=env, args=("--secrets.files", str(secrets)), port=port) as (url, _):
        yield f"http://localhost:{port}", d


def _sign_in(page, url: str, sub: str) -> None:
    page.goto(url)
    page.get_by_role("button", name="Sign in to save and see saved visits").click()
    page.get_by_role("button", name=sub, exact=True).click()  # the provider's page: a predefined user
    page.get_by_text("Signed in as").first.wait_for(timeout=60_000)


def test_sign_in_save_an_examination_history_trend_fhir_and_another_clinic(app, tmp_path):
    from fhir.resources.R4B.bundle import Bundle

    url, folder = app
    shots = Path(os.environ.get("E2E_SCREENSHOT_DIR") or tmp_path)
    files = sorted((DATA / "sprsound" / "BioCAS2022" / "test2022_intra_flac").glob("40813160_*.flac"))[:2]
    with sync_api.sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_context(viewport={"width": 1400, "height": 2600}, accept_downloads=True).new_page()
        _sign_in(page, url, "dr.a")
        assert "clinic-a · administrator" in page.inner_text("body")
        page.get_by_role("link", name="Examination").first.click()
        page.get_by_text("Examination of one child").first.wait_for(timeout=60_000)
        page.locator("input[type=file]").first.set_input_files([str(f) for f in files])
        page.get_by_text("Save to this child's history").first.wait_for(timeout=240_000)
        for label in ("before salbutamol", "after salbutamol"):
            page.get_by_label("Child reference").fill("C-0042")
            page.get_by_label("Visit (as you name it)").fill(label)
            page.get_by_label("Visit (as you name it)").press("Tab")  # committed before the click
            page.get_by_role("button", name="Save this visit").click()
            page.get_by_text(f"Saved '{label}' for child C-0042 (clinic-a)").first.wait_for(timeout=60_000)
        page.get_by_label("Child reference").fill("Maria Lopez")
        page.get_by_role("button", name="Save this visit").click()
        page.get_by_text("Not saved: A child reference must be a pseudonymous code").first.wait_for(timeout=60_000)
        page.screenshot(path=str(shots / "20_saved_examination.png"))

        page.get_by_role("link", name="History").first.click()
        page.get_by_text("Visits of C-0042").first.wait_for(timeout=60_000)
        page.get_by_text("Trend across visits").first.wait_for(timeout=60_000)
        time.sleep(2)
        page.screenshot(path=str(shots / "21_history_trend.png"))
        body = page.inner_text("body")
        assert "before salbutamol" in body and "after salbutamol" in body and "Audit log" in body
        with page.expect_download() as dl:
            page.get_by_role("button", name="Download as FHIR R4 (JSON)").click()
        bundle = Bundle.model_validate(json.loads(Path(dl.value.path()).read_text()))
        assert bundle.entry[0].resource.identifier[0].value == "C-0042"
        assert bundle.entry[2].resource.presentedForm[0].contentType == "application/pdf"

        page.get_by_role("button", name="Sign out").click()
        page.get_by_role("button", name="End session").click()  # the provider ends its session too (RP logout)
        page.get_by_role("button", name="Sign in to save and see saved visits").wait_for(timeout=60_000)
        _sign_in(page, url, "dr.b")
        page.get_by_role("link", name="History").first.click()
        page.get_by_text("No saved respiratory visits for clinic-b yet").first.wait_for(timeout=60_000)
        assert "C-0042" not in page.inner_text("body")
        page.screenshot(path=str(shots / "22_other_clinic.png"))
        assert not re.search(r"Traceback|Exception", page.inner_text("body"))
        browser.close()
    assert (folder / "visits.db").is_file()
