"""IDX files, the format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/).

Layout: a 4-byte magic number 0x0000TTNN (TT = element type code, NN = number of dimensions),
NN big-endian uint32 dimension sizes, then the elements in row-major order, big-endian.
The reader checks every part of that, and that the data size agrees with the header exactly,
so a truncated or padded file is an error rather than a silently short dataset.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from advgrad.core.io import PrepareError
from advgrad.core.names import NUM_CLASSES as N_CLASSES
from advgrad.data.sources import MNIST_FILES

# Element type code -> dtype (big-endian, as the format stores it).
DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


class IdxFormatError(ValueError):
    """A file is not a well-formed IDX file (or gzip'd IDX file); the message names it."""


def read_bytes(path: str | Path, name: str | None = None) -> bytes:
    """The file's content, decompressed when it is gzip'd (told by its magic bytes, not its name).

    `name` is what error messages call the file (default: its path).
    """
    name = name or str(path)
    data = Path(path).read_bytes()
    if not data.startswith(b"\x1f\x8b"):  # gzip's magic bytes (RFC 1952)
        return data
    try:
        return gzip.decompress(data)
    except EOFError:
        raise IdxFormatError(f"{name}: truncated gzip stream (it ends before its end marker)") from None
    except (gzip.BadGzipFile, zlib.error) as e:
        raise IdxFormatError(f"{name}: corrupt gzip data ({e})") from None


def parse_idx(data: bytes, name: str | Path = "<bytes>") -> np.ndarray:
    """Decode the bytes of an IDX file into an array of native byte order."""
    if len(data) < 4:
        raise IdxFormatError(f"{name}: {len(data)} bytes, too short for an IDX header")
    code, ndim = data[2], data[3]
    if data[:2] != b"\0\0" or code not in DTYPES or ndim == 0:
        raise IdxFormatError(
            f"{name}: wrong magic number 0x{data[:4].hex()} (expected 0x0000TTNN with type code TT "
            f"in {', '.join(f'{c:02x}' for c in DTYPES)} and NN >= 1 dimensions); not an IDX file"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IdxFormatError(f"{name}: truncated header: {ndim} dimensions need {header} bytes, file holds {len(data)}")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = DTYPES[code]
    count = math.prod(dims)
    expected, got = count * dtype.itemsize, len(data) - header
    if got != expected:
        cause = "truncated" if got < expected else "trailing bytes"
        raise IdxFormatError(
            f"{name}: {cause}: the header declares shape {dims} of {dtype.name}, "
            f"{expected} data bytes, but the file holds {got}"
        )
    array = np.frombuffer(data, dtype=dtype, count=count, offset=header).reshape(dims)
    return array.astype(dtype.newbyteorder("="))  # a writable copy in native byte order


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file, gzip'd or raw; raise IdxFormatError naming the file if it is malformed."""
    return parse_idx(read_bytes(path), path)


def read_mnist(raw_dir: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The four official files -> x_train, y_train, x_test, y_test (uint8; x of shape (N, 28, 28))."""
    arrays = []
    for images_name, labels_name in MNIST_FILES.values():
        images, labels = read_idx(Path(raw_dir) / images_name), read_idx(Path(raw_dir) / labels_name)
        if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
            raise PrepareError(
                f"{images_name}: expected uint8 images of shape (N, 28, 28), got {images.dtype} {images.shape}"
            )
        if labels.dtype != np.uint8 or labels.shape != images.shape[:1]:
            raise PrepareError(f"{labels_name}: expected {len(images)} uint8 labels, got {labels.dtype} {labels.shape}")
        if labels.size and labels.max() >= N_CLASSES:
            raise PrepareError(f"{labels_name}: label {labels.max()} outside 0..{N_CLASSES - 1}")
        arrays += [images, labels]
    return tuple(arrays)
