"""SPRSound fetch: progress, resume after an interrupted transfer, safe extraction, served on loopback."""
import http.server
import io
import threading
import zipfile

import pytest

from core.data.fetch import FetchError, download, fetch_sprsound, safe_extract


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


class _Server:
    """Serves one payload with Range support; can cut the first response short to simulate a dropped link."""

    def __init__(self, payload: bytes, cut_first_at: int | None = None):
        self.payload, self.cut, self.requests = payload, cut_first_at, []
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                rng = self.headers.get("Range")
                outer.requests.append(rng)
                start = int(rng.split("=")[1].split("-")[0]) if rng else 0
                body = outer.payload[start:]
                self.send_response(206 if rng else 200)
                self.send_header("Content-Length", str(len(body)))
                if rng:
                    self.send_header("Content-Range", f"bytes {start}-{len(outer.payload) - 1}/{len(outer.payload)}")
                self.end_headers()
                if outer.cut is not None and len(outer.requests) == 1:
                    self.wfile.write(body[: outer.cut])
                    self.wfile.flush()
                    self.connection.shutdown(2)
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/main.zip"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()


def test_fetch_resumes_and_extracts(tmp_path):
    payload = _zip({"SPRSound-main/BioCAS2022/train_json/a.json": b"{}", "SPRSound-main/README.md": b"x" * 300_000})
    srv = _Server(payload, cut_first_at=100_000)
    try:
        with pytest.raises(FetchError, match="resume"):
            download(srv.url, tmp_path / "SPRSound.zip", progress=False)
        assert (tmp_path / "SPRSound.zip.part").stat().st_size == 100_000
        root = fetch_sprsound(tmp_path, srv.url, progress=False)
    finally:
        srv.close()
    assert srv.requests == [None, "bytes=100000-"]
    assert (tmp_path / "SPRSound.zip").read_bytes() == payload
    assert root == tmp_path / "SPRSound-main" and (root / "BioCAS2022" / "train_json" / "a.json").is_file()


@pytest.mark.parametrize("name", ["../evil.txt", "/abs/evil.txt", "a/../../evil.txt"])
def test_extraction_refuses_path_traversal(tmp_path, name):
    z = tmp_path / "bad.zip"
    z.write_bytes(_zip({name: b"x", "ok.txt": b"y"}))
    with pytest.raises(FetchError, match="escape"):
        safe_extract(z, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists()


def test_unreachable_server_is_a_clear_error(tmp_path):
    with pytest.raises(FetchError, match="cannot reach"):
        download("http://127.0.0.1:9/none.zip", tmp_path / "x.zip", timeout=5, progress=False)
