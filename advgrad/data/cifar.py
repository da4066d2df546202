"""The CIFAR-10 "python version" archive (https://www.cs.toronto.edu/~kriz/cifar.html).

`cifar-10-python.tar.gz` holds `cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}`.
Each batch is a pickled dict (read with `encoding="bytes"`, as the dataset page says) with
b"data": uint8 (n, 3072), one image per row as 1024 red, 1024 green, then 1024 blue values,
each plane 32x32 row-major, so a row reshapes to (3, 32, 32); and b"labels": n ints in 0..9.
The official batches have n = 10000; any n is accepted if data and labels agree (fixtures).

The members are read straight from the tar, no extraction. Pickle can run arbitrary code, so
the unpickler admits only the globals a numpy array needs.
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
import io
import pickle
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from advgrad.data.sources import CIFAR_MEMBER_DIR, CIFAR_META, CIFAR_TEST_BATCH, CIFAR_TRAIN_BATCHES

IMAGE_SHAPE = (3, 32, 32)
N_CLASSES = 10


class CifarFormatError(ValueError):
    """The CIFAR-10 archive is truncated, corrupt or not in the expected layout; names the file."""


@dataclass
class CifarArrays:
    x_train: np.ndarray  # uint8 (N, 3, 32, 32), batches 1..5 in order
    y_train: np.ndarray  # uint8 (N,)
    x_test: np.ndarray  # uint8 (M, 3, 32, 32)
    y_test: np.ndarray  # uint8 (M,)
    member_md5: dict[str, str]  # md5 of each member read, by base name (batches and batches.meta)


# numpy's array-unpickling helper, wherever this numpy version keeps it (numpy.core in 1.x
# pickles, numpy._core in 2.x).
_RECONSTRUCT = np.empty(0).__reduce__()[0]


class _ArrayUnpickler(pickle.Unpickler):
    """Resolves only what a pickled dict of numpy arrays refers to."""

    def find_class(self, module, name):
        if name == "_reconstruct" and module in ("numpy.core.multiarray", "numpy._core.multiarray"):
            return _RECONSTRUCT
        if module == "numpy" and name in ("ndarray", "dtype"):
            return getattr(np, name)
        if (module, name) == ("_codecs", "encode"):  # how Python 3 writes bytes in protocol 2
            return codecs.encode
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")


def _read_batch(pickled: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    """One pickled batch -> its images (n, 3, 32, 32) and labels (n,), uint8."""
    try:
        batch = _ArrayUnpickler(io.BytesIO(pickled), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError) as e:
        raise CifarFormatError(f"{where}: not a readable pickle ({e})") from None
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise CifarFormatError(f"{where}: not a CIFAR batch (expected a dict with b'data' and b'labels')")
    data, labels = batch[b"data"], np.asarray(batch[b"labels"])
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise CifarFormatError(
            f"{where}: b'data' must be uint8 of shape (n, 3072); got "
            f"{getattr(data, 'dtype', type(data).__name__)} {getattr(data, 'shape', '')}"
        )
    if labels.shape != (data.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
        raise CifarFormatError(
            f"{where}: {data.shape[0]} images but labels of shape {labels.shape} and dtype {labels.dtype}"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= N_CLASSES):
        raise CifarFormatError(f"{where}: labels outside 0..{N_CLASSES - 1}")
    return data.reshape(-1, *IMAGE_SHAPE), labels.astype(np.uint8)


def read_cifar_tar(path: str | Path, name: str | None = None) -> CifarArrays:
    """Read and validate the CIFAR-10 python tar.gz, every byte of it (so truncation is caught).

    `name` is what error messages call the file (default: its path).
    """
    name = name or str(path)
    batch_names = (*CIFAR_TRAIN_BATCHES, CIFAR_TEST_BATCH)
    wanted = (*batch_names, CIFAR_META)  # batches.meta (label names) is only checksummed
    raw: dict[str, bytes] = {}
    try:
        with gzip.open(path, "rb") as gz:
            # Stream mode ("r|"): one forward pass, members read in archive order.
            with tarfile.open(fileobj=gz, mode="r|") as tar:
                for member in tar:
                    folder, _, base = member.name.rpartition("/")
                    if member.isfile() and folder == CIFAR_MEMBER_DIR and base in wanted:
                        raw[base] = tar.extractfile(member).read()
            # tarfile stops at the end-of-archive block; read on to the gzip trailer so that a
            # file cut short anywhere fails its length/CRC check.
            while gz.read(1 << 20):
                pass
    except EOFError:
        raise CifarFormatError(f"{name}: truncated (the gzip stream ends before its end marker)") from None
    except (tarfile.TarError, gzip.BadGzipFile, zlib.error, OSError) as e:
        raise CifarFormatError(f"{name}: corrupt or not a tar.gz ({e})") from None

    missing = [m for m in batch_names if m not in raw]
    if missing:
        raise CifarFormatError(f"{name}: missing member {CIFAR_MEMBER_DIR}/{missing[0]}")
    # x, y: the five training batches, then the test batch
    x, y = zip(*(_read_batch(raw[b], f"{name}:{b}") for b in batch_names))
    member_md5 = {member: hashlib.md5(data).hexdigest() for member, data in raw.items()}
    return CifarArrays(np.concatenate(x[:-1]), np.concatenate(y[:-1]), x[-1], y[-1], member_md5)
