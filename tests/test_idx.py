"""IDX reader/writer: exact bytes, an independent reader (torchvision's) as oracle, and every
kind of malformed file failing with an IdxFormatError that names the file."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from torchvision.datasets.mnist import read_sn3_pascalvincent_tensor

from advgrad.data.idx import IdxFormatError, read_idx
from tests.fixtures import write_idx


def test_uint8_images_bytes_by_hand(tmp_path):
    # Two 2x3 "images": pixel (i, r, c) = 100 * i + 10 * r + c.
    images = np.array([[[0, 1, 2], [10, 11, 12]], [[100, 101, 102], [110, 111, 112]]], np.uint8)
    path = tmp_path / "images-idx3-ubyte"
    write_idx(path, images)
    data = path.read_bytes()
    # Magic 0x00000803 (unsigned byte, 3 dims), then dims 2, 2, 3 as big-endian uint32.
    assert data[:16] == bytes([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3])
    assert list(data[16:]) == [0, 1, 2, 10, 11, 12, 100, 101, 102, 110, 111, 112]
    np.testing.assert_array_equal(read_idx(path), images)


def test_gzip_round_trip_and_detection_by_content(tmp_path):
    labels = np.array([7, 2, 1, 0, 4], np.uint8)
    gz = tmp_path / "labels-idx1-ubyte.gz"
    write_idx(gz, labels)
    assert gz.read_bytes()[:2] == b"\x1f\x8b"
    assert gzip.decompress(gz.read_bytes()) == bytes([0, 0, 8, 1, 0, 0, 0, 5, 7, 2, 1, 0, 4])
    np.testing.assert_array_equal(read_idx(gz), labels)
    # gzip is recognised by its magic bytes, not by the name.
    renamed = tmp_path / "no-suffix"
    renamed.write_bytes(gz.read_bytes())
    np.testing.assert_array_equal(read_idx(renamed), labels)
    # Equal arrays give byte-identical archives (fixed gzip timestamp).
    again = tmp_path / "again.gz"
    write_idx(again, labels)
    assert again.read_bytes() == gz.read_bytes()


def test_big_endian_element_encoding(tmp_path):
    path = tmp_path / "int16"
    write_idx(path, np.array([258, -2], np.int16))
    assert path.read_bytes() == bytes([0, 0, 0x0B, 1, 0, 0, 0, 2, 0x01, 0x02, 0xFF, 0xFE])


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_torchvision_reader_agrees(tmp_path, dtype):
    """torchvision's independent IDX reader decodes what we write, for every IDX type."""
    array = (np.arange(2 * 3 * 4).reshape(2, 3, 4) * 3 - 20).astype(dtype)
    path = tmp_path / "a-idx3"
    write_idx(path, array)
    theirs = read_sn3_pascalvincent_tensor(str(path), strict=False)
    np.testing.assert_array_equal(theirs.numpy(), array)
    ours = read_idx(path)
    assert ours.dtype == np.dtype(dtype) and ours.dtype.isnative
    np.testing.assert_array_equal(ours, array)


def _images_bytes() -> bytes:
    # Header of 2 images of 2x2, then 8 pixel bytes.
    return bytes([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2]) + bytes(range(8))


@pytest.mark.parametrize(
    "data, cause",
    [
        (bytes([1, 0, 8, 3]) + _images_bytes()[4:], "wrong magic number"),  # first byte not 0
        (bytes([0, 0, 0x0A, 3]) + _images_bytes()[4:], "wrong magic number"),  # unknown type code
        (bytes([0, 0, 8, 0]), "wrong magic number"),  # zero dimensions
        (b"\x00\x00", "too short"),
        (_images_bytes()[:10], "truncated header"),
        (_images_bytes()[:-1], "truncated"),  # one pixel missing
        (_images_bytes() + b"\x00", "trailing bytes"),  # one pixel too many
    ],
)
@pytest.mark.parametrize("compress", [False, True])
def test_malformed_files_raise_clear_errors(tmp_path, data, cause, compress):
    path = tmp_path / ("bad.gz" if compress else "bad")
    path.write_bytes(gzip.compress(data) if compress else data)
    with pytest.raises(IdxFormatError, match=cause) as err:
        read_idx(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    assert isinstance(err.value, ValueError)


def test_truncation_message_states_sizes(tmp_path):
    path = tmp_path / "short"
    path.write_bytes(_images_bytes()[:-3])
    with pytest.raises(IdxFormatError, match=r"shape \(2, 2, 2\).*8 data bytes.*holds 5"):
        read_idx(path)


def test_truncated_and_corrupt_gzip(tmp_path):
    whole = gzip.compress(_images_bytes() * 50)
    cut = tmp_path / "cut.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(IdxFormatError, match="truncated gzip") as err:
        read_idx(cut)
    assert str(cut) in str(err.value)
    corrupt = tmp_path / "corrupt.gz"
    corrupt.write_bytes(whole[:-8] + bytes(8))  # CRC and length trailer zeroed
    with pytest.raises(IdxFormatError, match="corrupt gzip"):
        read_idx(corrupt)


def test_write_rejects_unsupported_dtype(tmp_path):
    with pytest.raises(TypeError, match="no type code"):
        write_idx(tmp_path / "x", np.zeros(3, np.uint16))
