"""What DVC itself costs on the full stage graph when there is nothing (or everything) to do.

    python -m benchmarks.dvc_noop                                  # the graph of params.yaml
    python -m benchmarks.dvc_noop --datasets mnist,fashion-mnist   # a larger graph

In a temporary copy of the repository (the files git knows), it times, `repeats` times each:
- `dvc stage list`: parse dvc.yaml and params.yaml, expand the matrix stages;
- `dvc dag` (the stage graph) and `dvc status` with every output missing (a fresh clone);
- then fakes "everything up to date" without training anything: every stage output is
  replaced by a small placeholder and `dvc commit --force` records them in dvc.lock as if
  every stage had run; and times `dvc status` and the no-op `dvc repro` on that.
The placeholders are tiny, so DVC's first hashing of real multi-megabyte outputs is not
measured; an unchanged file is not re-hashed later (DVC keeps size/mtime/inode in its state
database), which is the situation of an up-to-date repository. Prints a table, writes
reports/dvc_noop.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from advgrad.core.io import save_text
from tests.pipeline_utils import copy_repo

ROOT = Path(__file__).resolve().parents[1]


def dvc(repo: Path, *args: str) -> tuple[float, str]:
    """Seconds and stdout of `dvc <args>` in a subprocess, as a user runs it."""
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=repo, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(
            f"dvc_noop: `dvc {' '.join(args)}` failed ({proc.returncode}): "
            f"{proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ''}"
        )
    return seconds, proc.stdout


def timed(repo: Path, repeats: int, *args: str) -> float:
    return statistics.median(dvc(repo, *args)[0] for _ in range(repeats))


def fake_outputs(repo: Path) -> int:
    """A small placeholder for every output of every stage; returns how many were made.

    Outputs are listed by DVC's own Python API, so matrix stages are expanded exactly as
    `dvc repro` expands them. A path without a suffix is a directory output.
    """
    from dvc.repo import Repo

    made = 0
    with Repo(str(repo)) as dvc_repo:
        for stage in dvc_repo.index.stages:
            for out in stage.outs:
                path = repo / out.def_path
                if path.suffix:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(f"placeholder for {out.def_path}\n")
                else:
                    path.mkdir(parents=True, exist_ok=True)
                    (path / "placeholder.txt").write_text(f"placeholder for {out.def_path}\n")
                made += 1
    return made


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--datasets", default=None, help="comma-separated mnist.datasets for a larger graph (default: params.yaml's)"
    )
    ap.add_argument("--out", type=Path, default=ROOT / "reports" / "dvc_noop.md")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="advgrad-dvc-noop-") as tmp:
        repo = Path(tmp)
        copy_repo(repo)
        if args.datasets:
            params = yaml.safe_load((repo / "params.yaml").read_text())
            params["mnist"]["datasets"] = args.datasets.split(",")
            (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        _, listing = dvc(repo, "stage", "list")
        n_stages = len(listing.strip().splitlines())
        rows = [
            ("dvc stage list", timed(repo, args.repeats, "stage", "list")),
            ("dvc dag (build the stage graph)", timed(repo, args.repeats, "dag")),
            ("dvc status, every output missing", timed(repo, args.repeats, "status")),
        ]
        n_outs = fake_outputs(repo)
        commit_s, _ = dvc(repo, "commit", "--force")
        rows.append(("dvc commit --force (fake every stage as run; once)", commit_s))
        status_s, status = dvc(repo, "status")
        if "up to date" not in status:
            raise SystemExit(f"dvc_noop: faking failed, `dvc status` still reports work:\n{status[:500]}")
        rows.append(("dvc status, everything up to date", timed(repo, args.repeats, "status")))
        _, repro = dvc(repo, "repro")
        if "Running stage" in repro:
            raise SystemExit("dvc_noop: faking failed, `dvc repro` ran a stage")
        rows.append(("dvc repro, everything up to date (the no-op)", timed(repo, args.repeats, "repro")))
        _, version = dvc(repo, "--version")

    lines = [
        "# DVC's own cost on the full stage graph",
        "",
        "Generated by `"
        + " ".join(["python -m benchmarks.dvc_noop", *(argv if argv is not None else sys.argv[1:])])
        + "`; see that module for the method.",
        "",
        f"- {n_stages} stages ({n_outs} outputs), DVC {version.strip()}, "
        f"median of {args.repeats} runs each (one process per command, as typed).",
        "",
        "| command | seconds |",
        "|---|---:|",
    ]
    lines += [f"| {name} | {seconds:.2f} |" for name, seconds in rows]
    text = "\n".join(lines) + "\n"
    save_text(text, args.out)
    print(text, end="")
    return {"stages": n_stages, "outputs": n_outs, "seconds": dict(rows)}


if __name__ == "__main__":
    main()
