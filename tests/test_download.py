"""The download stage on fixture mirrors: a directory, a file:// URL and a local HTTP server.

Checks the manifest against independently computed md5s, verification by archive and by
content (a recompressed mirror), and that every failure (checksum mismatch, truncation, missing
file, unreachable server) is one line naming the file and leaves no output and no temp folder.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import json
import os
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from torchvision.datasets import CIFAR10, MNIST, FashionMNIST

from advgrad.data import fetch
from advgrad.data.fetch import ChecksumError, DownloadError, Retry
from advgrad.data.sources import SOURCES
from stages import download
from tests.fixtures import serve_directory, write_cifar_mirror, write_mnist_mirror

REPO = Path(__file__).resolve().parents[1]
FAST = Retry(attempts=3, delay=0.0)  # no waiting in tests
DATASETS = ["mnist", "fashion-mnist", "cifar-10"]


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@pytest.fixture
def mirror(tmp_path) -> Path:
    root = tmp_path / "mirror"
    write_mnist_mirror(root, "mnist", n_train=60, n_test=20)
    write_mnist_mirror(root, "fashion-mnist", n_train=60, n_test=20, seed=5)
    write_cifar_mirror(root, n_per_batch=10)
    return root


def leftovers(parent: Path, keep: set[str] = frozenset()) -> list[str]:
    """Anything beside the expected outputs: temp folders, old copies."""
    return sorted(p.name for p in parent.iterdir() if p.name not in keep)


def test_sources_are_torchvisions():
    """Official file names, archive md5s and URLs are exactly those torchvision lists."""
    for name, cls in (("mnist", MNIST), ("fashion-mnist", FashionMNIST)):
        assert [(f.name, f.md5) for f in SOURCES[name].files] == [tuple(r) for r in cls.resources]
        assert SOURCES[name].urls == tuple(cls.mirrors)
    (tar,) = SOURCES["cifar-10"].files
    assert SOURCES["cifar-10"].urls[0] + tar.name == CIFAR10.url
    assert (tar.name, tar.md5) == (CIFAR10.filename, CIFAR10.tgz_md5)
    assert tar.content_md5 == dict(
        CIFAR10.train_list + CIFAR10.test_list + [[CIFAR10.meta["filename"], CIFAR10.meta["md5"]]]
    )


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("kind", ["dir", "file-url", "http"])
def test_download_from_mirror(tmp_path, mirror, dataset, kind):
    out = tmp_path / "raw" / dataset
    if kind == "http":
        with serve_directory(mirror) as url:
            manifest = download.run(dataset, out, url, allow_unverified=True, retry=FAST)
    else:
        location = mirror.as_uri() if kind == "file-url" else str(mirror)
        manifest = download.run(dataset, out, location, allow_unverified=True, retry=FAST)

    names = [f.name for f in SOURCES[dataset].files]
    assert sorted(p.name for p in out.iterdir()) == sorted(names + ["manifest.json"])
    assert json.loads((out / "manifest.json").read_text()) == manifest
    assert manifest["dataset"] == dataset and manifest["verified"] is False
    for name in names:
        data = (out / name).read_bytes()
        assert data == (mirror / dataset / name).read_bytes()  # official names, bytes unchanged
        record = manifest["files"][name]
        assert record["md5"] == md5(data) and record["verified_by"] is None
        assert record["source"].endswith(f"{dataset}/{name}")
        if dataset == "cifar-10":
            assert sorted(record["content_md5"]) == sorted(SOURCES[dataset].files[0].content_md5)
        else:
            assert record["content_md5"] == md5(gzip.decompress(data))
    assert leftovers(out.parent, {dataset}) == []


def _recompress(path: Path) -> None:
    """What Debian did to Fashion-MNIST: same content, different gzip bytes."""
    content = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(content, compresslevel=1, mtime=12345))


@pytest.mark.parametrize("dataset", ["mnist", "cifar-10"])
def test_verified_by_archive_then_by_content(tmp_path, mirror, monkeypatch, dataset):
    """With the fixture's own checksums registered as official: the exact files verify by
    archive md5; recompressed copies verify by content md5 (IDX) or member md5s (CIFAR)."""
    files = []
    for f in SOURCES[dataset].files:
        data = (mirror / dataset / f.name).read_bytes()
        if f.kind == "idx":
            content = md5(gzip.decompress(data))
        else:
            content = download.run(dataset, tmp_path / "probe", str(mirror), True, FAST)["files"][f.name]["content_md5"]
        files.append(replace(f, md5=md5(data), content_md5=content))
    monkeypatch.setitem(SOURCES, dataset, replace(SOURCES[dataset], files=tuple(files)))

    exact = download.run(dataset, tmp_path / "exact", str(mirror), retry=FAST)
    assert exact["verified"] is True
    assert {r["verified_by"] for r in exact["files"].values()} == {"archive"}

    for f in files:
        _recompress(mirror / dataset / f.name)
        assert md5((mirror / dataset / f.name).read_bytes()) != f.md5
    recompressed = download.run(dataset, tmp_path / "recompressed", str(mirror), retry=FAST)
    assert recompressed["verified"] is True
    assert {r["verified_by"] for r in recompressed["files"].values()} == {"content"}


def test_checksum_mismatch_fails_and_leaves_nothing(tmp_path, mirror):
    out = tmp_path / "raw" / "mnist"
    with pytest.raises(ChecksumError) as err:
        download.run("mnist", out, str(mirror), allow_unverified=False, retry=FAST)
    message = str(err.value)
    fixture = (mirror / "mnist" / "train-images-idx3-ubyte.gz").read_bytes()
    assert "train-images-idx3-ubyte.gz" in message and "checksum mismatch" in message
    assert "f68b3c2dcbeaaa9fbdd348bbdeb94873" in message  # expected (official archive)
    assert "6bbc9ace898e44ae57da46a324031adb" in message  # expected (official content)
    assert md5(fixture) in message and md5(gzip.decompress(fixture)) in message  # actual
    assert "\n" not in message
    assert not out.exists() and leftovers(out.parent) == []


def test_cifar_mismatch_names_the_member(tmp_path, mirror):
    with pytest.raises(
        ChecksumError,
        match=r"member data_batch_1 md5 [0-9a-f]{32} "
        r"\(expected c99cafc152244af753f735de768cd75f\)",
    ):
        download.run("cifar-10", tmp_path / "raw" / "cifar-10", str(mirror), retry=FAST)


def _truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


@pytest.mark.parametrize(
    "dataset, name, cause",
    [
        ("mnist", "t10k-images-idx3-ubyte.gz", "truncated gzip stream"),
        ("cifar-10", "cifar-10-python.tar.gz", "truncated"),
    ],
)
def test_truncated_file_fails_even_when_unverified_allowed(tmp_path, mirror, dataset, name, cause):
    _truncate(mirror / dataset / name)
    out = tmp_path / "raw" / dataset
    with pytest.raises(DownloadError, match=cause) as err:
        download.run(dataset, out, str(mirror), allow_unverified=True, retry=FAST)
    assert name in str(err.value)
    assert not out.exists() and leftovers(out.parent) == []


def test_idx_header_disagreeing_with_size_fails(tmp_path, mirror):
    """A complete gzip stream whose IDX content lacks its last image is caught too."""
    path = mirror / "mnist" / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes())[:-784]))
    with pytest.raises(DownloadError, match=r"train-images-idx3-ubyte.gz: truncated: .*\(60, 28, 28\)"):
        download.run("mnist", tmp_path / "raw" / "mnist", str(mirror), True, FAST)


def test_missing_file_names_it(tmp_path, mirror):
    (mirror / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    out = tmp_path / "raw" / "mnist"
    with pytest.raises(
        DownloadError,
        match=r"t10k-labels-idx1-ubyte.gz: could not fetch it: "
        r".*/mnist/t10k-labels-idx1-ubyte.gz: no such file",
    ):
        download.run("mnist", out, str(mirror), allow_unverified=True, retry=FAST)
    assert not out.exists() and leftovers(out.parent) == []


def test_failure_keeps_the_old_output_and_success_replaces_it(tmp_path, mirror):
    out = tmp_path / "raw" / "mnist"
    download.run("mnist", out, str(mirror), allow_unverified=True, retry=FAST)
    (out / "marker").write_text("old")
    _truncate(mirror / "mnist" / "train-labels-idx1-ubyte.gz")
    with pytest.raises(DownloadError):
        download.run("mnist", out, str(mirror), allow_unverified=True, retry=FAST)
    assert (out / "marker").read_text() == "old"  # untouched
    write_mnist_mirror(mirror, "mnist", n_train=60, n_test=20)
    download.run("mnist", out, str(mirror), allow_unverified=True, retry=FAST)
    assert not (out / "marker").exists() and (out / "manifest.json").exists()
    assert leftovers(out.parent, {"mnist"}) == []


# ---------------------------------------------------------------------------------------------
# Network behaviour: retries with exponential backoff, permanent errors, short reads


class _Flaky(http.server.SimpleHTTPRequestHandler):
    """Answers the first `failures` requests with 503 (or a cut-short body), then serves files."""

    failures = 0
    short_body = False
    requests = 0

    def do_GET(self):
        type(self).requests += 1
        if type(self).requests > type(self).failures:
            return super().do_GET()
        if not self.short_body:
            return self.send_error(503, "Service Unavailable")
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        self.wfile.write(b"x" * 10)  # 10 of the 1000 bytes promised, then close
        self.close_connection = True

    def log_message(self, format, *args):
        pass


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    delays = []
    monkeypatch.setattr(fetch.time, "sleep", delays.append)
    return delays


@pytest.mark.parametrize("short_body", [False, True])
def test_transient_errors_are_retried_with_backoff(tmp_path, mirror, sleeps, short_body):
    handler = type("Handler", (_Flaky,), {"failures": 2, "short_body": short_body, "requests": 0})
    with serve_directory(mirror, handler) as url:
        manifest = download.run(
            "mnist", tmp_path / "out", url, allow_unverified=True, retry=Retry(attempts=3, delay=0.5)
        )
    assert len(manifest["files"]) == 4
    assert sleeps == [0.5, 1.0]  # two failures on the first file: delay, then twice the delay
    assert handler.requests == 2 + 4


def test_http_404_is_not_retried(tmp_path, mirror, sleeps):
    (mirror / "mnist" / "train-images-idx3-ubyte.gz").unlink()
    handler = type("Handler", (_Flaky,), {"requests": 0})
    with serve_directory(mirror, handler) as url:
        with pytest.raises(DownloadError, match=r"train-images-idx3-ubyte.gz: HTTP 404"):
            download.run("mnist", tmp_path / "out", url, allow_unverified=True, retry=FAST)
    assert handler.requests == 1 and sleeps == []


def test_unreachable_server(tmp_path, sleeps):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "raw" / "mnist"
    with pytest.raises(
        DownloadError,
        match=r"train-images-idx3-ubyte.gz: .*unreachable after 3 "
        r"attempts \(.*refused",
    ):
        download.run("mnist", out, f"http://127.0.0.1:{port}", retry=Retry(attempts=3, delay=2.0))
    assert sleeps == [2.0, 4.0]
    assert not out.exists() and leftovers(out.parent) == []


def test_official_urls_are_tried_in_order(tmp_path, monkeypatch, sleeps):
    """Without a mirror every official base URL is tried; the error lists each one's cause."""
    calls = []

    def refuse(source, dest, retry):
        calls.append(source)
        raise DownloadError(f"{source}: refused")

    monkeypatch.setattr(fetch, "fetch_file", refuse)
    with pytest.raises(DownloadError) as err:
        download.run("mnist", tmp_path / "out", None, retry=FAST)
    assert calls == [base + "train-images-idx3-ubyte.gz" for base in SOURCES["mnist"].urls]
    assert all(c in str(err.value) for c in calls)


