"""Fetch SPRSound from its public GitHub repository, for users with internet access.

`python -m core fetch sprsound --dest data/` downloads the repository archive with a progress bar, resumes a
partial download (HTTP Range) after an interruption, and unpacks it safely (no path escapes the destination).
Then train with `python -m core train --task respiratory --data data/SPRSound-main`.
"""
from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

SPRSOUND_URL = "https://github.com/SJTU-YONGFU-RESEARCH-GRP/SPRSound/archive/refs/heads/main.zip"
CHUNK = 1 << 20


class FetchError(RuntimeError):
    pass


def download(url: str, dest: Path, *, timeout: float = 30.0, progress: bool = True) -> Path:
    """Download to `dest`, resuming from `dest.part` when the server honours Range requests."""
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # already complete
            part.replace(dest)
            return dest
        raise FetchError(f"download failed: HTTP {exc.code} for {url}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise FetchError(f"cannot reach {url}: {exc}") from exc
    with resp:
        resumed = resp.status == 206
        if not resumed:
            have = 0  # the server sent everything again
        length = resp.headers.get("Content-Length")
        total = have + int(length) if length else None
        from tqdm import tqdm

        bar = tqdm(total=total, initial=have, unit="B", unit_scale=True, desc=dest.name, disable=not progress,
                   file=sys.stderr)
        with open(part, "ab" if resumed else "wb") as fh:
            while True:
                try:
                    chunk = resp.read(CHUNK)
                except OSError as exc:
                    bar.close()
                    raise FetchError(f"connection lost after {fh.tell()} bytes; run again to resume") from exc
                if not chunk:
                    break
                fh.write(chunk)
                bar.update(len(chunk))
        bar.close()
    if total is not None and part.stat().st_size < total:
        raise FetchError(f"incomplete download ({part.stat().st_size} of {total} bytes); run again to resume")
    part.replace(dest)
    return dest


def safe_extract(archive: Path, dest: Path) -> list[Path]:
    """Extract a zip, refusing members that would land outside `dest` (absolute paths, `..`, links)."""
    dest = dest.resolve()
    out = []
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            target = (dest / info.filename).resolve()
            if not target.is_relative_to(dest):
                raise FetchError(f"archive member {info.filename!r} would escape {dest}; refusing to extract")
            if (info.external_attr >> 16) & 0o170000 == 0o120000:
                raise FetchError(f"archive member {info.filename!r} is a symbolic link; refusing to extract")
        for info in zf.infolist():
            zf.extract(info, dest)
            out.append(dest / info.filename)
    return out


def fetch_sprsound(dest: Path, url: str = SPRSOUND_URL, progress: bool = True) -> Path:
    archive = download(url, dest / "SPRSound.zip", progress=progress)
    try:
        members = safe_extract(archive, dest)
    except zipfile.BadZipFile as exc:
        archive.unlink(missing_ok=True)
        raise FetchError("the downloaded archive is not a valid zip; it was removed, run again") from exc
    top = {m.relative_to(dest).parts[0] for m in members if m != dest}
    root = dest / sorted(top)[0] if len(top) == 1 else dest
    return root


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m core fetch", description=__doc__)
    ap.add_argument("dataset", choices=["sprsound"])
    ap.add_argument("--dest", type=Path, default=Path("data"))
    ap.add_argument("--url", default=SPRSOUND_URL, help="archive URL (default: the official GitHub repository)")
    args = ap.parse_args(argv)
    try:
        root = fetch_sprsound(args.dest, args.url)
    except FetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"SPRSound is in {root}\nTrain with: python -m core train --task respiratory --data {root}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
