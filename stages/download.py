"""Stage download@<dataset>: the official files of one dataset, verified, in data/raw/<dataset>/.

    python -m stages.download --dataset {mnist|fashion-mnist|cifar-10} --out data/raw/<dataset>

Environment (DESIGN.md, "Data sources"):
  ADVGRAD_DATA_MIRROR=<dir or http(s)/file URL>  fetch <mirror>/<dataset>/<file> instead of the
                                                 official URLs
  ADVGRAD_ALLOW_UNVERIFIED=1                     keep files with unknown checksums, recorded as
                                                 unverified in <out>/manifest.json

The output folder appears complete or not at all: everything is fetched and verified in a
temporary folder beside --out, which replaces --out only at the end. Any failure is one line on
stderr naming the file and the cause, with a non-zero exit code.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from advgrad.data.fetch import ChecksumError, DownloadError, Retry, fetch_dataset
from advgrad.data.sources import SOURCES
from stages.common import setup_logging
from stages.params import load_params_or_exit

log = logging.getLogger("advgrad")

MANIFEST = "manifest.json"


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


def read_manifest(raw_dir: str | Path) -> dict:
    """The manifest a download wrote, for the preprocess stages."""
    path = Path(raw_dir) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no download manifest; run the download stage first")
    return json.loads(path.read_text())


def run(dataset: str, out: str | Path, mirror: str | None = None, allow_unverified: bool = False,
        retry: Retry = Retry()) -> dict:
    """Fetch, verify and install `dataset` into `out`; return the manifest."""
    with staging_dir(Path(out)) as tmp:
        manifest = fetch_dataset(SOURCES[dataset], tmp, mirror, allow_unverified, retry)
        # No atomic write needed here: the whole folder appears at once.
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", required=True, choices=sorted(SOURCES))
    parser.add_argument("--out", required=True, type=Path, help="output folder, data/raw/<dataset>")
    parser.add_argument("--retries", type=int, default=Retry.attempts - 1,
                        help="retries per URL on network errors (default %(default)s)")
    parser.add_argument("--retry-delay", type=float, default=Retry.delay,
                        help="seconds before the first retry, doubled for each next one")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    setup_logging()
    load_params_or_exit(args.params)  # a bad params.yaml fails before a 170 MB download
    mirror = os.environ.get("ADVGRAD_DATA_MIRROR") or None
    allow_unverified = os.environ.get("ADVGRAD_ALLOW_UNVERIFIED", "") not in ("", "0")
    try:
        manifest = run(args.dataset, args.out, mirror, allow_unverified,
                       Retry(attempts=args.retries + 1, delay=args.retry_delay))
    except ChecksumError as e:
        raise SystemExit(f"download {args.dataset}: {e}; set ADVGRAD_ALLOW_UNVERIFIED=1 to "
                         f"accept unverified data") from None
    except DownloadError as e:
        raise SystemExit(f"download {args.dataset}: {e}") from None
    state = "verified" if manifest["verified"] else "UNVERIFIED (ADVGRAD_ALLOW_UNVERIFIED=1)"
    log.info("%s: %d files in %s, %s", args.dataset, len(manifest["files"]), args.out, state)


if __name__ == "__main__":
    main()
