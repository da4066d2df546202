"""Stage download@<dataset>: the official files of one dataset, verified, in data/raw/<dataset>/.

    python -m stages.download --dataset {mnist|fashion-mnist|cifar-10} --out data/raw/<dataset>

Environment (README, "Data: official sources, mirrors, offline"):
  ADVGRAD_DATA_MIRROR=<dir or http(s)/file URL>  fetch <mirror>/<dataset>/<file> instead of the
                                                 official URLs
  ADVGRAD_ALLOW_UNVERIFIED=1                     keep files with unknown checksums, recorded as
                                                 unverified in <out>/manifest.json

The output folder appears complete or not at all: everything is fetched and verified in a
temporary folder beside --out, which replaces --out only at the end. Any failure is one line on
stderr naming the file and the cause, with a non-zero exit code.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

from advgrad.core.io import OutputError, PrepareError, save_checked, staging_dir
from advgrad.data.fetch import ChecksumError, DownloadError, Retry, fetch_dataset
from advgrad.data.sources import SOURCES
from stages.common import cli

log = logging.getLogger("advgrad")

MANIFEST = "manifest.json"


def download_meta(raw_dir: str | Path) -> dict:
    """The dataset and verified keys of a download's manifest, which the preprocess stages store."""
    path = Path(raw_dir) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no download manifest; run the download stage first")
    manifest = json.loads(path.read_text())
    return {"dataset": manifest["dataset"], "verified": manifest["verified"]}


def save_processed(stage: str, make: Callable[[], dict], out: Path, format_error: type[ValueError]) -> None:
    """The end of a preprocess stage: the dict `make()` returns written to `out`. Every failure a
    user can cause (a malformed raw file, impossible sizes, no download, an unwritable output)
    ends the stage in one line."""
    try:
        blob = make()
        save_checked(blob, out)
    except (format_error, PrepareError, FileNotFoundError, OutputError) as e:
        raise SystemExit(f"{stage}: {e}") from None
    meta = blob["meta"]
    details = ", ".join(f"{k} {v}" for k, v in meta.items() if k not in ("dataset", "verified"))
    log.info("%s: %s -> %s%s", meta["dataset"], details, out, "" if meta["verified"] else " (UNVERIFIED data)")


def run(
    dataset: str, out: str | Path, mirror: str | None = None, allow_unverified: bool = False, retry: Retry | None = None
) -> dict:
    """Fetch, verify and install `dataset` into `out`; return the manifest."""
    with staging_dir(Path(out)) as tmp:
        manifest = fetch_dataset(SOURCES[dataset], tmp, mirror, allow_unverified, retry or Retry())
        # No atomic write needed here: the whole folder appears at once.
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> None:
    args, _ = cli(
        __doc__,
        argv,
        ("--dataset", tuple(sorted(SOURCES))),
        "--out",
        ("--retries", int, Retry.attempts - 1),
        ("--retry-delay", float, Retry.delay),
    )
    mirror = os.environ.get("ADVGRAD_DATA_MIRROR") or None
    allow_unverified = os.environ.get("ADVGRAD_ALLOW_UNVERIFIED", "") not in ("", "0")
    retry = Retry(attempts=args.retries + 1, delay=args.retry_delay)
    try:
        manifest = run(args.dataset, args.out, mirror, allow_unverified, retry)
    except DownloadError as e:
        hint = "; set ADVGRAD_ALLOW_UNVERIFIED=1 to accept unverified data" if isinstance(e, ChecksumError) else ""
        raise SystemExit(f"download {args.dataset}: {e}{hint}") from None
    state = "verified" if manifest["verified"] else "UNVERIFIED (ADVGRAD_ALLOW_UNVERIFIED=1)"
    log.info("%s: %d files in %s, %s", args.dataset, len(manifest["files"]), args.out, state)


if __name__ == "__main__":
    main()
