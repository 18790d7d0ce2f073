"""Dataset embedding with Ray Data: the same cache entries as the local path, resumable after a failure, and the
training CLI's `--engine ray` end to end (in-process Ray on this machine)."""
from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("ray.data", reason="Ray is not installed")

from core.encoders.cache import EmbeddingCache  # noqa: E402
from core.data.datasets import scan  # noqa: E402
from core.data.embed import embed_units  # noqa: E402
from core.data.embed_ray import embed_with_ray  # noqa: E402
from core.encoders import get_encoder  # noqa: E402
from core.tasks import get_task  # noqa: E402
from tests.helpers import cry_like, write  # noqa: E402


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    data = tmp_path_factory.mktemp("ray") / "cry_pain"
    for i in range(6):
        for j in range(2):
            write(data / "pain_vaccination" / f"R{i:02d}_D{j:02d}.flac", cry_like(3.0, f0=580, seed=10 * i + j, harsh=1))
            write(data / "discomfort_bath" / f"R{i:02d}_B{j:02d}.flac", cry_like(3.0, f0=380, seed=10 * i + j + 5, harsh=0.2))
    (data / "pain_vaccination" / "R00_D09.flac").write_bytes(b"not audio" * 40)
    return data


@pytest.fixture(scope="module")
def ray_local():
    import ray

    yield
    if ray.is_initialized():
        ray.shutdown()


class _NoEmbedding:
    """Stands in for the encoder after a Ray run: the local pass must find everything in the cache."""

    def __init__(self, real):
        self.info = real.info

    def embed(self, windows):
        raise AssertionError("the local pass embedded a file the Ray run should have cached")


def test_ray_fills_the_same_cache_the_local_path_reads_and_resumes(dataset, tmp_path, ray_local):
    task = get_task("cry")
    units = scan(dataset, task.head("pain").dataset).units
    th = task.quality
    folder = tmp_path / "cache"
    r = embed_with_ray(units, "acoustic", folder, hop_s=1.0, thresholds=th, workers=2)
    assert (r.files, r.computed, r.already_cached, r.no_windows) == (25, 24, 0, 1)
    enc = get_encoder("acoustic")
    from_cache = embed_units(units, _NoEmbedding(enc), EmbeddingCache(folder), hop_s=1.0, thresholds=th)
    local = embed_units(units, enc, EmbeddingCache(), hop_s=1.0, thresholds=th)
    np.testing.assert_allclose(from_cache.X, local.X, rtol=1e-4, atol=1e-5)  # other process, other BLAS threads
    assert len(from_cache.skipped) == len(local.skipped) == 1  # the undecodable file, reported by the local pass

    entries = sorted(folder.rglob("*.npy"))
    for f in entries[::2]:  # a run that died part-way: half the files never written
        f.unlink()
    r2 = embed_with_ray(units, "acoustic", folder, hop_s=1.0, thresholds=th, workers=2)
    assert r2.computed == len(entries[::2]) and r2.already_cached == 24 - len(entries[::2])


def test_training_cli_with_the_ray_engine(dataset, tmp_path, monkeypatch, ray_local, capsys):
    from core.cli.train import main

    monkeypatch.setenv("HEAR_SCREENING_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "trained"
    rc = main(["--task", "cry", "--data", str(dataset), "--out", str(out), "--head", "pain", "--candidates", "logreg",
               "--folds", "3", "--test-fraction", "0.3", "--engine", "ray"])
    assert rc == 0
    assert "Ray: 25 files, 24 embedded now, 0 already in the cache, 1 without windows" in capsys.readouterr().out
    metrics = json.loads(next(out.rglob("metrics.json")).read_text())
    assert metrics["data"]["skipped_reasons"].get("undecodable audio") == 1
