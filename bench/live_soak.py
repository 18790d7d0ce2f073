"""Soak the live monitor: a real headless Chromium streams a fake microphone (a WAV file, looped by Chromium) into the
Live page of a locally started app for N minutes, and the server's memory and the page's latency are sampled.

    .venv/bin/python -m bench.live_soak --minutes 10 [--wav FILE.wav]

Prints resident memory of the Streamlit server at the start of streaming and at the end, its peak, the number of
windows analysed, and the displayed sound-to-prediction latency (median, 95th percentile, max). Needs Chromium
(`apt-get install chromium`) and Playwright (requirements-dev.txt). Linux only (reads /proc for memory).
"""
from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.app_server import CHROMIUM, CRY_MODELS_IN, cry_clip, launch_chromium, rss_mb, streamlit_server


def fake_microphone_wav(dest: Path, seconds: float = 20.0) -> Path:
    return cry_clip(dest, seconds)


def soak(minutes: float, wav: Path | None, sample_every_s: float = 1.0) -> dict:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, streamlit_server() as (url, proc):
        wav = wav or fake_microphone_wav(Path(tmp) / "fake_mic.wav")
        with sync_playwright() as p:
            browser = launch_chromium(p, fake_audio=wav)
            page = browser.new_context(viewport={"width": 1400, "height": 1800},
                                       permissions=["microphone"]).new_page()
            page.goto(f"{url}/live")
            page.get_by_text("Windows analysed").first.wait_for(timeout=120_000)
            page.get_by_text("Infant cry").first.click()
            page.get_by_text(CRY_MODELS_IN).first.wait_for(timeout=60_000)
            rss_before_start = rss_mb(proc.pid)
            page.frame_locator("iframe[title*='streamlit_webrtc']").first.get_by_text("START").first.click(
                timeout=60_000)
            page.wait_for_function("/Windows analysed\\s*\\n\\s*[1-9]/.test(document.body.innerText)",
                                   timeout=60_000)
            rss_start = rss_mb(proc.pid)
            t0 = time.time()
            latencies, rss, times, windows, received, last_print = [], [], [], 0, 0, t0
            while time.time() - t0 < minutes * 60:
                body = page.inner_text("body")
                m = re.search(r"Latency\s*\n\s*(\d+) ms", body)
                if m:
                    latencies.append(int(m.group(1)))
                m = re.search(r"Windows analysed\s*\n\s*(\d+)", body)
                windows = int(m.group(1)) if m else windows
                m = re.search(r"Listening\s*\n\s*(\d+) s", body)
                received = int(m.group(1)) if m else received
                if "Traceback" in body or "stopped on an error" in body:
                    raise RuntimeError("the live page shows an error:\n" + body[:2000])
                rss.append(rss_mb(proc.pid))
                times.append(time.time() - t0)
                if time.time() - last_print >= 60:
                    last_print = time.time()
                    print(f"  {(last_print - t0) / 60:4.1f} min: server RSS {rss[-1]:.0f} MB, windows {windows}, "
                          f"latency {latencies[-1] if latencies else '-'} ms", flush=True)
                time.sleep(sample_every_s)
            elapsed = time.time() - t0
            page.screenshot(path=str(Path(tempfile.gettempdir()) / "live_soak_end.png"))
            browser.close()
    lat = sorted(latencies)
    warm = [r for r, t in zip(rss, times) if t >= 60.0]  # after the first minute (figures, caches, first windows)
    slope = float(np.polyfit([t / 60 for t in times if t >= 60.0], warm, 1)[0]) if len(warm) > 10 else float("nan")
    return {
        "minutes streamed": elapsed / 60,
        "windows analysed (shown on the page)": windows,
        "audio received by the server (s)": received,
        "server RSS before START (MB)": rss_before_start,
        "server RSS at start of streaming (MB)": rss_start,
        "server RSS at end (MB)": rss[-1],
        "server RSS peak (MB)": max(rss),
        "RSS growth start->end (MB)": rss[-1] - rss_start,
        "server RSS after 1 min, warm (MB)": warm[0] if warm else float("nan"),
        "RSS trend after warm-up (MB/min)": slope,
        "latency median (ms)": statistics.median(lat) if lat else float("nan"),
        "latency p95 (ms)": lat[int(0.95 * (len(lat) - 1))] if lat else float("nan"),
        "latency max (ms)": lat[-1] if lat else float("nan"),
        "latency samples": len(lat),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--wav", type=Path, help="WAV fed to the fake microphone (default: a generated cry-like signal)")
    args = ap.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"Chromium not found at {CHROMIUM} (apt-get install chromium)", file=sys.stderr)
        return 2
    print(f"live monitor soak: {args.minutes:g} min through headless Chromium's fake microphone", flush=True)
    for k, v in soak(args.minutes, args.wav).items():
        print(f"{k:40s} {v:10.1f}" if isinstance(v, float) else f"{k:40s} {v:>10}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
