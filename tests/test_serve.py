"""HeAR behind Ray Serve on loopback (stand-in SavedModel with HeAR's signature): the remote backend returns what the
in-process encoder returns, windows from concurrent clients are batched together, and a service that is down gets a
clear message."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

pytest.importorskip("ray.serve", reason="Ray Serve is not installed")

from bench.app_server import free_port  # noqa: E402
from core.encoders import EncoderUnavailable, get_encoder, hear_status, reset_encoders  # noqa: E402
from core.encoders.hear import HearEncoder, HearSource  # noqa: E402
from core.encoders.remote import RemoteHearEncoder  # noqa: E402


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from tests.standin_hear import build

    return build(tmp_path_factory.mktemp("hear") / "model")


@pytest.fixture(scope="module")
def served(model):
    from core.encoders import serve as serve_hear

    url = serve_hear.start(model, port=free_port(), max_batch=16, wait_ms=50, num_cpus=2)
    try:
        yield url
    finally:
        serve_hear.stop()


def _windows(n: int, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal((n, 32000))).astype(np.float32)


def test_remote_embeddings_equal_the_in_process_encoder(served, model):
    remote = RemoteHearEncoder(served, batch_size=7)  # several requests per call
    local = HearEncoder(HearSource(model, "local folder"))
    x = _windows(20)
    np.testing.assert_allclose(remote.embed(x), local.embed(x), rtol=1e-5, atol=1e-6)
    assert remote.info.identity == local.info.identity  # same heads, same cache entries
    assert remote.embed(x[:0]).shape == (0, 512)


def test_concurrent_clients_are_batched_together(served):
    remote = RemoteHearEncoder(served)
    before = {int(k): v for k, v in remote.stats()["batch_sizes"].items()}
    xs = [_windows(3, seed=i) for i in range(12)]
    out: dict[int, np.ndarray] = {}

    def client(i: int) -> None:
        out[i] = RemoteHearEncoder(served).embed(xs[i])

    threads = [threading.Thread(target=client, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    after = {int(k): v for k, v in remote.stats()["batch_sizes"].items()}
    new = {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) > before.get(k, 0)}
    assert sum(k * v for k, v in new.items()) == 36  # every window went through a batch
    assert max(new) > 3  # windows of different clients shared a model call
    assert max(new) <= 16  # the configured maximum
    for i in range(12):
        np.testing.assert_allclose(out[i], remote.embed(xs[i]), rtol=1e-5, atol=1e-6)


def test_the_app_uses_the_remote_backend_when_configured(served, monkeypatch):
    monkeypatch.setenv("HEAR_SCREENING_REMOTE_HEAR", served)
    monkeypatch.setenv("HEAR_MODEL_DIR", "")
    reset_encoders()
    try:
        status = hear_status()
        assert status.available and "Ray Serve" in status.reason
        assert isinstance(get_encoder("hear"), RemoteHearEncoder)
    finally:
        reset_encoders()


def test_a_bad_request_is_refused_not_retried(served):
    remote = RemoteHearEncoder(served)
    with pytest.raises(EncoderUnavailable, match="HTTP 400"):
        remote._request("/embed", b"not an array", 10)


def test_service_down_gets_a_clear_message_quickly(monkeypatch):
    url = f"http://127.0.0.1:{free_port()}/hear"  # nothing listens there
    t0 = time.time()
    with pytest.raises(EncoderUnavailable, match="not answering.*core serve-hear"):
        RemoteHearEncoder(url)
    assert time.time() - t0 < 10
    monkeypatch.setenv("HEAR_SCREENING_REMOTE_HEAR", url)
    reset_encoders()
    try:
        status = hear_status()
        assert not status.available and "not answering" in status.reason
    finally:
        reset_encoders()


def test_serve_cli_refuses_a_folder_without_a_saved_model(tmp_path, capsys):
    from core.encoders.serve import main

    assert main(["--model-dir", str(tmp_path)]) == 2
    assert "holds no saved_model.pb" in capsys.readouterr().err