# ---------------------------------------------------------------------------------------------
# The command line, as DVC runs it


def _run_cli(args, env_extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADVGRAD_")}
    env.update(env_extra)
    return subprocess.run(
        [sys.executable, "-m", "stages.download", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )


def test_cli_checksum_mismatch_is_one_line_on_stderr(tmp_path, mirror):
    out = tmp_path / "raw" / "mnist"
    result = _run_cli(
        ["--dataset", "mnist", "--out", str(out), "--retry-delay", "0"], {"ADVGRAD_DATA_MIRROR": str(mirror)}
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("download mnist: ") and "train-images-idx3-ubyte.gz" in lines[0]
    assert "f68b3c2dcbeaaa9fbdd348bbdeb94873" in lines[0] and "ADVGRAD_ALLOW_UNVERIFIED=1" in lines[0]
    assert not out.exists() and leftovers(out.parent) == []


def test_main_allows_unverified_by_env(tmp_path, mirror, monkeypatch):
    monkeypatch.setenv("ADVGRAD_DATA_MIRROR", str(mirror))
    monkeypatch.setenv("ADVGRAD_ALLOW_UNVERIFIED", "1")
    out = tmp_path / "raw" / "fashion-mnist"
    download.main(["--dataset", "fashion-mnist", "--out", str(out)])
    assert json.loads((out / "manifest.json").read_text())["verified"] is False
    monkeypatch.setenv("ADVGRAD_ALLOW_UNVERIFIED", "0")
    with pytest.raises(SystemExit, match="checksum mismatch"):
        download.main(["--dataset", "fashion-mnist", "--out", str(out)])
    assert (out / "manifest.json").exists()  # the earlier output survives the failed run
