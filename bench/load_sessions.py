"""Load: one session alone (the baseline), then N browser sessions at once, each uploading a different recording to the Analyze page of a locally started
app, for R rounds; prints sessions, files, failures and upload-to-verdict times (p50/p95/max).

    .venv/bin/python -m bench.load_sessions [--sessions 8] [--rounds 2] [--seconds 20]

Recordings are real cries (cry_pain excerpts, each starting at another file) where ../shared/data is here, else
generated cries (which the input check refuses, after the same analysis), so every session's file is different and
nothing is served from another session's cache. A session fails when its page shows
a traceback, an error, or no verdict within the timeout. Needs Chromium and Playwright (requirements-dev.txt).
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.app_server import ANSWERED, CHROMIUM, CRY_MODELS_IN, cry_clip, rss_mb, streamlit_server

DONE = ANSWERED  # a verdict (or the input check's refusal): the analysis finished and was drawn


def recordings(folder: Path, n: int, seconds: float) -> list[Path]:
    return [cry_clip(folder / f"session{i}_cry.flac", seconds + 2 * (i % 4), i) for i in range(n)]


async def one_session(browser, url: str, file: Path, timeout_s: float) -> tuple[float | None, str]:
    ctx = await browser.new_context(viewport={"width": 1300, "height": 1600})
    page = await ctx.new_page()
    try:
        await page.goto(url)
        await page.get_by_text("Analyze a recording").first.wait_for(timeout=timeout_s * 1000)
        await page.get_by_text("Infant cry").first.click()
        await page.get_by_text(CRY_MODELS_IN).first.wait_for(timeout=timeout_s * 1000)
        t0 = time.perf_counter()
        await page.locator("input[type=file]").first.set_input_files(str(file))
        await page.get_by_text(DONE).first.wait_for(timeout=timeout_s * 1000)
        elapsed = time.perf_counter() - t0
        body = await page.inner_text("body")
        if "Traceback" in body or "failed unexpectedly" in body or "Cannot analyse" in body:
            return None, "the page shows an error"
        return elapsed, ""
    except Exception as exc:  # a timeout or a crashed page is this session's failure, reported below
        return None, f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
    finally:
        await ctx.close()


async def run(sessions: int, rounds: int, seconds: float, timeout_s: float) -> dict:
    from playwright.async_api import async_playwright

    with tempfile.TemporaryDirectory() as tmp, streamlit_server() as (url, proc):
        files = recordings(Path(tmp), sessions * rounds + 1, seconds)
        alone_file, files = files[-1], files[:-1]
        times: list[float] = []
        failures: list[str] = []
        peak = rss_mb(proc.pid)
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            alone, err = await one_session(browser, url, alone_file, timeout_s)  # the baseline, same run
            print(f"  one session alone: {alone if alone is not None else err}", flush=True)
            wall0 = time.perf_counter()
            for r in range(rounds):
                batch = files[r * sessions:(r + 1) * sessions]
                results = await asyncio.gather(*(one_session(browser, url, f, timeout_s) for f in batch))
                peak = max(peak, rss_mb(proc.pid))
                for f, (t, err) in zip(batch, results):
                    if t is None:
                        failures.append(f"{f.name}: {err}")
                    else:
                        times.append(t)
                print(f"  round {r + 1}: {sum(t is not None for t, _ in results)}/{len(batch)} verdicts", flush=True)
            wall = time.perf_counter() - wall0
            await browser.close()
    q = sorted(times)
    return {"sessions at once": sessions, "files": len(files), "failures": len(failures),
            "upload->verdict p50 (s)": statistics.median(q) if q else float("nan"),
            "upload->verdict p95 (s)": q[min(len(q) - 1, int(round(0.95 * (len(q) - 1))))] if q else float("nan"),
            "upload->verdict max (s)": q[-1] if q else float("nan"),
            "one session alone (s)": alone if alone is not None else float("nan"),
            "p50 / one session alone": (statistics.median(q) / alone) if q and alone else float("nan"),
            "wall time (s)": wall, "server RSS peak (MB)": peak, "failure details": failures}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=20.0, help="shortest recording; others are up to 6 s longer")
    ap.add_argument("--timeout", type=float, default=300.0, help="per session, seconds")
    args = ap.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"Chromium not found at {CHROMIUM} (apt-get install chromium)", file=sys.stderr)
        return 2
    print(f"load: {args.sessions} browser sessions at once x {args.rounds} round(s), one different recording each",
          flush=True)
    res = asyncio.run(run(args.sessions, args.rounds, args.seconds, args.timeout))
    details = res.pop("failure details")
    for k, v in res.items():
        print(f"{k:28s} {v:10.2f}" if isinstance(v, float) else f"{k:28s} {v:>10}")
    for d in details:
        print(f"  failed: {d}")
    return 1 if details else 0


if __name__ == "__main__":
    sys.exit(main())
