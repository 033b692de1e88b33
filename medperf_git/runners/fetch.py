"""Downloads into a cache keyed by sha256: resumable, proxy-aware, verified on every use.

A cached file is re-hashed each time it is handed out, so a file altered on disk after download is caught
instead of being run. Partial downloads are kept under ``partial/`` and resumed with an HTTP Range request.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

from medperf_git.errors import DownloadError, HashMismatch
from medperf_git.hashing.files import normalize_sha256, sha256_file
from medperf_git.workspace.atomic import file_lock

CHUNK = 1 << 20
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _check_url(url: str, allow_file: bool) -> urllib.parse.SplitResult:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https":
        return parts
    if parts.scheme == "http" and parts.hostname in LOOPBACK:
        return parts  # local test servers only; anything else must be https
    if parts.scheme == "file":
        if allow_file:
            return parts
        raise DownloadError(f"{url}: file:// URLs are not allowed by this registry",
                            hint="publish the file at an https:// URL, or ask the registry admins to allow file://")
    raise DownloadError(f"{url}: only https:// URLs are accepted")


def _expected_hex(url: str, expected: str | None) -> str | None:
    if expected is None:
        return None
    try:
        return normalize_sha256(expected).split(":", 1)[1]
    except ValueError:
        raise DownloadError(f"{url}: the recorded hash {expected!r} is not a sha256") from None


def _verified_cache(url: str, final: Path, hexdigest: str) -> Path | None:
    if not final.exists():
        return None
    found = sha256_file(final)
    if found != "sha256:" + hexdigest:
        final.unlink(missing_ok=True)
        raise HashMismatch(f"{url} (cached copy {final})", "sha256:" + hexdigest, found,
                           hint="the cached file was altered on disk and has been removed; run the command again "
                                "to download it again")
    return final


def fetch(url: str, expected: str | None, cache_dir: Path, *, allow_file: bool = False,
          progress: Callable[[int], None] | None = None, timeout: float = 60) -> Path:
    """The cached, verified file for ``url``; downloads (or resumes) it when it is not cached yet.

    ``expected`` is ``sha256:<hex>`` (or bare hex); ``None`` downloads, hashes and caches the file, and the caller
    records ``sha256_file(result)``.
    """
    parts = _check_url(url, allow_file)
    hexdigest = _expected_hex(url, expected)
    cache_dir = Path(cache_dir)
    store = cache_dir / "sha256"
    key = hexdigest or "url-" + hashlib.sha256(url.encode("utf-8")).hexdigest()
    partial = cache_dir / "partial" / f"{key}.partial"
    # One download per cache entry at a time, across processes.
    with file_lock(cache_dir / "partial" / f"{key}.lock"):
        if hexdigest is not None:
            cached = _verified_cache(url, store / hexdigest, hexdigest)
            if cached is not None:
                return cached
        hasher = hashlib.sha256()
        if parts.scheme == "file":
            _copy_local(url, parts, partial, hasher, progress)
        else:
            _download(url, partial, hasher, progress, timeout)
        found = hasher.hexdigest()
        if hexdigest is not None and found != hexdigest:
            partial.unlink(missing_ok=True)
            raise HashMismatch(url, "sha256:" + hexdigest, "sha256:" + found,
                               hint="the file at this URL is not the one the registry pins; nothing was kept")
        final = store / found
        store.mkdir(parents=True, exist_ok=True)
        os.replace(partial, final)
        return final


def _copy_local(url: str, parts: urllib.parse.SplitResult, partial: Path, hasher: hashlib._Hash,
                progress: Callable[[int], None] | None) -> None:
    source = urllib.request.url2pathname(parts.path)
    if parts.netloc not in ("", "localhost"):
        raise DownloadError(f"{url}: file:// URLs must name a local path (file:///...)")
    partial.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(source, "rb") as src, open(partial, "wb") as dst:
            while chunk := src.read(CHUNK):
                hasher.update(chunk)
                dst.write(chunk)
                if progress is not None:
                    progress(len(chunk))
            dst.flush()
            os.fsync(dst.fileno())
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise DownloadError(f"{url}: cannot read {source} ({exc.strerror})") from exc


def _rehash_partial(partial: Path, hasher: hashlib._Hash) -> int:
    """Feed what an earlier attempt already downloaded into the hash; its size is where to resume."""
    done = 0
    with open(partial, "rb") as handle:
        while chunk := handle.read(CHUNK):
            hasher.update(chunk)
            done += len(chunk)
    return done


def _download(url: str, partial: Path, hasher: hashlib._Hash, progress: Callable[[int], None] | None,
              timeout: float) -> None:
    partial.parent.mkdir(parents=True, exist_ok=True)
    have = partial.stat().st_size if partial.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "medperf-git", "Accept-Encoding": "identity"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        # A fresh opener reads http_proxy, https_proxy and no_proxy now (urlopen's global one caches them).
        response = urllib.request.build_opener().open(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:
            # Nothing left to send from that offset: start again from scratch rather than trust the partial.
            partial.unlink(missing_ok=True)
            return _download(url, partial, hasher, progress, timeout)
        raise DownloadError(f"download of {url} failed: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise DownloadError(f"download of {url} failed: {reason}",
                            hint="check the network and the proxy variables (https_proxy, no_proxy)") from exc
    with response:
        resumed = have and response.status == 206 and _range_start(response.headers.get("Content-Range")) == have
        mode = "ab" if resumed else "wb"
        if resumed:
            _rehash_partial(partial, hasher)
            if progress is not None:
                progress(have)
        length = response.headers.get("Content-Length")
        expected_len = int(length) if length and length.isdigit() else None
        received = 0
        try:
            with open(partial, mode) as dst:
                while chunk := response.read(CHUNK):
                    hasher.update(chunk)
                    dst.write(chunk)
                    received += len(chunk)
                    if progress is not None:
                        progress(len(chunk))
                dst.flush()
                os.fsync(dst.fileno())
        except (OSError, http.client.HTTPException) as exc:
            raise DownloadError(f"download of {url} interrupted after {have + received} bytes: {exc}",
                                hint="run the command again; the download resumes where it stopped") from exc
    if expected_len is not None and received != expected_len:
        raise DownloadError(f"download of {url} interrupted: got {received} of {expected_len} bytes",
                            hint="run the command again; the download resumes where it stopped")


def _range_start(content_range: str | None) -> int | None:
    """The first byte of ``Content-Range: bytes START-END/TOTAL``."""
    if not content_range or not content_range.startswith("bytes "):
        return None
    start = content_range[6:].split("-", 1)[0]
    return int(start) if start.isdigit() else None
