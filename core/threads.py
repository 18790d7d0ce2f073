"""Array work of one recording on every core: batches of windows side by side on a small shared thread pool.

NumPy and SciPy release the GIL inside their array operations, so two threads nearly halve a long recording's
embedding on 2 cores. Each batch is computed exactly as on one thread (the FFTs inside run on one worker each:
SciPy's `workers=-1` was twice as slow here), so the result is the same bit for bit whatever the thread count.
Worker processes of a batch or of dataset embedding run one thread (`core.config.single_threaded_worker`).
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np

_POOL: ThreadPoolExecutor | None = None
_POOL_SIZE = 0
_POOL_LOCK = threading.Lock()
_IN_POOL = threading.local()


def _mark() -> None:
    _IN_POOL.on = True


def _pool(threads: int) -> ThreadPoolExecutor:
    global _POOL, _POOL_SIZE
    with _POOL_LOCK:
        if _POOL is None or _POOL_SIZE != threads:
            if _POOL is not None:
                _POOL.shutdown(wait=False)
            _POOL, _POOL_SIZE = ThreadPoolExecutor(threads, thread_name_prefix="hear-batch", initializer=_mark), threads
        return _POOL


def even_batch_size(n: int, batch_size: int) -> int:
    """The fewest batches of at most `batch_size`, as even as possible: 27 windows run as 14 + 13, not 16 + 11 (on
    two threads the longer batch sets the time), and 17 as 9 + 8, never with a window alone (NumPy reduces a
    one-row batch in another order: three features differ in the 7th digit). It depends on `n` only, never on the
    thread count, so one process, its threads and worker processes embed a recording identically."""
    batch_size = max(1, batch_size)
    if n <= batch_size:
        return max(1, n)
    return -(-n // -(-n // batch_size))


def map_batches(fn: Callable[..., np.ndarray], batch_size: int, *arrays: np.ndarray,
                threads: int | None = None) -> np.ndarray:
    """`fn(*slices)` over consecutive, even batches of at most `batch_size` rows of `arrays` (all of one length),
    concatenated in order; batches run on `threads` threads (default `core.config.analysis_threads()`). Called
    from inside one of these threads, it runs serially, so no pool ever waits on itself."""
    from core.config import analysis_threads

    n = len(arrays[0])
    threads = analysis_threads() if threads is None else threads
    size = even_batch_size(n, batch_size)
    batches = [tuple(a[i: i + size] for a in arrays) for i in range(0, n, size)]
    if threads <= 1 or len(batches) <= 1 or getattr(_IN_POOL, "on", False):
        return np.concatenate([fn(*b) for b in batches], axis=0)
    return np.concatenate(list(_pool(threads).map(lambda b: fn(*b), batches)), axis=0)
