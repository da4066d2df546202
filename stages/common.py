"""What every stage shares: its command line, device choice, resume checkpoints, interruptions and
one-line errors.

Resume checkpoints live in `<repository>/.advgrad/resume/` (`ADVGRAD_RESUME_DIR` moves them; a
relative value is taken from the repository root, which DVC gives every stage as `DVC_ROOT`, also
in the temporary copy of a queued experiment). They are no declared output, so DVC's run-cache
keeps working. A checkpoint is keyed by the stage's configuration, the source of the code dvc.yaml
declares for it and torch's version: a changed configuration, an edited module or another torch
never resumes a stale state. Stale and corrupt checkpoints are removed when found, a finished stage
removes its own, and `ADVGRAD_NO_RESUME=1` starts from scratch.
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
from pathlib import Path

import torch
import yaml

from advgrad.core.io import CorruptFileError, OutputError, load_checked, save_checked
from stages.params import Params, ParamsError, load_params

ROOT = Path(__file__).resolve().parents[1]  # the repository: dvc.yaml, stages/ and advgrad/ live here
log = logging.getLogger("advgrad")


def cli(doc: str, argv: list[str] | None, *options) -> tuple[argparse.Namespace, Params]:
    """The stage's command line and its validated params.yaml (a bad value ends the stage in one
    line before any work). Each option is "--name" (a required path), ("--name", allowed) with a
    tuple of choices or a type, or ("--name", type, default); `--params` is added."""
    parser = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    for option in options:
        name, allowed, *default = (option, Path) if isinstance(option, str) else option
        kind = {"choices": allowed} if isinstance(allowed, tuple) else {"type": allowed}
        parser.add_argument(name, **kind, **({"default": default[0]} if default else {"required": True}))
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", datefmt="%H:%M:%S")
    try:
        return args, load_params(args.params)
    except (ParamsError, OSError, yaml.YAMLError) as err:
        raise SystemExit(f"error: {err}") from None  # exit status 1, no traceback


def resolve_device(name: str) -> torch.device:
    """`auto` picks CUDA when present; asking for `cuda` without one is an error."""
    if name == "cuda" and not torch.cuda.is_available():
        raise SystemExit("device: cuda requested in params.yaml but no CUDA device is available (use auto or cpu)")
    return torch.device("cuda" if torch.cuda.is_available() else "cpu") if name == "auto" else torch.device(name)


def code_digest(stage: str, root: Path | None = None) -> str:
    """SHA-256 of the path and source of every Python file among the code deps dvc.yaml declares for
    module `stages.<stage>` (the same for each of its stages, and what its import-linter contract
    allows it to import: tests/test_dvc_deps.py)."""
    root = root or ROOT
    stages = yaml.safe_load((root / "dvc.yaml").read_text())["stages"].values()
    deps = next(s["deps"] for s in stages if f"-m stages.{stage} " in s["cmd"] + " ")
    paths = [root / d for d in deps if d.startswith(("advgrad/", "stages/"))]
    h = hashlib.sha256()
    for path in sorted({f for p in paths for f in (p.rglob("*.py") if p.is_dir() else [p])}):
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def resume_dir() -> Path:
    value = Path(os.environ.get("ADVGRAD_RESUME_DIR") or ".advgrad/resume")
    return value if value.is_absolute() else Path(os.environ.get("DVC_ROOT") or os.getcwd()) / value


class ResumeCheckpoint:
    """The checkpoint of an unfinished training stage (module `stages.<stage>`), in
    `<stage_key>-<16 hex digits of its key>.pt`."""

    def __init__(self, stage_key: str, config: dict, stage: str, root: Path | None = None):
        self.key = {"config": config, "code": code_digest(stage), "torch": str(torch.__version__)}
        digest = hashlib.sha256(json.dumps(self.key, sort_keys=True, default=str).encode()).hexdigest()[:16]
        self.stage_key, self.root, self.last_saved = stage_key, root or resume_dir(), None
        self.path = self.root / f"{stage_key}-{digest}.pt"

    def load(self) -> dict | None:
        """The saved state, or None. Removes checkpoints of this stage made with another
        configuration, code or torch (one line each), and sets a corrupt one aside."""
        for stale in set(self.root.glob(f"{self.stage_key}-" + "?" * 16 + ".pt")) - {self.path}:
            log.info(
                "%s: removing %s, a checkpoint of another configuration, code or torch version", self.stage_key, stale
            )
            stale.unlink(missing_ok=True)
        if os.environ.get("ADVGRAD_NO_RESUME", "") not in ("", "0") and self.path.exists():
            log.info("%s: ADVGRAD_NO_RESUME=1: removing %s, starting from scratch", self.stage_key, self.path)
            self.path.unlink()
        if not self.path.exists():
            return None
        try:
            blob = load_checked(self.path)
        except CorruptFileError as err:
            os.replace(self.path, aside := self.path.with_suffix(".corrupt"))
            log.warning("%s: %s; moved it to %s and starting from scratch", self.stage_key, err, aside)
            return None
        if blob.get("key") != self.key:  # a hash collision or a hand-copied file
            log.info("%s: %s was made for another key; starting from scratch", self.stage_key, self.path)
            return None
        self.last_saved = blob["state"]
        return self.last_saved

    def save(self, state) -> None:
        # A signal waits until the file and `last_saved` agree, so the stage's last line names the
        # epoch that is on disk (a signal caught by a worker thread still runs its handler in the
        # main thread, so masking signals cannot do this).
        _deferred["signum"] = None
        try:
            save_checked({"key": self.key, "state": state}, self.path)
            self.last_saved = state
        finally:
            signum = _deferred.pop("signum")
        if signum is not None:
            raise KeyboardInterrupt(signum)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


_deferred: dict = {}  # {"signum": a signal that came meanwhile, or None} while a checkpoint is written


def _raise(signum, frame):
    if "signum" not in _deferred:
        raise KeyboardInterrupt(signum)
    _deferred["signum"] = signum


@contextlib.contextmanager
def interruptible():
    """Turn SIGINT and SIGTERM (what SLURM and most schedulers send before killing a job) into
    KeyboardInterrupt(signum) while the block runs (the main thread only)."""
    previous = {sig: signal.signal(sig, _raise) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def stopped(name: str, err: KeyboardInterrupt, saved: str | None) -> SystemExit:
    """The one-line end of a stage stopped by Ctrl-C or SIGTERM, exit status 128 + signal; `saved`
    says what the checkpoint holds (None: nothing yet)."""
    signum = next((a for a in err.args if isinstance(a, int)), signal.SIGINT)
    resume = (
        f"{saved}: run the stage again (dvc repro) to resume"
        if saved
        else "nothing was saved yet: the next run starts from scratch"
    )
    print(f"{name}: stopped by {signal.Signals(signum).name}; {resume}", file=sys.stderr, flush=True)
    return SystemExit(128 + signum)


@contextlib.contextmanager
def stage_errors(name: str):
    """End the stage with one line naming the file and the cause of every failure a user can cause:
    an output that cannot be written (full disk, no permission), a missing or corrupt input."""
    try:
        yield
    except (OutputError, CorruptFileError) as err:
        raise SystemExit(f"{name}: {err}") from None
    except FileNotFoundError as err:
        what = f"{err.filename}: no such file" if err.filename else str(err)
        raise SystemExit(f"{name}: {what} (run the stage that makes it)") from None


def _git(*args: str) -> str | None:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(["git", *args], capture_output=True, text=True, timeout=30)
        return out.stdout.strip() if out.returncode == 0 else None
    return None


def provenance(device: torch.device, **extra) -> dict:
    """Run-specific facts, the one block of a stage's metrics.json allowed to differ between two runs
    of the same code, data and params: the commit, whether tracked files differ from it (params.yaml
    and dvc.lock, which DVC records, and reports/, which the pipeline writes, do not count), the DVC
    experiment and the commit it is based on, device, versions, torch's intra-op thread count."""
    not_code = (f":(top,exclude){p}" for p in ("params.yaml", "dvc.lock", "reports"))
    dirty = _git("status", "--porcelain", "--untracked-files=no", "--", ":/", *not_code)
    return {
        "git_rev": _git("rev-parse", "HEAD"),
        "git_dirty": None if dirty is None else bool(dirty),
        "dvc_exp_name": os.environ.get("DVC_EXP_NAME"),
        "dvc_exp_baseline_rev": os.environ.get("DVC_EXP_BASELINE_REV"),
        "device": str(device),
        "torch": str(torch.__version__),
        "python": platform.python_version(),
        "torch_threads": torch.get_num_threads(),
        **({"gpu": torch.cuda.get_device_name(device)} if device.type == "cuda" else {}),
        **extra,
    }


def progress(total: int, desc: str, initial: int = 0):
    """One progress bar per stage; quiet when stderr is not a terminal (DVC logs, CI)."""
    from tqdm import tqdm

    return tqdm(
        total=total, initial=initial, desc=desc, unit="epoch", disable=not sys.stderr.isatty(), dynamic_ncols=True
    )


def file_md5(path: str | Path) -> str:
    """md5 of a file's bytes (keys resume checkpoints to the exact input data)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "md5").hexdigest()
