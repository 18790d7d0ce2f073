"""A Streamlit server of this app on a free loopback port and a headless Chromium, shared by the browser tests and
the benchmarks that drive the app as a user would."""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(env: dict | None = None, timeout_s: float = 120.0, script: str | Path = "app.py",
                     log: Path | None = None, args: tuple[str, ...] = (), port: int | None = None):
    """Yields (url, process) once /_stcore/health answers; the server runs offline on the built-in encoder.
    `script`: another Streamlit script served the same way (the benchmarks' one-line baseline); `log`: a file that
    receives the server's own output (the browser tests read it for warnings)."""
    port = port or free_port()
    env = {**os.environ, "HEAR_MODEL_DIR": "", "HF_HUB_OFFLINE": "1", **(env or {})}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(port), "--server.headless", "true",
         "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false", *args],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
        stderr=open(log, "w") if log is not None else subprocess.DEVNULL)  # noqa: SIM115 (closed with the process)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + timeout_s
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                    break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError("the Streamlit server did not start") from None
                time.sleep(0.5)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def launch_chromium(playwright, fake_audio: Path | None = None, fake_ui: bool = True):
    """Debian's Chromium, headless; `fake_audio` feeds the fake microphone; `fake_ui` auto-accepts the permission
    prompt (without it, a context that was not granted the microphone is denied, as a user clicking Block)."""
    args = ["--no-sandbox", "--disable-gpu", "--disable-features=WebRtcHideLocalIpsWithMdns"]
    if fake_audio is not None:
        args += ["--use-fake-device-for-media-stream", f"--use-file-for-fake-audio-capture={fake_audio}"]
    if fake_ui:
        args.append("--use-fake-ui-for-media-stream")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=args)


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (Linux /proc), in MB."""
    total = 0
    pids = [pid]
    with contextlib.suppress(OSError):
        pids += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    for p in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


RUNNING = '[data-testid="stStatusWidgetRunningIcon"], [data-testid="stStatusWidgetRunningManIcon"]'


def wait_idle(page, timeout_s: float = 120.0) -> None:
    """Wait until the app's current run has finished (Streamlit's running indicator is gone), as a user waits for
    the page to settle: a download clicked mid-rerun points at a file the rerun has already replaced, and an upload
    timed mid-rerun would time the rerun too."""
    page.locator(RUNNING).first.wait_for(state="detached", timeout=timeout_s * 1000)


#: the Analyze page has answered (a verdict), or refused the audio as the wrong kind: either way the whole analysis ran
ANSWERED = re.compile(r"Usable windows|Not analysed: wrong kind of audio")
#: the sidebar once the cry task's models are in (its encoder line names the voice-quality features)
CRY_MODELS_IN = "voice-quality features"


def cry_clip(dest: Path, seconds: float, i: int = 0) -> Path:
    """`seconds` of real infant crying (cry_pain files end to end, the i-th file first) when ../shared/data is here,
    so the input check lets it through as a user's cry would be; otherwise a generated cry (which it refuses: the
    page then answers with the refusal, after the same analysis)."""
    import numpy as np

    from tests.helpers import cry_like, write

    files = sorted((ROOT.parent / "shared" / "data" / "cry_pain").rglob("*.flac"))
    if not files:
        return write(dest, cry_like(seconds, f0=400 + 15 * i, harsh=0.1 * (i % 4), seed=i), 16000,
                     "PCM_16" if dest.suffix == ".wav" else None)
    from core.audio.decode import decode_audio

    parts, have, k = [], 0, i
    while have < seconds * 16000:
        parts.append(decode_audio(files[k % len(files)]).samples)
        have += len(parts[-1])
        k += 1
    return write(dest, np.concatenate(parts)[: int(seconds * 16000)], 16000, "PCM_16" if dest.suffix == ".wav" else None)
