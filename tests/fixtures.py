"""Tiny, learnable stand-ins for the datasets, written in the official formats (`write_idx`,
`write_cifar_tar`) and laid out as a mirror, and a local HTTP server.

MNIST-format fixture: class c is a bright 7x7 square in cell (c // 4, c % 4) of a 4x4 grid of
7x7 cells (rows 7 * (c // 4) .. +7, columns 7 * (c % 4) .. +7), pixel values 160..255, on a
background of noise 0..63. A small MLP separates the classes within an epoch or two.

CIFAR-10 fixture: class c paints the central 16x16 square (rows and columns 8..23) in the colour
PALETTE[c] (+-16 noise), on a background of noise 0..79 in every channel.

Labels are balanced (each class n / 10 times, shuffled). Everything is a function of `seed`.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import http.server
import io
import pickle
import struct
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from advgrad.data.cifar import N_CLASSES
from advgrad.data.idx import DTYPES
from advgrad.data.sources import (
    CIFAR_ARCHIVE,
    CIFAR_MEMBER_DIR,
    CIFAR_META,
    CIFAR_TEST_BATCH,
    CIFAR_TRAIN_BATCHES,
    MNIST_FILES,
)

CELL = 7  # side of an MNIST class square, and of a grid cell
CIFAR_SQUARE = slice(8, 24)  # rows and columns of the CIFAR class square
PALETTE = np.array(
    [  # one clearly distinct RGB colour per CIFAR class
        [255, 0, 0],
        [0, 255, 0],
        [0, 0, 255],
        [255, 255, 0],
        [255, 0, 255],
        [0, 255, 255],
        [255, 128, 0],
        [128, 0, 255],
        [255, 255, 255],
        [0, 128, 128],
    ],
    dtype=np.int64,
)


def mnist_square(c: int) -> tuple[slice, slice]:
    """Rows and columns of class c's bright square in the MNIST-format fixture."""
    r, col = CELL * (c // 4), CELL * (c % 4)
    return slice(r, r + CELL), slice(col, col + CELL)


def _balanced_labels(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.permutation(np.arange(n) % 10).astype(np.uint8)


def mnist_like(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (n, 28, 28) and labels (n,) of the MNIST-format fixture."""
    rng = np.random.default_rng(seed)
    labels = _balanced_labels(rng, n)
    images = rng.integers(0, 64, size=(n, 28, 28), dtype=np.uint8)
    for i, c in enumerate(labels):
        rows, cols = mnist_square(int(c))
        images[i, rows, cols] = rng.integers(160, 256, size=(CELL, CELL), dtype=np.uint8)
    return images, labels


def cifar_like(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (n, 3, 32, 32) and labels (n,) of the CIFAR-10 fixture."""
    rng = np.random.default_rng(seed)
    labels = _balanced_labels(rng, n)
    images = rng.integers(0, 80, size=(n, 3, 32, 32), dtype=np.int64)
    square = PALETTE[labels][:, :, None, None] + rng.integers(-16, 17, size=(n, 3, 16, 16))
    images[:, :, CIFAR_SQUARE, CIFAR_SQUARE] = square
    return images.clip(0, 255).astype(np.uint8), labels


# ---------------------------------------------------------------------------------------------
# Writers of the official formats (their readers are advgrad.data.idx and advgrad.data.cifar)


def write_idx(path: str | Path, array: np.ndarray, compress: bool | None = None) -> None:
    """Write `array` as an IDX file; gzip'd when `compress`, by default when the name ends in .gz.

    The gzip header's timestamp is fixed, so equal arrays give byte-identical files.
    """
    path = Path(path)
    array = np.asarray(array)
    native = array.dtype.newbyteorder("=")
    codes = {dt.newbyteorder("="): code for code, dt in DTYPES.items()}
    if native not in codes:
        raise TypeError(f"IDX has no type code for dtype {array.dtype}")
    code = codes[native]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + np.ascontiguousarray(array, dtype=DTYPES[code]).tobytes()
    if compress is None:
        compress = path.suffix == ".gz"
    path.write_bytes(gzip.compress(data, mtime=0) if compress else data)


def _add_member(tar: tarfile.TarFile, name: str, obj) -> None:
    data = pickle.dumps(obj, protocol=3)  # the oldest protocol with a bytes type
    info = tarfile.TarInfo(f"{CIFAR_MEMBER_DIR}/{name}")
    info.size, info.mode, info.mtime = len(data), 0o644, 0
    tar.addfile(info, io.BytesIO(data))


def write_cifar_tar(path: str | Path, x_train, y_train, x_test, y_test) -> None:
    """Write arrays in the official archive layout (the fixtures' CIFAR-10 mirror).

    x_*: uint8 (N, 3, 32, 32); the training set is split into the five data batches, so its
    size must be a multiple of 5. Member order, timestamps and gzip header are fixed, so equal
    inputs give byte-identical archives.
    """
    if len(x_train) % len(CIFAR_TRAIN_BATCHES):
        raise ValueError(f"training set size {len(x_train)} is not a multiple of {len(CIFAR_TRAIN_BATCHES)}")
    per_batch = len(x_train) // len(CIFAR_TRAIN_BATCHES)

    def batch(label: str, x: np.ndarray, y: np.ndarray) -> dict:
        x = np.ascontiguousarray(x, dtype=np.uint8).reshape(len(x), -1)  # (n, 3072)
        return {
            b"batch_label": label.encode(),
            b"labels": [int(v) for v in y],
            b"data": x,
            b"filenames": [f"image_{i:05d}.png".encode() for i in range(len(x))],
        }

    with (
        open(path, "wb") as f,
        gzip.GzipFile(filename="", fileobj=f, mode="wb", mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT) as tar,
    ):
        label_names = [f"class_{c}".encode() for c in range(N_CLASSES)]
        _add_member(tar, CIFAR_META, {b"label_names": label_names, b"num_cases_per_batch": per_batch, b"num_vis": 3072})
        for i, name in enumerate(CIFAR_TRAIN_BATCHES):
            rows = slice(i * per_batch, (i + 1) * per_batch)
            _add_member(tar, name, batch(f"training batch {i + 1} of 5", x_train[rows], y_train[rows]))
        _add_member(tar, CIFAR_TEST_BATCH, batch("testing batch 1 of 1", x_test, y_test))


# ---------------------------------------------------------------------------------------------
# Mirrors


def write_mnist_mirror(
    root: Path, dataset: str = "mnist", n_train: int = 600, n_test: int = 100, seed: int = 0
) -> Path:
    """Write `<root>/<dataset>/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz`; return the folder."""
    folder = Path(root) / dataset
    folder.mkdir(parents=True, exist_ok=True)
    for split, n, split_seed in (("train", n_train, seed), ("test", n_test, seed + 1)):
        images, labels = mnist_like(n, split_seed)
        images_name, labels_name = MNIST_FILES[split]
        write_idx(folder / images_name, images)
        write_idx(folder / labels_name, labels)
    return folder


def write_cifar_mirror(root: Path, n_per_batch: int = 100, seed: int = 0) -> Path:
    """Write `<root>/cifar-10/cifar-10-python.tar.gz` (5 data batches + test batch of
    `n_per_batch` images each, batches.meta); return the folder."""
    folder = Path(root) / "cifar-10"
    folder.mkdir(parents=True, exist_ok=True)
    x_train, y_train = cifar_like(5 * n_per_batch, seed)
    x_test, y_test = cifar_like(n_per_batch, seed + 1)
    write_cifar_tar(folder / CIFAR_ARCHIVE, x_train, y_train, x_test, y_test)
    return folder


def shifted_labels(labels: np.ndarray, shift: int = 1) -> np.ndarray:
    """Every label c replaced by (c + shift) % 10: a permutation of the classes that no image
    keeps, so a net that learned the true classes misclassifies (almost) all of them."""
    return ((labels.astype(np.int64) + shift) % 10).astype(np.uint8)


def write_mnist_mirror_shifted_test(
    root: Path, dataset: str = "mnist", n_train: int = 600, n_test: int = 100, seed: int = 0, shift: int = 1
) -> Path:
    """`write_mnist_mirror` with the test labels shifted (`shifted_labels`): a net trained on the
    training split has a test error near 100 % and a training error near 0, so a stage that
    reports one split's numbers as the other's is told apart by them."""
    folder = write_mnist_mirror(root, dataset, n_train, n_test, seed)
    _, labels = mnist_like(n_test, seed + 1)
    write_idx(folder / MNIST_FILES["test"][1], shifted_labels(labels, shift))
    return folder


def write_cifar_mirror_shifted_test(root: Path, n_per_batch: int = 100, seed: int = 0, shift: int = 1) -> Path:
    """`write_cifar_mirror` with the test batch's labels shifted (`shifted_labels`), as
    `write_mnist_mirror_shifted_test`."""
    folder = Path(root) / "cifar-10"
    folder.mkdir(parents=True, exist_ok=True)
    x_train, y_train = cifar_like(5 * n_per_batch, seed)
    x_test, y_test = cifar_like(n_per_batch, seed + 1)
    write_cifar_tar(folder / CIFAR_ARCHIVE, x_train, y_train, x_test, shifted_labels(y_test, shift))
    return folder


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # keep pytest output clean
        pass


@contextlib.contextmanager
def serve_directory(root: Path, handler=_QuietHandler) -> Iterator[str]:
    """Serve `root` over HTTP on 127.0.0.1 (a free port) in a thread; yield the base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
