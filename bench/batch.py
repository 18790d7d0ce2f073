"""Many recordings: the batch (CLI and Batch page path, `core.reports.batch.analyze_batch`) in this process versus
in worker processes on every core, side by side in one run, on distinct generated recordings (no cache helps)."""
from __future__ import annotations

import io
import time
from concurrent.futures import wait
from dataclasses import dataclass

import numpy as np
import soundfile as sf

from core.answers.analyzer import Analyzer
from core.answers.parallel import start
from core.config import default_jobs
from core.reports.batch import BatchItem, analyze_batch


@dataclass(frozen=True)
class BatchFigures:
    recordings: int
    seconds_each: float
    in_process_s: float
    parallel_s: float
    jobs: int


def _items(n: int, seconds: float, seed: int) -> list[BatchItem]:
    out = []
    for i in range(n):
        rng = np.random.default_rng(seed * 1000 + i)
        t = np.arange(int(seconds * 8000)) / 8000
        breath = 0.5 * (1 + np.sin(2 * np.pi * rng.uniform(0.2, 0.4) * t))
        x = 0.02 * rng.standard_normal(len(t)) * breath
        buf = io.BytesIO()
        sf.write(buf, x.astype(np.float32), 8000, format="WAV", subtype="PCM_16")
        out.append(BatchItem(f"rec_{seed}_{i}.wav", data=buf.getvalue()))
    return out


def measure(task: str = "respiratory", n: int = 24, seconds: float = 10.0, rounds: int = 2) -> BatchFigures:
    """The two paths interleaved for `rounds` rounds, each on recordings it has not seen (no cache helps), and the
    faster round of each (one round moved the ratio by 15 % between runs on a 2-core machine)."""
    an = Analyzer(task, "acoustic")
    an.warm_up()
    jobs = default_jobs()
    wait(start(task, "acoustic", jobs))  # the pool started and warmed up, untimed
    here, there = [], []
    for r in range(rounds):
        t0 = time.perf_counter()
        analyze_batch(an, _items(n, seconds, 2 * r + 1))
        t1 = time.perf_counter()
        analyze_batch(an, _items(n, seconds, 2 * r + 2), jobs=jobs)
        here.append(t1 - t0)
        there.append(time.perf_counter() - t1)
    return BatchFigures(n, seconds, min(here), min(there), jobs)
