"""Run dvc.yaml's stages side by side on a CPU, then record them with `dvc commit`.

`dvc repro` runs one stage at a time, and one MNIST stage gains little from a second core (its
mini-batches of 10 are too small to split well); DVC's documented way to run stages side by side,
one `dvc repro <target>` each, races for the repository lock (treeverse/dvc#10465). This script
runs the commands of the stages `dvc status` finds changed, and of every stage downstream of one,
`--jobs` at a time, each with one intra-op thread, starting a stage once the stages it depends on
have finished (the costliest kinds first); then `dvc commit -f` records deps, params and outs in
dvc.lock as `dvc repro` would. A stage that fails stops the scheduling of new ones; nothing is
committed then, and the stage's log is named.

    python scripts/repro_parallel.py --jobs 2            # what `dvc repro` would run
    python scripts/repro_parallel.py --jobs 2 --dry      # the stages, in an order it may run them

Each stage's output goes to `logs/<stage>.log`; wall seconds per stage to `logs/stage_seconds.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path

# Ready stages start in this order (the costliest kinds first, so the last one to finish is short).
FIRST = ("train-vat", "train-goodfellow", "train-adversarial", "train-fit", "train-random", "train", "robustness")


def priority(name: str) -> int:
    return next((i for i, prefix in enumerate(FIRST) if name.startswith(prefix)), len(FIRST))


def plan(force: bool = False) -> tuple[dict[str, str], dict[str, set[str]]]:
    """{stage: command}, {stage: the stages to run that it depends on}, from dvc.yaml and
    params.yaml: the stages `dvc status` finds changed (all with `force`) and those downstream."""
    import networkx as nx
    from dvc.exceptions import NotDvcRepoError
    from dvc.repo import Repo

    try:
        repo = Repo(".")
    except NotDvcRepoError as err:
        raise SystemExit(f"repro_parallel: {err}; run it from the repository root") from None
    graph = repo.index.graph  # edges run from a stage to the stages it depends on
    status = {} if force else repo.status()  # {stage: what changed}, for the changed stages only
    changed = {s for s in graph.nodes if s.cmd and (force or s.addressing in status)}
    run = changed | {s for c in changed for s in nx.ancestors(graph, c)}  # ancestors: what depends on it
    cmds = {s.addressing: s.cmd for s in run if s.cmd}
    needs = {s.addressing: {d.addressing for d in graph.successors(s) if d in run} for s in run if s.cmd}
    return cmds, needs


def run_stage(name: str, cmd: str, logs: Path) -> float:
    start = time.perf_counter()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with open(logs / f"{name}.log", "w") as log:
        subprocess.run(cmd, shell=True, check=True, stdout=log, stderr=subprocess.STDOUT, env=env)
    return time.perf_counter() - start


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=os.cpu_count(), help="stages at once (default: the CPU count)")
    ap.add_argument("--dry", action="store_true", help="print the stages in a valid order and stop")
    ap.add_argument("--force", action="store_true", help="run every stage, changed or not")
    args = ap.parse_args(argv)
    cmds, needs = plan(args.force)
    if not cmds:
        print("every stage is up to date")
        return 0
    logs = Path("logs")
    logs.mkdir(exist_ok=True)
    done: dict[str, float] = {}
    running: dict[Future, str] = {}
    started = time.perf_counter()
    with ThreadPoolExecutor(args.jobs) as pool:
        while len(done) < len(cmds):
            ready = sorted(
                (s for s in cmds if s not in done and s not in running.values() and needs[s] <= done.keys()),
                key=lambda s: (priority(s), s),
            )
            if args.dry:
                for s in ready:
                    print(s)
                    done[s] = 0.0
                continue
            for s in ready[: args.jobs - len(running)]:
                running[pool.submit(run_stage, s, cmds[s], logs)] = s
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                name = running.pop(future)
                try:
                    done[name] = future.result()
                except subprocess.CalledProcessError:
                    for f in running:
                        f.cancel()
                    print(f"stage {name} failed: see {logs / name}.log; nothing committed", file=sys.stderr)
                    return 1
                elapsed = (time.perf_counter() - started) / 60
                print(f"[{len(done)}/{len(cmds)}, {elapsed:.1f} min] {name}: {done[name]:.0f} s", flush=True)
    if args.dry:
        return 0
    (logs / "stage_seconds.json").write_text(json.dumps(done, indent=1) + "\n")
    subprocess.run(["dvc", "commit", "-f", "-q"], check=True)
    print(f"all {len(cmds)} stages in {(time.perf_counter() - started) / 60:.1f} min; dvc.lock written", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
