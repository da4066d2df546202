"""Atomic file output: a reader never sees a half-written file, and a failure leaves nothing.

Every artifact is written to a temporary file in the destination's folder and renamed into
place (`os.replace` is atomic on POSIX within one file system).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Iterator

import torch

__all__ = ["atomic_path", "save_json", "save_text", "save_torch"]


@contextlib.contextmanager
def atomic_path(dest: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `dest`; on success rename it to `dest`, else delete it."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        # mkstemp creates the file rw------- for privacy; artifacts get the usual mode.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def save_text(text: str, dest: str | Path) -> None:
    with atomic_path(dest) as tmp:
        tmp.write_text(text, encoding="utf-8")


def save_json(obj, dest: str | Path) -> None:
    save_text(json.dumps(obj, indent=2, sort_keys=True) + "\n", dest)


def save_torch(obj, dest: str | Path) -> None:
    with atomic_path(dest) as tmp:
        torch.save(obj, tmp)
