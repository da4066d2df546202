"""Fetch a dataset's official files into a folder and verify them.

Sources: the official base URLs (torchvision's, tried in order) or, when a mirror is given, only
`<mirror>/<dataset>/<official file name>`, the mirror being a local directory or a file://,
http:// or https:// URL. Network errors are retried with exponential backoff; a missing file
(HTTP 4xx, or absent from a local mirror) is not.

Each fetched file is then checked, in this order:
1. it decompresses completely and its format agrees with itself (IDX header vs. data size; the
   CIFAR tar holds every batch with consistent shapes). Always, even for unverified data: a
   truncated or corrupt file is an error.
2. its archive md5 equals the official one -> verified_by "archive"; otherwise the md5 of its
   decompressed content equals the official content md5 -> verified_by "content" (a mirror that
   recompressed the official file, like Debian's dataset-fashion-mnist);
3. otherwise it is unverified: a `ChecksumError` naming the file, the expected and the actual
   checksums, unless `allow_unverified`, when it is kept with verified_by None.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import shutil
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from torchvision.datasets.utils import calculate_md5

from advgrad import __version__
from advgrad.data import cifar, idx
from advgrad.data.sources import DatasetSource, SourceFile

log = logging.getLogger("advgrad")

USER_AGENT = f"advgrad/{__version__}"
TIMEOUT = 60.0  # seconds without data before a connection counts as failed


class DownloadError(RuntimeError):
    """A file could not be fetched or is invalid; the message is one line naming it and the cause."""


class ChecksumError(DownloadError):
    """A well-formed file whose checksums match neither the official archive nor its content."""


@dataclass(frozen=True)
class Retry:
    """Network retry policy: `attempts` tries per URL; the k-th retry waits `delay * 2**(k-1)` s."""

    attempts: int = 4
    delay: float = 1.0


def file_sources(spec: DatasetSource, name: str, mirror: str | None = None) -> list[str]:
    """Where to fetch `name` from, in order: official URLs, or the single mirror location."""
    if mirror is None:
        return [base.rstrip("/") + "/" + name for base in spec.urls]
    if urlparse(mirror).scheme in ("http", "https", "file"):
        return [f"{mirror.rstrip('/')}/{spec.name}/{name}"]
    return [str(Path(mirror) / spec.name / name)]


def _download(url: str, dest: Path, retry: Retry) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    cause = ""
    for attempt in range(1, retry.attempts + 1):
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response, open(dest, "wb") as f:
                shutil.copyfileobj(response, f, 1 << 20)
                expected = response.headers.get("Content-Length")
            size = dest.stat().st_size
            if expected is None or size == int(expected):
                return
            # A connection that closes early is a network error like any other: retry it.
            cause = f"connection closed after {size} of {expected} bytes"
        except urllib.error.HTTPError as e:
            if e.code < 500 and e.code != 429:  # the server answered: the file is not there
                raise DownloadError(f"{url}: HTTP {e.code} {e.reason}") from None
            cause = f"HTTP {e.code} {e.reason}"
        except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
            cause = str(getattr(e, "reason", None) or e) or type(e).__name__
        if attempt < retry.attempts:
            wait = retry.delay * 2 ** (attempt - 1)
            log.warning("%s: %s; retry %d/%d in %.1f s", url, cause, attempt, retry.attempts - 1, wait)
            time.sleep(wait)
    raise DownloadError(f"{url}: unreachable after {retry.attempts} attempts ({cause})")


def fetch_file(source: str, dest: Path, retry: Retry = Retry()) -> None:
    """Copy one file from a URL (http, https, file) or a local path to `dest`."""
    parsed = urlparse(source)
    if parsed.scheme in ("http", "https"):
        _download(source, dest, retry)
        return
    path = Path(urllib.request.url2pathname(parsed.path)) if parsed.scheme == "file" else Path(source)
    if not path.is_file():
        raise DownloadError(f"{source}: no such file")
    shutil.copyfile(path, dest)


def _mismatch(file: SourceFile, archive_md5: str, content) -> str:
    """'archive md5 X (expected Y), <content> md5 Z (expected W)' for the first differing part."""
    text = f"archive md5 {archive_md5} (expected {file.md5 or 'unknown'})"
    if not isinstance(file.content_md5, dict):
        return text + f", decompressed content md5 {content} (expected {file.content_md5 or 'unknown'})"
    for member, expected in file.content_md5.items():
        if content.get(member) != expected:
            return text + f", member {member} md5 {content.get(member, 'missing')} (expected {expected})"
    return text


def verify_file(path: Path, file: SourceFile, source: str, allow_unverified: bool = False) -> dict:
    """Validate one fetched file (module docstring) and return its manifest record."""
    try:  # decompress and validate the whole file; content: the md5(s) of its content (SourceFile)
        if file.kind == "idx":
            data = idx.read_bytes(path, name=source)
            idx.parse_idx(data, name=source)
            content = hashlib.md5(data).hexdigest()
        elif file.kind == "cifar-tar":
            content = cifar.read_cifar_tar(path, name=source).member_md5
        else:
            raise ValueError(f"unknown file kind {file.kind!r}")
    except (idx.IdxFormatError, cifar.CifarFormatError) as e:
        raise DownloadError(str(e)) from None
    archive_md5 = calculate_md5(path)  # torchvision's helper, as its datasets use
    if file.md5 and archive_md5 == file.md5:
        verified_by = "archive"
    elif file.content_md5 and content == file.content_md5:
        verified_by = "content"
    elif not allow_unverified:
        raise ChecksumError(f"{source}: checksum mismatch: {_mismatch(file, archive_md5, content)}")
    else:
        verified_by = None
        log.warning("%s: UNVERIFIED (%s)", source, _mismatch(file, archive_md5, content))
    return {"md5": archive_md5, "content_md5": content, "verified_by": verified_by, "source": source}


def fetch_dataset(
    spec: DatasetSource,
    dest_dir: Path,
    mirror: str | None = None,
    allow_unverified: bool = False,
    retry: Retry = Retry(),
) -> dict:
    """Fetch and verify every file of `spec` into the existing folder `dest_dir`.

    Returns the manifest: {"dataset", "verified", "files": {name: record}}. Raises DownloadError
    at the first file that cannot be fetched or fails verification; the caller owns `dest_dir`
    and removes it then (stages/download.py fetches into a temporary folder).
    """
    files = {}
    for file in spec.files:
        dest = Path(dest_dir) / file.name
        errors = []
        for source in file_sources(spec, file.name, mirror):
            try:
                fetch_file(source, dest, retry)
                break
            except DownloadError as e:
                errors.append(str(e))
        else:
            raise DownloadError(f"{file.name}: could not fetch it: {'; '.join(errors)}")
        files[file.name] = verify_file(dest, file, source, allow_unverified)
        by = files[file.name]["verified_by"] or "nothing (unverified)"
        log.info("%s: %d bytes from %s, verified by %s", file.name, dest.stat().st_size, source, by)
    return {"dataset": spec.name, "verified": all(r["verified_by"] for r in files.values()), "files": files}
