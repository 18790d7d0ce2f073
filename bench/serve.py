"""Windows/s of HeAR in process versus behind Ray Serve (1 and 2 replicas), with 1, 4 and 16 concurrent clients.

    .venv/bin/python -m bench.serve [--seconds 6] [--windows-per-request 8]

Runs on the stand-in SavedModel with HeAR's signature (tests/standin_hear.py): the figures measure the serving path
(HTTP, Serve's router, @serve.batch, the production loader), not HeAR's ViT, whose cost per window is far larger and
would shrink the relative overhead. Ray starts in this process on loopback; each client is a thread sending
requests of a clip's windows back to back.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

CLIENTS = (1, 4, 16)


def throughput(make_encoder, clients: int, seconds: float, per_request: int) -> float:
    x = (0.1 * np.random.default_rng(0).standard_normal((per_request, 32000))).astype(np.float32)
    encoders = [make_encoder() for _ in range(clients)]
    for e in encoders:
        e.embed(x[:1])  # warm (connections, graph)
    done = [0] * clients
    stop = time.perf_counter() + seconds

    def run(i: int) -> None:
        while time.perf_counter() < stop:
            encoders[i].embed(x)
            done[i] += per_request

    t0 = time.perf_counter()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done) / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=6.0, help="per configuration")
    ap.add_argument("--windows-per-request", type=int, default=8, help="windows a client sends at once (one clip)")
    ap.add_argument("--max-batch", type=int, default=64)
    ap.add_argument("--wait-ms", type=float, default=5.0)
    ap.add_argument("--model-dir", type=Path, default=None,
                    help="the real HeAR SavedModel (e.g. on a GPU node) instead of the stand-in")
    args = ap.parse_args(argv)

    from bench.app_server import free_port
    from core.encoders import serve as serve_hear
    from core.encoders.hear import HearEncoder, HearSource
    from core.encoders.remote import RemoteHearEncoder
    from tests.standin_hear import build

    model = args.model_dir or build(Path(tempfile.mkdtemp(prefix="hear-standin-")) / "model")
    what = "HeAR" if args.model_dir else "stand-in HeAR"
    local = HearEncoder(HearSource(model, "local folder"))
    rows = {"in process": [throughput(lambda: local, c, args.seconds, args.windows_per_request) for c in CLIENTS]}
    port = free_port()
    for replicas in (1, 2):
        url = serve_hear.start(model, port=port, replicas=replicas, max_batch=args.max_batch, wait_ms=args.wait_ms)
        rows[f"Ray Serve, {replicas} replica(s)"] = [
            throughput(lambda: RemoteHearEncoder(url), c, args.seconds, args.windows_per_request) for c in CLIENTS]
        batches = RemoteHearEncoder(url).stats()["batch_sizes"]
        sizes = np.repeat([int(k) for k in batches], list(batches.values()))
        print(f"  {replicas} replica(s): model calls observed by one replica: {len(sizes)}, batch size "
              f"median {np.median(sizes):.0f}, max {sizes.max()}", flush=True)
    serve_hear.stop()
    import os

    print(f"\nwindows/s, {what} ({local.device}), {args.windows_per_request} windows per request, "
          f"{os.cpu_count()} CPU(s)")
    print(f"  {'backend':<28s}" + "".join(f"{f'{c} client(s)':>14s}" for c in CLIENTS))
    for name, vals in rows.items():
        print(f"  {name:<28s}" + "".join(f"{v:>14.0f}" for v in vals))
    base = rows["in process"]
    for name, vals in rows.items():
        if name != "in process":
            print(f"  {name + ' / in process':<28s}" + "".join(f"{v / b:>13.2f}x" for v, b in zip(vals, base)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
