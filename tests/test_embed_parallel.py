"""Dataset embedding in worker processes gives the same windows and embeddings, bit for bit, in the same order."""
from __future__ import annotations

import numpy as np
import pytest

from core.data.datasets import read_folder
from core.data.embed import embed_units
from core.encoders import get_encoder
from core.encoders.cache import EmbeddingCache
from tests.helpers import cry_like, noise, write


@pytest.mark.parametrize("features", [(), ("voice_quality",)])
def test_two_workers_embed_exactly_what_one_process_does(tmp_path, features):
    for i in range(3):
        write(tmp_path / "a" / f"P{i}_x.wav", noise(3.0 + i, amp=0.02, seed=i))
        write(tmp_path / "b" / f"P{i}_y.wav", cry_like(2.5 + i, f0=430 + 20 * i, seed=i))
    (tmp_path / "b" / "P9_broken.wav").write_bytes(b"RIFF" + bytes(40))
    units = read_folder(tmp_path, r"^(P\d+)_").units
    enc = get_encoder("acoustic", window_features=features)
    one = embed_units(units, enc, EmbeddingCache())
    two = embed_units(units, enc, EmbeddingCache(), jobs=2)
    assert [u.uid for u in two.units] == [u.uid for u in one.units] and len(one.units) == 6
    for name in ("X", "unit_of", "usable", "start_s", "rms_dbfs", "clip_ratio", "duration_s"):
        assert np.array_equal(getattr(one, name), getattr(two, name)), name
    assert one.skipped == two.skipped and len(one.skipped) == 1  # the broken file, reported once, in either mode


@pytest.mark.parametrize("features", [(), ("voice_quality",)])
def test_one_recordings_windows_on_two_threads_embed_exactly_as_on_one(monkeypatch, features):
    """The analysis threads (core.threads) change the time, never a bit: a 60-s recording's 59 windows, speech-like
    and silent windows included (rows with no voiced frame, whose all-NaN statistics once warned from a thread)."""
    import warnings

    x = np.concatenate([cry_like(30.0, f0=450, seed=3), np.zeros(16000 * 10, np.float32), noise(20.0, amp=0.02)])
    from core.windows.framing import frame, window_starts

    windows = frame(x, window_starts(len(x), 16000))
    enc = get_encoder("acoustic", window_features=features)
    monkeypatch.setenv("HEAR_SCREENING_THREADS", "1")
    one = enc.embed(windows)
    monkeypatch.setenv("HEAR_SCREENING_THREADS", "2")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning raised on a pool thread fails the map, and this test
        two = enc.embed(windows)
    assert len(windows) == 59 and np.array_equal(one, two)


def test_map_batches_keeps_order_and_never_waits_on_itself():
    from core.threads import map_batches

    x, w = np.arange(50.0), np.arange(50.0) * 10
    out = map_batches(lambda a, b: a + b, 7, x, w, threads=2)
    assert np.array_equal(out, x * 11)
    # called from inside a pool thread (an encoder wrapping another), it runs serially instead of deadlocking
    nested = map_batches(lambda a: map_batches(lambda b: b * 2, 3, a, threads=2), 10, x, threads=2)
    assert np.array_equal(nested, x * 2)


def test_analysis_threads_setting(monkeypatch):
    from threadpoolctl import threadpool_info, threadpool_limits

    from core.config import analysis_threads, default_jobs, single_threaded_worker

    before = {m["prefix"]: m["num_threads"] for m in threadpool_info()}
    monkeypatch.setenv("HEAR_SCREENING_THREADS", "3")
    assert analysis_threads() == 3
    monkeypatch.setenv("HEAR_SCREENING_THREADS", "zero")  # not a count: the default
    assert analysis_threads() == min(4, default_jobs())
    monkeypatch.delenv("HEAR_SCREENING_THREADS")
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    single_threaded_worker()  # what every worker process of a batch runs first
    try:
        assert analysis_threads() == 1
    finally:
        threadpool_limits(before)  # this test process's BLAS and OpenMP threads as they were
