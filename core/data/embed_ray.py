"""Dataset embedding on a Ray cluster (Ray Data): files are spread over workers, each worker loads the encoder once
and writes every file's embeddings into the same disk cache the local path reads, keyed the same way. Training then
runs unchanged and finds every file in the cache.

Resumable by construction: a file whose cache entry exists is skipped, so a run that died part-way picks up where it
stopped. On several machines the cache folder must be shared (NFS or similar) and the dataset reachable at the same
path on every node.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from core.encoders.cache import EmbeddingCache, cache_key
from core.config import QualityThresholds
from core.data.datasets import Unit
from core.data.embed import file_windows, units_by_file

PASSED_ENV = ("HEAR_MODEL_DIR", "HEAR_SCREENING_REMOTE_HEAR", "HF_TOKEN", "HF_HUB_OFFLINE", "HF_HOME",
              "HEAR_SCREENING_CACHE_DIR", "TF_CPP_MIN_LOG_LEVEL")


@dataclass(frozen=True)
class RayEmbedReport:
    files: int
    computed: int  # files embedded by this run
    already_cached: int  # files a previous (perhaps interrupted) run had done
    no_windows: int  # undecodable or empty files: the local path reports why when it reads them
    windows: int


class _EmbedFiles:
    """A Ray Data actor: the encoder is loaded once per worker (HeAR: once per GPU)."""

    def __init__(self, encoder_name: str, cache_folder: str, units: list[Unit], views: tuple[str, ...],
                 hop_s: float, thresholds: QualityThresholds | None, window_features: tuple[str, ...] = ()):
        from core.encoders import get_encoder

        self.encoder = get_encoder(encoder_name, allow_download=False, window_features=window_features)
        self.cache = EmbeddingCache(Path(cache_folder))
        self.units, self.views, self.hop_s, self.thresholds = units, views, hop_s, thresholds

    def __call__(self, batch: dict) -> dict:
        status, windows = [], []
        for path, idx in zip(batch["path"], batch["idx"]):
            fw = file_windows(str(path), [int(i) for i in idx], self.units, self.views, self.hop_s, self.thresholds)
            if not fw.parts:
                status.append("no windows")
                windows.append(0)
                continue
            x = fw.batch()
            key = cache_key(x, self.encoder.info.identity)
            if self.cache.on_disk(key):
                status.append("cached")
            else:
                self.cache.put(key, self.encoder.embed(x))
                status.append("computed")
            windows.append(len(x))
        return {"path": list(batch["path"]), "status": status, "windows": windows}


def embed_with_ray(units: list[Unit], encoder_name: str, cache_folder: Path, *, hop_s: float,
                   thresholds: QualityThresholds | None, views: tuple[str, ...] = ("context",),
                   address: str | None = None, workers: int | None = None,
                   window_features: tuple[str, ...] = ()) -> RayEmbedReport:
    """Fill `cache_folder` with the embeddings `embed_units` will ask for (the same encoder, with the task's
    `window_features`). Ray starts in-process unless `address` names a cluster."""
    import ray

    if not ray.is_initialized():
        env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
        kw = {"runtime_env": {"env_vars": env}, "log_to_driver": False}
        if address:
            ray.init(address=address, **kw)
        else:
            ray.init(include_dashboard=False, **kw)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # the training CLI prints its own summary
    ctx.print_on_execution_start = False
    files = units_by_file(units)
    workers = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
    ds = ray.data.from_items([{"path": p, "idx": idx} for p, idx in files.items()])
    out = ds.map_batches(_EmbedFiles, batch_size=1, concurrency=workers, num_cpus=1,
                         fn_constructor_args=(encoder_name, str(cache_folder), units, views, hop_s, thresholds,
                                              window_features))
    rows = out.take_all()
    count = {s: sum(r["status"] == s for r in rows) for s in ("computed", "cached", "no windows")}
    return RayEmbedReport(len(files), count["computed"], count["cached"], count["no windows"],
                          sum(int(r["windows"]) for r in rows))
