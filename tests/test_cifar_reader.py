"""CIFAR-10 python archive: writer/reader round trip checked against the standard library
(tarfile + pickle.load(encoding="bytes"), the reading recipe of the dataset's web page), and
truncated, incomplete or malformed archives failing with a CifarFormatError naming the file."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import tarfile

import numpy as np
import pytest

from advgrad.data.cifar import CifarFormatError, read_cifar_tar
from tests.fixtures import write_cifar_tar

BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def _pixels(n: int, offset: int) -> np.ndarray:
    """Hand-checkable images: pixel (i, ch, r, c) = (offset + 7 i + 50 ch + r + c) mod 256."""
    i, ch, r, c = np.meshgrid(np.arange(n), np.arange(3), np.arange(32), np.arange(32), indexing="ij")
    return ((offset + 7 * i + 50 * ch + r + c) % 256).astype(np.uint8)


@pytest.fixture
def archive(tmp_path):
    x_train, y_train = _pixels(10, 0), np.arange(10, dtype=np.uint8)[::-1].copy()
    x_test, y_test = _pixels(3, 100), np.array([3, 1, 4], np.uint8)
    path = tmp_path / "cifar-10-python.tar.gz"
    write_cifar_tar(path, x_train, y_train, x_test, y_test)
    return path, (x_train, y_train, x_test, y_test)


def _members(path) -> dict[str, bytes]:
    with tarfile.open(path, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def test_round_trip(archive):
    path, (x_train, y_train, x_test, y_test) = archive
    arrays = read_cifar_tar(path)
    np.testing.assert_array_equal(arrays.x_train, x_train)
    np.testing.assert_array_equal(arrays.y_train, y_train)
    np.testing.assert_array_equal(arrays.x_test, x_test)
    np.testing.assert_array_equal(arrays.y_test, y_test)
    assert arrays.x_train.dtype == np.uint8 and arrays.x_train.shape == (10, 3, 32, 32)


def test_official_layout_read_by_the_standard_library(archive):
    path, (x_train, y_train, x_test, _) = archive
    members = _members(path)
    assert sorted(members) == sorted(f"cifar-10-batches-py/{n}" for n in BATCHES + ["batches.meta"])
    # 10 training images over 5 batches: data_batch_2 holds images 2 and 3.
    batch = pickle.loads(members["cifar-10-batches-py/data_batch_2"], encoding="bytes")
    assert batch[b"labels"] == [7, 6]
    row = batch[b"data"][1]  # image 3: 1024 red, 1024 green, 1024 blue values, each row-major
    assert batch[b"data"].shape == (2, 3072) and batch[b"data"].dtype == np.uint8
    for ch, r, c in [(0, 0, 0), (0, 5, 9), (1, 31, 0), (2, 17, 30)]:
        assert row[1024 * ch + 32 * r + c] == (7 * 3 + 50 * ch + r + c) % 256
    test = pickle.loads(members["cifar-10-batches-py/test_batch"], encoding="bytes")
    assert test[b"labels"] == [3, 1, 4]
    np.testing.assert_array_equal(test[b"data"][2].reshape(3, 32, 32), x_test[2])


def test_member_md5s_are_those_of_the_members(archive):
    path, _ = archive
    expected = {name.rsplit("/", 1)[1]: hashlib.md5(data).hexdigest() for name, data in _members(path).items()}
    assert read_cifar_tar(path).member_md5 == expected


def test_writer_is_deterministic(archive, tmp_path):
    path, arrays = archive
    again = tmp_path / "again.tar.gz"
    write_cifar_tar(again, *arrays)
    assert again.read_bytes() == path.read_bytes()


def _write_tar(path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_numpy1_pickles_are_read(archive, tmp_path):
    """The official batches were pickled by numpy 1.x, which names numpy.core.multiarray."""
    path, (x_train, *_) = archive
    members = _members(path)
    for name in members:
        members[name] = members[name].replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert b"numpy.core.multiarray" in members["cifar-10-batches-py/data_batch_1"]
    old = tmp_path / "old.tar.gz"
    _write_tar(old, members)
    np.testing.assert_array_equal(read_cifar_tar(old).x_train, x_train)


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9, -4])
def test_truncated_archive(archive, tmp_path, keep):
    path, _ = archive
    data = path.read_bytes()
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(data[: int(len(data) * keep)] if keep > 0 else data[:keep])
    with pytest.raises(CifarFormatError, match="truncated") as err:
        read_cifar_tar(cut)
    assert str(cut) in str(err.value) and "\n" not in str(err.value)
    assert isinstance(err.value, ValueError)


def test_not_a_tar_gz(tmp_path):
    path = tmp_path / "noise.tar.gz"
    path.write_bytes(os.urandom(1000))
    with pytest.raises(CifarFormatError, match="corrupt or not a tar.gz"):
        read_cifar_tar(path)


def _batch(n=2, width=3072, labels=None) -> bytes:
    labels = [0] * n if labels is None else labels
    return pickle.dumps({b"data": np.zeros((n, width), np.uint8), b"labels": labels}, protocol=3)


def _archive_with(tmp_path, **overrides) -> str:
    members = {f"cifar-10-batches-py/{n}": _batch() for n in BATCHES}
    for name, data in overrides.items():
        key = f"cifar-10-batches-py/{name}"
        if data is None:
            del members[key]
        else:
            members[key] = data
    path = tmp_path / "bad.tar.gz"
    _write_tar(path, members)
    return path


@pytest.mark.parametrize(
    "overrides, cause",
    [
        ({"test_batch": None}, "missing member cifar-10-batches-py/test_batch"),
        ({"data_batch_3": _batch(width=3071)}, "data_batch_3: b'data' must be uint8 of shape"),
        ({"data_batch_1": _batch(labels=[0, 1, 2])}, "data_batch_1: 2 images but labels of shape"),
        ({"data_batch_5": _batch(labels=[0, 10])}, r"data_batch_5: labels outside 0\.\.9"),
        ({"test_batch": pickle.dumps([1, 2, 3])}, "test_batch: not a CIFAR batch"),
        ({"data_batch_2": b"not a pickle"}, "data_batch_2: not a readable pickle"),
    ],
)
def test_malformed_batches(tmp_path, overrides, cause):
    path = _archive_with(tmp_path, **overrides)
    with pytest.raises(CifarFormatError, match=cause) as err:
        read_cifar_tar(path)
    assert str(path) in str(err.value)


class _Exploit:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (str(self.target), "w"))


def test_pickles_cannot_run_code(tmp_path):
    target = tmp_path / "created-by-unpickling"
    path = _archive_with(tmp_path, data_batch_1=pickle.dumps({b"data": _Exploit(target)}, protocol=3))
    with pytest.raises(CifarFormatError, match="refusing to load global"):
        read_cifar_tar(path)
    assert not target.exists()


def test_gzip_trailer_is_checked(archive, tmp_path):
    """A damaged CRC after the last member is caught although tarfile never reads that far."""
    path, _ = archive
    data = bytearray(path.read_bytes())
    data[-6] ^= 0xFF  # inside the CRC32 of the gzip trailer
    bad = tmp_path / "crc.tar.gz"
    bad.write_bytes(bytes(data))
    with gzip.open(path) as gz:  # sanity: the original is intact
        gz.read()
    with pytest.raises(CifarFormatError, match="corrupt"):
        read_cifar_tar(bad)
