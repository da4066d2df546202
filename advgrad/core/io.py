"""File output and input that never leaves a half-written file, writes the same bytes for the
same content, and notices a corrupt file.

- Atomic: every artifact is written to a temporary file in the destination's folder and
  renamed into place (`os.replace` is atomic on POSIX within one file system). A failure
  (full disk, no permission, ...) leaves nothing and raises `OutputError` naming the file.
- Byte-identical: `torch.save` is given a file object, not a path: given a path it records the
  (random, temporary) file name inside the archive, so two identical runs would differ.
- Checked: `save_checked` stores a SHA-256 of every tensor's bytes beside them and
  `load_checked` recomputes it, so a bit-flipped model (a corrupt cache entry that
  `dvc checkout` restored without complaint) is an error naming the file, not wrong numbers.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import pickle
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

CHECKSUM_KEY = "sha256"

log = logging.getLogger("advgrad")


class OutputError(OSError):
    """An output could not be written; the message is one line naming the file and the cause."""


class CorruptFileError(ValueError):
    """A file is truncated, unreadable or fails its checksum; the message names the file."""


def _cause(err: BaseException) -> str:
    if isinstance(err, OSError) and err.strerror:
        return err.strerror.lower()
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    # torch's zip writer reports a full disk as "[enforce fail at inline_container.cc:...] . unexpected pos"
    return "disk full or write failed" if "inline_container" in text else text


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def staging_dir(out: Path) -> Iterator[Path]:
    """Yield an empty temporary folder beside `out`; on success it replaces `out`, else it goes."""
    out.parent.mkdir(parents=True, exist_ok=True)
    # A run killed with -9 leaves its staging folder behind: remove those of earlier runs.
    for leftover in [*out.parent.glob(f".{out.name}.*.tmp"), *out.parent.glob(f".{out.name}.*.old")]:
        log.info("removing %s, left behind by an interrupted run", leftover)
        shutil.rmtree(leftover, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    tmp.chmod(0o777 & ~_umask())  # mkdtemp makes it private; the data folder need not be
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out.exists() or out.is_symlink():
        # Move the old output aside first and delete it only once the new one is in place.
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
        os.replace(out, old / out.name)
        os.replace(tmp, out)
        shutil.rmtree(old)
    else:
        os.replace(tmp, out)


@contextlib.contextmanager
def atomic_path(dest: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `dest`; on success rename it to `dest`, else delete it.

    Any OSError (or torch's RuntimeError for a failed write) becomes an `OutputError` naming
    `dest`, with nothing left behind.
    """
    dest = Path(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    except OSError as err:
        raise OutputError(f"cannot write {dest}: {_cause(err)}") from None
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it rw------- for privacy
        os.replace(tmp, dest)
    except OutputError:
        raise
    except (OSError, RuntimeError) as err:
        raise OutputError(f"cannot write {dest}: {_cause(err)}") from None
    finally:
        tmp.unlink(missing_ok=True)


def save_text(text: str, dest: str | Path) -> None:
    with atomic_path(dest) as tmp:
        tmp.write_text(text, encoding="utf-8")


def save_json(obj, dest: str | Path) -> None:
    save_text(json.dumps(obj, indent=2, sort_keys=True) + "\n", dest)


def save_torch(obj, dest: str | Path) -> None:
    """torch.save through a file object, so that the archive holds no file name (see above)."""
    with atomic_path(dest) as tmp, open(tmp, "wb") as f:
        torch.save(obj, f)


def _tensors(obj: Any, path: str = "") -> Iterator[tuple[str, torch.Tensor]]:
    """Every tensor in a nest of dicts, lists and tuples, with its place, in a fixed order."""
    if isinstance(obj, torch.Tensor):
        yield path, obj
    elif isinstance(obj, dict):
        for key in sorted(obj, key=str):
            yield from _tensors(obj[key], f"{path}/{key}")
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            yield from _tensors(value, f"{path}/{i}")


def tensor_digest(obj: Any) -> str:
    """SHA-256 over the place, dtype, shape and bytes of every tensor in `obj`."""
    h = hashlib.sha256()
    for place, t in _tensors(obj):
        t = t.detach().to("cpu").contiguous()
        h.update(f"{place}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def save_checked(obj: dict, dest: str | Path) -> None:
    """save_torch of `obj` with the SHA-256 of its tensors under the key "sha256"."""
    save_torch({**obj, CHECKSUM_KEY: tensor_digest(obj)}, dest)


def load_checked(path: str | Path, weights_only: bool = True) -> dict:
    """Load a file written by `save_checked` on the CPU and verify its checksum.

    A missing file raises FileNotFoundError; a truncated, unreadable or altered one raises
    `CorruptFileError` naming it.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=weights_only)
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError, zipfile.BadZipFile) as err:
        raise CorruptFileError(f"{path}: unreadable ({_cause(err)}); it is truncated or corrupt") from None
    if not isinstance(obj, dict) or CHECKSUM_KEY not in obj:
        raise CorruptFileError(f"{path}: no checksum; not a file this version of advgrad wrote")
    stored = obj.pop(CHECKSUM_KEY)
    if tensor_digest(obj) != stored:
        raise CorruptFileError(
            f"{path}: checksum mismatch, the file is corrupt (delete it and re-run "
            "its stage, or `dvc checkout --relink` / `dvc pull` it again)"
        )
    return obj


@dataclass
class Split:
    """One split of a dataset on the training device."""

    x: torch.Tensor  # float32: MNIST (N, 784) in [0, 1]; CIFAR (N, 3, 32, 32) transformed
    y: torch.Tensor  # int64 (N,)


class PrepareError(ValueError):
    """The data or the requested sizes cannot be preprocessed; the message names the cause."""


def training_size(n_available: int, train_size: int | None) -> int:
    """Size of the training set after `train_size` (None = all); its first images are kept."""
    if train_size is None:
        return n_available
    if not 0 < train_size <= n_available:
        raise PrepareError(f"train_size = {train_size} is not in 1..{n_available} (the number of training images)")
    return train_size
