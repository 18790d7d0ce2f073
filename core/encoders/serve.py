"""HeAR behind Ray Serve: one SavedModel per replica (on its GPU when it has one); concurrent requests are gathered
with `@serve.batch` and their windows embedded together, `max_batch` windows per model call.

    python -m core serve-hear --model-dir /models/hear [--replicas 2] [--max-batch 64] [--wait-ms 10] [--port 8000]
    python -m core serve-hear --address ray://head:10001 ...      # an existing cluster

Protocol (what `core.encoders.remote.RemoteHearEncoder` speaks): `GET {route}/info` returns the encoder's identity as
JSON; `POST {route}/embed` with a .npy float32 [n, 32000] body returns a .npy float32 [n, 512]. `GET {route}/stats`
returns the batch sizes this replica has run (the tests check that batching really happens).
"""
from __future__ import annotations

import argparse
import asyncio
import io
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from core.config import WINDOW_SAMPLES

ROUTE = "/hear"
APP_NAME = "hear"


def npy_bytes(x: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(x, dtype=np.float32), allow_pickle=False)
    return buf.getvalue()


def npy_array(data: bytes) -> np.ndarray:
    return np.load(io.BytesIO(data), allow_pickle=False)


def build_app(model_dir: str | Path, replicas: int = 1, max_batch: int = 64, wait_ms: float = 10.0,
              gpus_per_replica: float | None = None, max_requests: int = 32):
    """The Serve application (not started). Ray is imported here, so the rest of `core` never needs it."""
    from ray import serve
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response

    if gpus_per_replica is None:
        gpus_per_replica = 0.0

    @serve.deployment(num_replicas=replicas, ray_actor_options={"num_gpus": gpus_per_replica},
                      max_ongoing_requests=256)
    class HearDeployment:
        def __init__(self, model_dir: str, max_batch: int, max_requests: int, wait_s: float):
            from core.encoders.hear import HearEncoder, HearSource

            # loaded once per replica; the encoder's own batching then splits what @serve.batch gathered
            self.encoder = HearEncoder(HearSource(Path(model_dir), "Ray Serve replica"), batch_size=max_batch)
            self.max_batch = max_batch
            self.embed_requests.set_max_batch_size(max_requests)
            self.embed_requests.set_batch_wait_timeout_s(wait_s)
            self.batch_sizes: Counter[int] = Counter()

        @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.01)
        async def embed_requests(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
            """Requests that arrive together share model calls: their windows are concatenated, embedded in
            chunks of `max_batch` (the encoder's batch size, e.g. what fits the GPU) and split back."""
            x = np.concatenate(arrays)
            for i in range(0, len(x), self.max_batch):
                self.batch_sizes[min(self.max_batch, len(x) - i)] += 1
            y = await asyncio.get_running_loop().run_in_executor(None, self.encoder.embed, x)
            return np.split(y, np.cumsum([len(a) for a in arrays])[:-1])

        async def __call__(self, request: Request):
            path = request.url.path.rstrip("/")
            if path.endswith("/info"):
                i = self.encoder.info
                return JSONResponse({"name": i.name, "version": i.version, "dim": i.dim, "fingerprint": i.fingerprint,
                                     "device": self.encoder.device, "max_batch": self.max_batch})
            if path.endswith("/stats"):
                return JSONResponse({"batch_sizes": {str(k): v for k, v in sorted(self.batch_sizes.items())}})
            if path.endswith("/embed") and request.method == "POST":
                try:
                    x = npy_array(await request.body())
                except ValueError:
                    return JSONResponse({"error": "body is not a .npy array"}, status_code=400)
                if x.ndim != 2 or x.shape[1] != WINDOW_SAMPLES or x.dtype != np.float32:
                    return JSONResponse({"error": f"expected float32 [n, {WINDOW_SAMPLES}], got {x.dtype} {x.shape}"},
                                        status_code=400)
                out = await self.embed_requests(x) if len(x) else np.zeros((0, self.encoder.info.dim), np.float32)
                return Response(npy_bytes(out), media_type="application/octet-stream")
            return JSONResponse({"error": "unknown endpoint; use /info, /stats or POST /embed"}, status_code=404)

    return HearDeployment.bind(str(model_dir), max_batch, max_requests, wait_ms / 1000.0)


def start(model_dir: str | Path, *, address: str | None = None, port: int = 8000, host: str = "127.0.0.1",
          replicas: int = 1, max_batch: int = 64, wait_ms: float = 10.0, gpus_per_replica: float | None = None,
          num_cpus: int | None = None, max_requests: int = 32) -> str:
    """Start (or join) Ray, run the application, and return its URL. With no address Ray starts in-process."""
    import ray
    from ray import serve

    if not ray.is_initialized():
        if address:
            ray.init(address=address)
        else:
            ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
    if gpus_per_replica is None:
        gpus_per_replica = 1.0 if ray.cluster_resources().get("GPU", 0) >= replicas else 0.0
    serve.start(http_options={"host": host, "port": port})
    serve.run(build_app(model_dir, replicas, max_batch, wait_ms, gpus_per_replica, max_requests), name=APP_NAME,
              route_prefix=ROUTE)
    return f"http://{host}:{port}{ROUTE}"


def stop() -> None:
    import ray
    from ray import serve

    serve.shutdown()
    ray.shutdown()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m core serve-hear", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", type=Path, required=True, help="the HeAR SavedModel folder on every node")
    ap.add_argument("--address", default=None, help="an existing Ray cluster (default: start Ray in this process)")
    ap.add_argument("--host", default="127.0.0.1", help="HTTP host (0.0.0.0 to serve other machines)")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--replicas", type=int, default=1)
    ap.add_argument("--max-batch", type=int, default=64,
                    help="windows per model call (the encoder's batch: size it to the GPU's memory)")
    ap.add_argument("--max-requests", type=int, default=32, help="concurrent requests gathered into one batch")
    ap.add_argument("--wait-ms", type=float, default=10.0, help="how long a batch waits for more requests")
    args = ap.parse_args(argv)
    if not (args.model_dir / "saved_model.pb").is_file():
        print(f"error: {args.model_dir} holds no saved_model.pb", file=sys.stderr)
        return 2
    url = start(args.model_dir, address=args.address, port=args.port, host=args.host, replicas=args.replicas,
                max_batch=args.max_batch, wait_ms=args.wait_ms, max_requests=args.max_requests)
    print(f"HeAR served at {url} (set HEAR_SCREENING_REMOTE_HEAR={url} for the app); Ctrl-C stops it", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
