"""Where the real datasets are, and what to do when they are not there.

On a user's clone without the data the real-data tests skip with the reason; CI sets
ADVGRAD_REQUIRE_REAL_DATA=1, under which missing data fails the test instead of skipping it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def require(folder: Path, files, what: str) -> Path:
    """`folder` if it holds every file of `files`; otherwise skip (or fail under
    ADVGRAD_REQUIRE_REAL_DATA=1) naming what is missing."""
    missing = [name for name in files if not (folder / name).is_file()]
    if missing:
        reason = f"{what} not found: {folder} lacks {', '.join(missing)}"
        if os.environ.get("ADVGRAD_REQUIRE_REAL_DATA", "") not in ("", "0"):
            pytest.fail(f"{reason} (ADVGRAD_REQUIRE_REAL_DATA=1)")
        pytest.skip(reason)
    return folder


def mnist_mirror() -> Path:
    """The mirror folder that holds `mnist/`: $ADVGRAD_DATA_MIRROR (a directory), else the
    `shared/data` folder beside the repository."""
    return Path(os.environ.get("ADVGRAD_DATA_MIRROR") or ROOT.parent / "shared" / "data")
