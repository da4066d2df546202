"""What every stage shares: device choice, resume checkpoints, interruption and errors,
progress, provenance.

Resume checkpoints live in `<repository>/.advgrad/resume/` (`ADVGRAD_RESUME_DIR` moves them;
a relative value is taken from the repository root, which DVC gives every stage as `DVC_ROOT`,
also for queued experiments that run in a temporary copy). They are outside the stage's
declared DVC outputs, so DVC's run-cache keeps working for training stages (it is off for
stages with `persist: true` outputs). A checkpoint is keyed by the stage's full configuration,
the source of every project file the stage can run (`stage_code`) and torch's version,
so a changed configuration, an edited module or another torch never resumes a stale state;
stale and corrupt checkpoints are removed when found, and a finished stage removes its own.
`ADVGRAD_NO_RESUME=1` starts from scratch.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import os
import platform
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import torch

from advgrad.core.io import CorruptFileError, OutputError, load_checked, save_checked
from stages.params import Params, load_params_or_exit

ROOT = Path(__file__).resolve().parents[1]  # the repository: stages/ and advgrad/ live here

log = logging.getLogger("advgrad")


def cli(doc: str, argv: list[str] | None, *options) -> tuple[argparse.Namespace, Params]:
    """The stage's command line and its validated params.yaml.

    Each option is "--name" (a required path), ("--name", allowed) where `allowed` is a tuple
    of choices or a type such as int, or ("--name", type, default) for an optional one.
    `--params` (default params.yaml) is added, logging is set up, and params.yaml is validated
    first: a bad value ends the stage in one line before any work.
    """
    parser = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    for option in options:
        name, allowed, *default = (option, Path) if isinstance(option, str) else option
        kind = {"choices": allowed} if isinstance(allowed, tuple) else {"type": allowed}
        required = {"default": default[0]} if default else {"required": True}
        parser.add_argument(name, **kind, **required)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    setup_logging()
    return args, load_params_or_exit(args.params)


def setup_logging() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(message)s", datefmt="%H:%M:%S", stream=sys.stderr
    )


def resolve_device(name: str) -> torch.device:
    """`auto` picks CUDA when present; asking for `cuda` without one is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SystemExit(
            "device: cuda requested in params.yaml but no CUDA device is available (use device: auto or cpu)"
        )
    return torch.device(name)


