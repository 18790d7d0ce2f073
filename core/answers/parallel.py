"""Many recordings on every core: worker processes, each with its own Analyzer, results in input order.

Threads do not help here: most of an analysis holds the GIL (measured 1.1-1.2x on 2 cores with two threads), so
the CLI and the Batch page hand recordings to worker processes instead. A pool is started once per (task, encoder)
and kept for the process's life (each worker loads the models once, about a second); at most two recordings per
worker are in flight, so memory stays bounded whatever the batch size; a recording that fails comes back as that
recording's failure (the callers' own error handling runs inside the worker), never as the batch's.
"""
from __future__ import annotations

import multiprocessing as mp
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Callable, Sequence

from core.config import single_threaded_worker

_ANALYZER = None  # the worker process's Analyzer
_INIT_ERROR: str | None = None  # why it could not be loaded
_POOLS: dict[tuple, ProcessPoolExecutor] = {}
_LOCK = threading.Lock()


class WorkerError(RuntimeError):
    """A worker process could not load the models: every recording sent to it fails with this reason."""


def _init(task: str, encoder: str, cache_folder: str | None) -> None:
    """In each worker: one OpenMP thread (the workers are the parallelism), then the models, once. A failure is
    kept and given as each recording's failure (`WorkerError`), never printed by the worker as a traceback."""
    single_threaded_worker()
    global _ANALYZER, _INIT_ERROR
    from pathlib import Path

    from core.answers.analyzer import Analyzer
    from core.encoders.cache import EmbeddingCache

    try:
        _ANALYZER = Analyzer(task, encoder, cache=EmbeddingCache(Path(cache_folder) if cache_folder else None))
        _ANALYZER.warm_up()  # lazy imports, compilations and the first batches' memory paid here
    except Exception as exc:  # the caller's own load fails the same way and says so
        _INIT_ERROR = f"{type(exc).__name__}: {exc}"


def _call(fn: Callable, item: Any) -> Any:
    if _ANALYZER is None:
        raise WorkerError(f"the worker process could not load the models ({_INIT_ERROR})")
    return fn(_ANALYZER, item)


def _ready(analyzer: Any, item: Any) -> None:
    return None


def start(task: str, encoder: str, jobs: int, cache_folder: str | None = None) -> list[Future]:
    """Start the workers now, without waiting: they load the models while the caller loads its own (the CLI's
    models and the workers' then load side by side instead of one after the other). The futures are done once
    every worker has loaded (`concurrent.futures.wait` them to start warm)."""
    ex = pool(task, encoder, jobs, cache_folder)
    return [ex.submit(_call, _ready, None) for _ in range(jobs)]


def pool(task: str, encoder: str, jobs: int, cache_folder: str | None = None) -> ProcessPoolExecutor:
    """The process pool of a task and encoder (spawned, not forked: the caller may be a threaded server).
    `cache_folder`: the workers keep embeddings on disk there (the CLI's --disk-cache); else in memory."""
    key = (task, encoder, jobs, cache_folder)
    with _LOCK:
        if key not in _POOLS:
            _POOLS[key] = ProcessPoolExecutor(jobs, mp.get_context("spawn"), initializer=_init,
                                              initargs=(task, encoder, cache_folder))
        return _POOLS[key]


def _forget(ex: ProcessPoolExecutor) -> None:
    """A pool whose worker died is dropped, so the next batch starts a fresh one."""
    with _LOCK:
        for k, v in list(_POOLS.items()):
            if v is ex:
                del _POOLS[k]
    ex.shutdown(wait=False, cancel_futures=True)


def map_in_order(fn: Callable[[Any, Any], Any], items: Sequence, task: str, encoder: str, jobs: int,
                 progress: Callable[[int, int, Any], None] | None = None,
                 prepare: Callable[[Any], Any] = lambda item: item,
                 failed: Callable[[Any, BaseException], Any] | None = None, cache_folder: str | None = None) -> list:
    """`fn(analyzer, prepare(item))` for every item in worker processes, returned in the items' order. `fn` must be
    a module-level function (it is pickled by name); `prepare` runs here just before an item is sent (e.g. reading
    its bytes), so only the items in flight are in memory. `progress(done, total, item)` runs here as items
    finish. `failed(item, error)` gives the result of an item whose worker died (a crash in native code, out of
    memory) or that could not load the models (`WorkerError`): that item fails, the others go on (after a crash,
    in a fresh pool)."""
    from concurrent.futures.process import BrokenProcessPool

    ex = pool(task, encoder, jobs, cache_folder)
    out: list = [None] * len(items)
    pending: dict[Future, int] = {}
    it = iter(enumerate(items))
    done, unloaded = 0, False

    def submit_next() -> bool:
        nonlocal ex
        nxt = next(it, None)
        if nxt is None:
            return False
        try:
            pending[ex.submit(_call, fn, prepare(nxt[1]))] = nxt[0]
        except BrokenProcessPool:
            _forget(ex)
            ex = pool(task, encoder, jobs, cache_folder)
            pending[ex.submit(_call, fn, prepare(nxt[1]))] = nxt[0]
        return True

    for _ in range(2 * jobs):  # bounded: at most two recordings per worker in flight
        if not submit_next():
            break
    while pending:
        finished, _ = wait(pending, return_when=FIRST_COMPLETED)
        for f in finished:
            i = pending.pop(f)
            try:
                out[i] = f.result()
            except (BrokenProcessPool, WorkerError) as exc:
                if failed is None:
                    raise
                out[i] = failed(items[i], exc)
                unloaded = unloaded or isinstance(exc, WorkerError)
            done += 1
            if progress:
                progress(done, len(items), items[i])
            submit_next()
    if unloaded:  # the next batch starts workers afresh
        _forget(ex)
    return out


def shutdown() -> None:
    """Stop every pool (tests; a server stops them at exit)."""
    with _LOCK:
        for ex in _POOLS.values():
            ex.shutdown(cancel_futures=True)
        _POOLS.clear()
