"""Run the real DVC pipeline in a temporary copy of this repository (pipeline tests)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def copy_repo(dst: Path) -> Path:
    """Copy the files git knows (tracked, or new and not ignored) and make a fresh git repo."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, check=True
        )
        .stdout.decode()
        .split("\0")
    )
    for rel in filter(None, listed):
        src = ROOT / rel
        if src.is_file():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / rel)
    git(dst, "init", "-q")
    commit(dst, "copy")
    return dst


def git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    return subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True).stdout


def commit(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message, "--allow-empty")


def set_params(repo: Path, updates: dict) -> None:
    """Apply {"dotted.key": value} to the copy's params.yaml."""
    path = repo / "params.yaml"
    data = yaml.safe_load(path.read_text())
    for dotted, value in updates.items():
        node = data
        *parents, last = dotted.split(".")
        for key in parents:
            node = node[key]
        node[last] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def dvc(repo: Path, *args: str, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """`dvc <args>` with this interpreter's environment first on PATH (stage cmds say `python`)."""
    bindir = str(Path(sys.executable).parent)
    full_env = {
        **os.environ,
        "PATH": bindir + os.pathsep + os.environ.get("PATH", ""),
        "DVC_NO_ANALYTICS": "1",
        **(env or {}),
    }
    proc = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=repo, env=full_env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"dvc {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def stages_run(output: str) -> set[str]:
    """Names of the stages that DVC actually ran (not restored from the run-cache)."""
    return set(re.findall(r"Running stage '([^']+)'", output))
