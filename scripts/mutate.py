"""Proof by mutation: each deliberate bug below, applied to a scratch copy of the repository,
must make its targeted tests fail. Run by hand (not in CI; about 3 minutes on 2 cores):

    python scripts/mutate.py            # every mutant
    python scripts/mutate.py -k pairing # those whose name contains "pairing"

Prints one line per mutant (CAUGHT or MISSED, with the seconds its tests took) and exits 1 if
any mutant survives. A mutant whose text is not found in its file is an error: the script is
kept in step with the code it mutates.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]


class Mutant(NamedTuple):
    name: str
    file: str
    old: str
    new: str
    tests: tuple[str, ...]


MUTANTS = (
    # ---------------------------------------------------------------- the six of the issue
    Mutant("eps doubled in the stage config", "stages/train_mnist.py",
           "eps=params.eps if method in ADVERSARIAL else 0.0", "eps=2 * params.eps if method in ADVERSARIAL else 0.0",
           ("tests/test_train_stage.py",)),
    Mutant("eps given to backprop", "stages/train_mnist.py",
           "eps=params.eps if method in ADVERSARIAL else 0.0", "eps=params.eps",
           ("tests/test_train_stage.py",)),
    Mutant("transfer pairing i -> i-1", "advgrad/evaluate/attack.py",
           "return [(s, seeds[(i + 1) % len(seeds)]) for i, s in enumerate(seeds)]",
           "return [(s, seeds[(i - 1) % len(seeds)]) for i, s in enumerate(seeds)]", ("tests/test_attack.py",)),
    Mutant("transfer: adversarial target shares the source's seed", "advgrad/evaluate/attack.py",
           "errors[name].append(error_pct(family[target_seed], x_adv, y))",
           "errors[name].append(error_pct(family[source_seed if name == 'adversarial' else target_seed], x_adv, y))",
           ("tests/test_attack.py",)),
    Mutant("fit and train splits swapped", "stages/train_mnist.py",
           'train_split = data.train if args.split == "train" else data.fit',
           'train_split = data.fit if args.split == "train" else data.train', ("tests/test_train_stage.py",)),
    Mutant("statistic over all epochs instead of the last N", "advgrad/core/results.py",
           "tail = rows[-last_epochs:]", "tail = rows", ("tests/test_train_stage.py", "tests/test_mnist_trainer.py")),
    Mutant("backprop and adversarial swapped in the report's gathering", "stages/report.py",
           'key = f"{ds}-{act}-{units}-{method}"',
           'key = f"{ds}-{act}-{units}-{ {"backprop": "adversarial", "adversarial": "backprop"}.get(method, method)}"',
           ("tests/test_report_stage.py",)),
    Mutant("a resume silently restarts from epoch 0", "stages/train_mnist.py",
           "    state = resume.load() if resume else None\n",
           "    state = None if resume is None or resume.load() is None else None\n",
           ("tests/test_train_stage.py", "tests/test_reliability.py")),
    # ---------------------------------------------------------------- others found along the way
    Mutant("FGSM sign flipped", "advgrad/core/adversarial.py",
           "z = x + eps * torch.sign(grad_x)", "z = x - eps * torch.sign(grad_x)",
           ("tests/test_algorithm1.py", "tests/test_attack.py")),
    Mutant("Algorithm 1: perturbation not applied", "advgrad/core/algorithm1.py",
           "        z = fgsm(x, e, eps, clip)\n", "        z = x\n",
           ("tests/test_algorithm1.py", "tests/test_mnist_trainer.py")),
    Mutant("Goodfellow's clean loss weight ignored", "advgrad/core/algorithm1.py",
           "    (clean_weight * clean).sum().backward()", "    clean.sum().backward()",
           ("tests/test_algorithm1.py", "tests/test_stacked.py")),
    Mutant("stacked seeds' losses averaged, not summed (each seed's gradient divided by S)",
           "advgrad/core/algorithm1.py", "    loss.sum().backward()", "    loss.mean().backward()",
           ("tests/test_stacked.py", "tests/test_mnist_trainer.py")),
    Mutant("every stacked seed's dropout masks from the first seed's generator", "advgrad/core/dropout.py",
           "generator=g, device=x.device", "generator=self.generators[0], device=x.device",
           ("tests/test_stacked.py",)),
    Mutant("dropout masks reused across the two passes of a step", "advgrad/core/dropout.py",
           "        keep = torch.stack(draws) if self.stacked else draws[0]  # same shape as x\n",
           "        keep = torch.stack(draws) if self.stacked else draws[0]  # same shape as x\n"
           "        self._keep = keep = getattr(self, '_keep', None) if getattr(self, '_keep', None) is not None "
           "and self._keep.shape == keep.shape else keep\n",
           ("tests/test_stacked.py", "tests/test_cifar_trainer.py")),
    Mutant("training loop: one shuffling order shared by every seed", "advgrad/core/training.py",
           "order = torch.stack([torch.randperm(n, generator=g) for g in shuffle_rng])",
           "order = torch.stack([torch.randperm(n, generator=shuffle_rng[0]) for g in shuffle_rng])",
           ("tests/test_mnist_trainer.py",)),
    Mutant("PGD without the projection onto the eps-ball", "advgrad/evaluate/attack.py",
           "            adv = xb + (adv - xb).clamp(-eps, eps)\n", "",
           ("tests/test_attack.py",)),
    Mutant("robustness: an image broken by either loss counted by one only", "advgrad/evaluate/attack.py",
           "for objective in (bce_loss, softmax_ce):", "for objective in (bce_loss,):",
           ("tests/test_attack.py",)),
    Mutant("paired difference with the wrong sign", "advgrad/core/stats.py",
           "diffs = [a[s] - b[s] for s in seeds]", "diffs = [b[s] - a[s] for s in seeds]",
           ("tests/test_stats.py", "tests/test_report_stage.py")),
    Mutant("t-interval at the wrong quantile", "advgrad/core/stats.py",
           "t = float(_scipy_stats.t.ppf((1 + level) / 2, len(diffs) - 1))",
           "t = float(_scipy_stats.t.ppf(level, len(diffs) - 1))", ("tests/test_stats.py",)),
    Mutant("CIFAR schedule driven by the clean training error", "advgrad/cifar/trainer.py",
           'action = schedule.step(point["online_train_error"])', 'action = schedule.step(point["train_error"])',
           ("tests/test_cifar_trainer.py",)),
    Mutant("ZCA regulariser back to 0.01", "params.yaml",
           "zca_epsilon: 1.5378700499807767e-10", "zca_epsilon: 0.01",
           ("tests/test_prepare.py", "tests/test_params.py")),
    Mutant("eps declared for the backprop stages", "dvc.yaml",
           "      - mnist.init_std\n      - mnist.last_epochs\n    outs:\n"
           "      - models/${item.dataset}-${item.act}-${item.units}-backprop.pt",
           "      - mnist.init_std\n      - mnist.last_epochs\n      - eps\n    outs:\n"
           "      - models/${item.dataset}-${item.act}-${item.units}-backprop.pt",
           ("tests/test_param_scoping.py",)),
    Mutant("a code dependency missing from dvc.yaml", "dvc.yaml",
           "      - advgrad/core/training.py\n", "", ("tests/test_dvc_deps.py",)),
    Mutant("resume key without the code", "stages/common.py",
           '"code": code_digest(stage), ', "", ("tests/test_reliability.py",)),
    Mutant("model files saved without their checksum check", "advgrad/core/io.py",
           "    if tensor_digest(obj) != stored:", "    if False:", ("tests/test_reliability.py",)),
    Mutant("report prints ours - paper for Fashion-MNIST", "advgrad/report/tables.py",
           'compare = dataset in (None, "mnist")', "compare = True", ("tests/test_report.py",)),
    Mutant("a paper number mistyped", "advgrad/report/paper.py",
           '("relu", 400): Stat(0.83, 0.04)', '("relu", 400): Stat(0.38, 0.04)', ("tests/test_paper_numbers.py",)),
)


def copy_repository(dest: Path) -> None:
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, check=True)
    files = listed.stdout.decode().split("\0")
    for rel in filter(None, files):
        if (ROOT / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, dest / rel)


def run(mutant: Mutant, scratch: Path) -> tuple[bool, float]:
    """(caught, seconds): apply the mutant, run its tests, restore the file."""
    path = scratch / mutant.file
    original = path.read_text()
    if mutant.old not in original:
        raise SystemExit(f"mutate: {mutant.name!r}: its text is not in {mutant.file} (update this script)")
    path.write_text(original.replace(mutant.old, mutant.new, 1))
    start = time.perf_counter()
    try:
        command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *mutant.tests]
        result = subprocess.run(command, cwd=scratch, capture_output=True, text=True)
    finally:
        path.write_text(original)
    return result.returncode != 0, time.perf_counter() - start


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", default="", help="only mutants whose name contains this")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTANTS if args.k in m.name]
    with tempfile.TemporaryDirectory(prefix="advgrad-mutants-") as tmp:
        scratch = Path(tmp)
        copy_repository(scratch)
        missed = []
        for mutant in chosen:
            caught, seconds = run(mutant, scratch)
            print(f"{'CAUGHT' if caught else 'MISSED'}  {seconds:6.1f}s  {mutant.name}  [{mutant.file}]", flush=True)
            if not caught:
                missed.append(mutant.name)
    print(f"{len(chosen) - len(missed)} of {len(chosen)} mutants caught")
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
