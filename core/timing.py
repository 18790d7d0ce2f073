"""Per-stage wall time of one analysis, for benchmarks: zero cost when nobody asks (the default is a no-op)."""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator


class StageTimer:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0


class _NoTimer(StageTimer):
    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        yield


NO_TIMER = _NoTimer()
