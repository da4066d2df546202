"""What every training stage shares: device choice, resume checkpoints, progress, run info.

Resume checkpoints live in `.advgrad/resume/`, outside the stage's declared DVC outputs, keyed
by a hash of the stage's full configuration. So DVC's run-cache keeps working for training
stages (it is off for stages with `persist: true` outputs), a changed configuration never
resumes from a stale state, and the checkpoint is removed when the stage finishes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import subprocess
import sys
from pathlib import Path

import torch

from advgrad.io import save_torch

RESUME_DIR = Path(os.environ.get("ADVGRAD_RESUME_DIR", ".advgrad/resume"))


def setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s",
                        datefmt="%H:%M:%S", stream=sys.stderr)


def resolve_device(name: str) -> torch.device:
    """`auto` picks CUDA when present; asking for `cuda` without one is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SystemExit("device: cuda requested in params.yaml but no CUDA device is available "
                         "(use device: auto or cpu)")
    return torch.device(name)


def config_hash(config: dict) -> str:
    blob = json.dumps(config, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


class ResumeCheckpoint:
    """A per-configuration checkpoint of an unfinished training stage."""

    def __init__(self, stage_key: str, config: dict, root: Path | None = None):
        self.path = (root or RESUME_DIR) / f"{stage_key}-{config_hash(config)}.pt"

    def load(self):
        if not self.path.exists():
            return None
        return torch.load(self.path, map_location="cpu", weights_only=False)

    def save(self, state) -> None:
        save_torch(state, self.path)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


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
    dirty = None if status is None else any(
        not line[3:].startswith(_NOT_CODE) for line in status.splitlines() if line.strip())
    info = {"git_rev": _git("rev-parse", "HEAD"), "git_dirty": dirty,
            "dvc_exp_name": os.environ.get("DVC_EXP_NAME"),
            "dvc_exp_baseline_rev": os.environ.get("DVC_EXP_BASELINE_REV"),
            "device": str(device), "torch": torch.__version__, "python": platform.python_version(),
            "torch_threads": torch.get_num_threads(), **extra}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def progress(total: int, desc: str, initial: int = 0):
    """One progress bar per stage; quiet when stderr is not a terminal (DVC logs, CI)."""
    from tqdm import tqdm
    return tqdm(total=total, initial=initial, desc=desc, unit="epoch",
                disable=not sys.stderr.isatty(), dynamic_ncols=True)


def file_md5(path: str | Path) -> str:
    """md5 of a file's bytes (keys resume checkpoints to the exact input data)."""
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_mlp_checkpoint(path: str | Path):
    """A training stage's checkpoint as (MLPConfig, [nn.Sequential per seed], checkpoint dict)."""
    from advgrad.mlp import MLPConfig, to_modules

    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    cfg = MLPConfig(**ckpt["config"]["mlp"])
    return cfg, to_modules(ckpt["params"], cfg), ckpt