def config_hash(config: dict) -> str:
    blob = json.dumps(config, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# The project code a stage can run

# Every stage runs these, its own module and the library folders of STAGE_CODE: exactly its
# dvc.yaml code deps (tests/test_dvc_deps.py). The import-linter contracts in pyproject.toml
# forbid each stage every other advgrad folder, so a folder dep cannot miss an import; the
# resume key hashes the same files.
SHARED_CODE = ("advgrad/__init__.py", "advgrad/core", "stages/__init__.py", "stages/common.py", "stages/params.py")
STAGE_CODE = {
    "download": ("advgrad/data",),
    "preprocess_mnist": ("advgrad/data", "advgrad/mnist", "stages/download.py"),
    "preprocess_cifar": ("advgrad/data", "advgrad/cifar", "stages/download.py"),
    "train_mnist": ("advgrad/mnist",),
    "train_cifar": ("advgrad/cifar",),
    "attack": ("advgrad/mnist", "advgrad/evaluate"),
    "robustness": ("advgrad/mnist", "advgrad/evaluate"),
    "analyze": ("advgrad/mnist", "advgrad/evaluate"),
    "report": ("advgrad/report",),
}


def stage_code(stage: str) -> tuple[str, ...]:
    """The code deps of stage module `stages.<stage>`: files and folders, relative to the root."""
    return (f"stages/{stage}.py", *SHARED_CODE, *STAGE_CODE[stage])


def code_digest(stage: str, root: Path | None = None) -> str:
    """SHA-256 of every Python file (path and source) the stage can run (`stage_code`)."""
    root = root or ROOT
    files = set()
    for rel in stage_code(stage):
        path = root / rel
        files |= set(path.rglob("*.py")) if path.is_dir() else {path}
    h = hashlib.sha256()
    for path in sorted(files):
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# Resume checkpoints


def resume_dir() -> Path:
    """$ADVGRAD_RESUME_DIR (default .advgrad/resume); a relative value is taken from the
    repository root: $DVC_ROOT under DVC (also in a queued experiment's temporary copy), else
    the working directory."""
    value = Path(os.environ.get("ADVGRAD_RESUME_DIR") or ".advgrad/resume")
    return value if value.is_absolute() else Path(os.environ.get("DVC_ROOT") or os.getcwd()) / value


class ResumeCheckpoint:
    """The checkpoint of an unfinished training stage, keyed by its configuration, its code
    (`code_digest` of stage module `stages.<stage>`) and torch's version."""

    def __init__(self, stage_key: str, config: dict, stage: str, root: Path | None = None):
        self.key = {"config": config, "code": code_digest(stage), "torch": str(torch.__version__)}
        self.stage_key = stage_key
        self.root = root or resume_dir()
        self.path = self.root / f"{stage_key}-{config_hash(self.key)}.pt"
        self.last_saved = None

    def _stale(self) -> list[Path]:
        return [
            p
            for p in self.root.glob(f"{self.stage_key}-*.pt")
            if p != self.path and len(p.stem) == len(self.stage_key) + 17
        ]  # <stage_key>-<16 hex digits>

    def load(self) -> dict | None:
        """The saved state, or None. Removes (with a one-line note) checkpoints of this stage
        made with another configuration, code or torch, and sets a corrupt one aside."""
        for stale in self._stale():
            log.info(
                "%s: removing %s, a checkpoint of another configuration, code or torch version", self.stage_key, stale
            )
            stale.unlink(missing_ok=True)
        if os.environ.get("ADVGRAD_NO_RESUME", "") not in ("", "0"):
            if self.path.exists():
                log.info("%s: ADVGRAD_NO_RESUME=1: removing %s, starting from scratch", self.stage_key, self.path)
                self.path.unlink()
            return None
        if not self.path.exists():
            return None
        try:
            blob = load_checked(self.path)
        except CorruptFileError as err:
            aside = self.path.with_suffix(".corrupt")
            os.replace(self.path, aside)
            log.warning("%s: %s; moved it to %s and starting from scratch", self.stage_key, err, aside)
            return None
        if blob.get("key") != self.key:  # a hash collision or a hand-copied file
            log.info("%s: %s was made for another key; starting from scratch", self.stage_key, self.path)
            return None
        self.last_saved = blob["state"]
        return blob["state"]

    def save(self, state) -> None:
        # Ctrl-C or SIGTERM waits until the file and `last_saved` agree (what an interruption
        # from now on resumes from), so the stage's last line names the epoch that is on disk.
        with _signals_deferred():
            save_checked({"key": self.key, "state": state}, self.path)
            self.last_saved = state

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------
# Interruptions and one-line errors


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM (what SLURM and most schedulers send before killing a job)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


_deferral = {"active": False, "pending": None}


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold back `interruptible`'s Interrupted until the block is done (a signal caught by a
    worker thread still runs its Python handler in the main thread, so masking cannot do this)."""
    _deferral["active"] = True
    try:
        yield
    finally:
        _deferral["active"] = False
    signum, _deferral["pending"] = _deferral["pending"], None
    if signum is not None:
        raise Interrupted(signum)


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """Turn SIGINT and SIGTERM into `Interrupted` while the block runs (the main thread only)."""

    def handler(signum, frame):
        if _deferral["active"]:
            _deferral["pending"] = signum
            return
        raise Interrupted(signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def stopped(name: str, err: KeyboardInterrupt, saved: str | None) -> SystemExit:
    """The one-line end of a stage stopped by Ctrl-C or SIGTERM, with exit status 128 + signal.
    `saved` says what the checkpoint holds (None: nothing was saved yet)."""
    signum = getattr(err, "signum", signal.SIGINT)
    resume = (
        f"{saved}: run the stage again (dvc repro) to resume"
        if saved
        else "nothing was saved yet: the next run starts from scratch"
    )
    print(f"{name}: stopped by {signal.Signals(signum).name}; {resume}", file=sys.stderr, flush=True)
    return SystemExit(128 + signum)


@contextlib.contextmanager
def stage_errors(name: str) -> Iterator[None]:
    """End the stage with one line naming the file and the cause for every failure a user can
    cause: an output that cannot be written (full disk, no permission), a missing, truncated or
    corrupt input."""
    try:
        yield
    except (OutputError, CorruptFileError) as err:
        raise SystemExit(f"{name}: {err}") from None
    except FileNotFoundError as err:
        what = f"{err.filename}: no such file" if err.filename else str(err)
        raise SystemExit(f"{name}: {what} (run the stage that makes it)") from None


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


# Files whose uncommitted changes do not make a run's code differ from its commit: DVC records
# params and dvc.lock itself, and reports/ is what the pipeline writes.
_NOT_CODE = ("params.yaml", "dvc.lock", "reports/")


def provenance(device: torch.device, **extra) -> dict:
    """Run-specific facts, kept in one `provenance` block of a stage's metrics.json: the only
    part of an output allowed to differ between two runs of the same code, data and params.

    `git_rev` is the commit the working tree is at and `git_dirty` whether tracked code differs
    from it (params.yaml, dvc.lock and reports/ do not count: DVC records the first two). Under
    `dvc exp run`, `dvc_exp_name` and `dvc_exp_baseline_rev` are the experiment's name and the
    commit it is based on. `torch_threads` is torch's intra-op thread count.
    """
    status = _git("status", "--porcelain", "--untracked-files=no")
    dirty = (
        None
        if status is None
        else any(not line[3:].startswith(_NOT_CODE) for line in status.splitlines() if line.strip())
    )
    info = {
        "git_rev": _git("rev-parse", "HEAD"),
        "git_dirty": dirty,
        "dvc_exp_name": os.environ.get("DVC_EXP_NAME"),
        "dvc_exp_baseline_rev": os.environ.get("DVC_EXP_BASELINE_REV"),
        "device": str(device),
        "torch": str(torch.__version__),
        "python": platform.python_version(),
        "torch_threads": torch.get_num_threads(),
        **extra,
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def progress(total: int, desc: str, initial: int = 0):
    """One progress bar per stage; quiet when stderr is not a terminal (DVC logs, CI)."""
    from tqdm import tqdm

    return tqdm(
        total=total, initial=initial, desc=desc, unit="epoch", disable=not sys.stderr.isatty(), dynamic_ncols=True
    )


def file_md5(path: str | Path) -> str:
    """md5 of a file's bytes (keys resume checkpoints to the exact input data)."""
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
