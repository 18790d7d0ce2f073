"""HeAR served elsewhere (Ray Serve, `python -m core serve-hear`): same encoder identity as the in-process HeAR, so
the same heads and cache entries apply; windows are sent in batches over HTTP with timeouts and retries.

Selected by configuration: `HEAR_SCREENING_REMOTE_HEAR=http://host:8000/hear`.
"""
from __future__ import annotations

import http.client
import json
import os
import threading
import time
import urllib.parse

import numpy as np

from core.config import WINDOW_SAMPLES
from .base import EncoderInfo, EncoderUnavailable, check_windows

ENV = "HEAR_SCREENING_REMOTE_HEAR"


def remote_hear_url() -> str | None:
    value = os.environ.get(ENV, "").strip().rstrip("/")
    return value or None


class RemoteHearEncoder:
    """Client of the Serve application. `batch_size` windows go in one request (the server re-batches them with
    other clients' windows); a request is retried `retries` times on a connection error or a 5xx answer."""

    def __init__(self, url: str, *, timeout_s: float = 60.0, retries: int = 2, batch_size: int = 64,
                 info_timeout_s: float = 5.0):
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self.retries = retries
        self.batch_size = batch_size
        self._parts = urllib.parse.urlsplit(self.url)
        if self._parts.scheme not in ("http", "https") or not self._parts.hostname:
            raise EncoderUnavailable(f"{ENV}={url!r} is not an http(s) URL such as http://host:8000/hear")
        self._local = threading.local()
        try:
            meta = json.loads(self._request("/info", None, info_timeout_s, retries=0))
        except EncoderUnavailable as exc:
            raise EncoderUnavailable(f"Remote HeAR at {self.url} is not answering ({exc}). Start it with "
                                     f"`python -m core serve-hear --model-dir ...` or unset {ENV}.") from None
        self.device = f"remote {meta.get('device', '?')}"
        self.info = EncoderInfo(name=meta["name"], version=meta["version"], dim=int(meta["dim"]),
                                label=f"Google HeAR (Ray Serve at {self.url}, {meta.get('device', '?')})",
                                fingerprint=meta.get("fingerprint", ""))

    def _connection(self, timeout_s: float) -> http.client.HTTPConnection:
        """One kept-alive connection per thread (the app shares one encoder across sessions' threads)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            cls = http.client.HTTPSConnection if self._parts.scheme == "https" else http.client.HTTPConnection
            conn = self._local.conn = cls(self._parts.hostname, self._parts.port, timeout=timeout_s)
        conn.timeout = timeout_s
        if conn.sock is not None:
            conn.sock.settimeout(timeout_s)
        return conn

    def _request(self, path: str, body: bytes | None, timeout_s: float, retries: int | None = None) -> bytes:
        retries = self.retries if retries is None else retries
        last = ""
        for attempt in range(retries + 1):
            conn = self._connection(timeout_s)
            try:
                conn.request("POST" if body is not None else "GET", self._parts.path + path, body=body,
                             headers={"Content-Type": "application/octet-stream"})
                resp = conn.getresponse()
                data = resp.read()
            except (OSError, http.client.HTTPException) as exc:  # refused, reset, timed out, closed by the server
                conn.close()
                self._local.conn = None
                last = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            else:
                if resp.status < 400:
                    return data
                detail = data[:300].decode("utf-8", "replace")
                if resp.status < 500:  # the request itself is wrong: retrying will not help
                    raise EncoderUnavailable(f"remote HeAR refused the request (HTTP {resp.status}: {detail})")
                last = f"HTTP {resp.status}: {detail}"
            if attempt < retries:
                time.sleep(0.5 * 2 ** attempt)
        raise EncoderUnavailable(f"remote HeAR at {self.url} failed after {retries + 1} attempt(s): {last}")

    def embed(self, windows: np.ndarray) -> np.ndarray:
        from core.encoders.serve import npy_array, npy_bytes

        x = check_windows(windows, WINDOW_SAMPLES)
        out = np.zeros((len(x), self.info.dim), np.float32)
        for i in range(0, len(x), self.batch_size):
            y = npy_array(self._request("/embed", npy_bytes(x[i:i + self.batch_size]), self.timeout_s))
            if y.shape != (len(x[i:i + self.batch_size]), self.info.dim):
                raise EncoderUnavailable(f"remote HeAR returned shape {y.shape}")
            out[i:i + len(y)] = y
        return out

    def stats(self) -> dict:
        return json.loads(self._request("/stats", None, self.timeout_s))
