"""Proof by mutation: each deliberate bug below, applied to a scratch copy of the repository,
must make its targeted tests fail by an assertion. Run by hand (not in CI; several minutes on
2 cores):

    python scripts/mutate.py            # every mutant
    python scripts/mutate.py -k pairing # those whose name contains "pairing"

First each distinct set of targeted tests runs once on the unmutated copy: they must pass, or
the mutants they target prove nothing (an ERROR of this script, not of the code). Then, per
mutant, its tests run with -x on the mutated copy, and one line says CAUGHT or MISSED, the
seconds they took, and for a caught mutant the test that caught it.

A mutant is CAUGHT only when the first test to fail failed in its body by an assertion: an
AssertionError (assert, torch.testing.assert_close, pytest.raises(match=...)), or pytest's own
verdict Failed (pytest.raises or pytest.warns that saw nothing, pytest.fail). A mutant that
breaks an import, the collection, a fixture, or makes the test body raise another exception
(TypeError, SystemExit...) is MISSED: the tests did not check what the mutant broke. Outcomes
come from pytest's --junitxml report, in which this module, loaded into pytest as a plugin,
records each failure's kind and test id.

Exit status: 2 on an error of the script (a mutant whose text is not found in its file: the
script is kept in step with the code it mutates; no mutant selected; targeted tests that fail
unmutated), else 1 if any mutant is missed, else 0.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: the repository's packages

from tests.pipeline_utils import copy_repo  # noqa: E402

PLUGIN = Path(__file__).stem  # this module, loaded into each pytest run with -p
KIND, NODE_ID = "mutate.failure_kind", "mutate.node_id"  # the junit properties the plugin writes


class Mutant(NamedTuple):
    name: str
    file: str
    old: str
    new: str
    tests: tuple[str, ...]


MUTANTS = (
    # ---------------------------------------------------------------- the six of the issue
    Mutant(
        "eps doubled in the stage config",
        "stages/train_mnist.py",
        "eps=params.eps if perturbs else 0.0,",
        "eps=2 * params.eps if perturbs else 0.0,",
        ("tests/test_train_stage.py",),
    ),
    Mutant(
        "eps given to backprop",
        "stages/train_mnist.py",
        "eps=params.eps if perturbs else 0.0,",
        "eps=params.eps,",
        ("tests/test_train_stage.py",),
    ),
    Mutant(
        "transfer pairing i -> i-1",
        "advgrad/evaluate/attack.py",
        "return [(s, seeds[(i + 1) % len(seeds)]) for i, s in enumerate(seeds)]",
        "return [(s, seeds[(i - 1) % len(seeds)]) for i, s in enumerate(seeds)]",
        ("tests/test_attack.py",),
    ),
    Mutant(
        "transfer: adversarial target shares the source's seed",
        "advgrad/evaluate/attack.py",
        "errors[name].append(error_pct(family[target_seed], x_adv, y))",
        "errors[name].append(error_pct(family[source_seed if name == 'adversarial' else target_seed], x_adv, y))",
        ("tests/test_attack.py",),
    ),
    Mutant(
        "fit and train splits swapped",
        "stages/train_mnist.py",
        'train_split = data.train if args.split == "train" else data.fit',
        'train_split = data.fit if args.split == "train" else data.train',
        ("tests/test_train_stage.py",),
    ),
    Mutant(
        "statistic over all epochs instead of the last N",
        "advgrad/core/results.py",
        "tail = rows[-last_epochs:]",
        "tail = rows",
        ("tests/test_train_stage.py", "tests/test_mnist_trainer.py"),
    ),
    Mutant(
        "backprop and adversarial swapped in the report's gathering",
        "stages/report.py",
        'key = f"{ds}-{act}-{units}-{method}"',
        'key = f"{ds}-{act}-{units}-" + {"backprop": "adversarial", "adversarial": "backprop"}.get(method, method)',
        ("tests/test_report_stage.py",),
    ),
    Mutant(
        "a resume silently restarts from epoch 0",
        "stages/train_mnist.py",
        "    state = resume.load() if resume else None\n",
        "    state = None if resume is None or resume.load() is None else None\n",
        ("tests/test_train_stage.py", "tests/test_reliability.py"),
    ),
    # ---------------------------------------------------------------- a stage's main() reads the wrong split
    Mutant(
        "train_mnist: Table 2's test error measured on the training split",
        "stages/train_mnist.py",
        "state = run(cfg, train_split, data.test, device, name, resume, times := [])",
        "state = run(cfg, train_split, data.train, device, name, resume, times := [])",
        ("tests/test_stage_wiring.py",),
    ),
    Mutant(
        "train_mnist: the fit nets trained on the whole training set",
        "stages/train_mnist.py",
        "state = run(cfg, train_split, data.test, device, name, resume, times := [])",
        "state = run(cfg, data.train, data.test, device, name, resume, times := [])",
        ("tests/test_stage_wiring.py",),
    ),
    Mutant(
        "train_cifar: Table 3's test error measured on the training split",
        "stages/train_cifar.py",
        "test_x, test_y = data.test.x.to(device), data.test.y.to(device)",
        "test_x, test_y = data.train.x.to(device), data.train.y.to(device)",
        ("tests/test_stage_wiring.py",),
    ),
    Mutant(
        "robustness: the white-box attacks on the training images",
        "stages/robustness.py",
        'test = load_mnist(args.data, "cpu").test',
        'test = load_mnist(args.data, "cpu").train',
        ("tests/test_stage_wiring.py",),
    ),
    Mutant(
        "attack: the transfer examples made from the test split",
        "stages/attack.py",
        'val = load_mnist(args.data, "cpu").val',
        'val = load_mnist(args.data, "cpu").test',
        ("tests/test_stage_wiring.py",),
    ),
    Mutant(
        "analyze: the activations measured on the training images",
        "stages/analyze.py",
        'x = load_mnist(args.data, "cpu").test.x',
        'x = load_mnist(args.data, "cpu").train.x',
        ("tests/test_stage_wiring.py",),
    ),
    Mutant(
        "train_cifar: eps given to the backprop cells",
        "advgrad/cifar/trainer.py",
        'eps=getattr(c.eps, arch) if method.startswith("adversarial") else 0.0,',
        "eps=getattr(c.eps, arch),",
        ("tests/test_stage_wiring.py",),
    ),
    Mutant(
        "train_mnist: dropout rates given to another method's net",
        "stages/train_mnist.py",
        'dataclasses.asdict(p.dropout).items()} if method == "dropout" else {}',
        'dataclasses.asdict(p.dropout).items()} if method in ("dropout", "random") else {}',  # (VAT refuses dropout)
        ("tests/test_stage_wiring.py",),
    ),
    # ---------------------------------------------------------------- others found along the way
    Mutant(
        "FGSM sign flipped",
        "advgrad/core/adversarial.py",
        "z = x + eps * torch.sign(grad_x)",
        "z = x - eps * torch.sign(grad_x)",
        ("tests/test_algorithm1.py", "tests/test_attack.py"),
    ),
    Mutant(
        "Algorithm 1: perturbation not applied",
        "advgrad/core/algorithm1.py",
        "        z = fgsm(x, e, eps, clip)\n",
        "        z = x\n",
        ("tests/test_algorithm1.py", "tests/test_mnist_trainer.py"),
    ),
    Mutant(
        "Goodfellow's clean loss weight ignored",
        "advgrad/core/algorithm1.py",
        "    (clean_weight * clean).sum().backward()",
        "    clean.sum().backward()",
        ("tests/test_algorithm1.py", "tests/test_stacked.py"),
    ),
    Mutant(
        "stacked seeds' losses averaged, not summed (each seed's gradient divided by S)",
        "advgrad/core/algorithm1.py",
        "    loss.sum().backward()",
        "    loss.mean().backward()",
        ("tests/test_stacked.py", "tests/test_mnist_trainer.py"),
    ),
    Mutant(
        "every stacked seed's masks and random signs from the first seed's generator",
        "advgrad/core/dropout.py",
        "generator=g, device=x.device",
        "generator=generators[0], device=x.device",
        ("tests/test_stacked.py",),
    ),
    Mutant(
        "dropout masks reused across the two passes of a step",
        "advgrad/core/dropout.py",
        "        keep = per_seed(torch.rand, x, self.generators, self.stacked)  # same shape as x\n",
        "        keep = per_seed(torch.rand, x, self.generators, self.stacked)  # same shape as x\n"
        "        self._keep = keep = getattr(self, '_keep', None) if getattr(self, '_keep', None) is not None "
        "and self._keep.shape == keep.shape else keep\n",
        ("tests/test_stacked.py", "tests/test_cifar_trainer.py"),
    ),
    Mutant(
        "training loop: one shuffling order shared by every seed",
        "advgrad/core/training.py",
        "order = torch.stack([torch.randperm(n, generator=g) for g in shuffle_rng])",
        "order = torch.stack([torch.randperm(n, generator=shuffle_rng[0]) for g in shuffle_rng])",
        ("tests/test_mnist_trainer.py",),
    ),
    Mutant(
        "PGD without the projection onto the eps-ball",
        "advgrad/evaluate/attack.py",
        "            adv = xb + (adv - xb).clamp(-eps, eps)\n",
        "",
        ("tests/test_attack.py",),
    ),
    Mutant(
        "robustness: an image broken by either loss counted by one only",
        "advgrad/evaluate/attack.py",
        "for objective in (bce_loss, softmax_ce):",
        "for objective in (bce_loss,):",
        ("tests/test_attack.py",),
    ),
    Mutant(
        "paired difference with the wrong sign",
        "advgrad/core/stats.py",
        "diffs = [a[s] - b[s] for s in seeds]",
        "diffs = [b[s] - a[s] for s in seeds]",
        ("tests/test_stats.py", "tests/test_report_stage.py"),
    ),
    Mutant(
        "t-interval at the wrong quantile",
        "advgrad/core/stats.py",
        "t = float(_scipy_stats.t.ppf((1 + level) / 2, len(values) - 1))",
        "t = float(_scipy_stats.t.ppf(level, len(values) - 1))",
        ("tests/test_stats.py",),
    ),
    Mutant(
        "claim verdicts on a one-sided interval",  # the t-interval verdicts.t_interval takes from core.stats
        "advgrad/core/stats.py",
        "t = float(_scipy_stats.t.ppf((1 + level) / 2, len(values) - 1))",
        "t = float(_scipy_stats.t.ppf(level, len(values) - 1))",
        ("tests/test_verdicts.py",),
    ),
    Mutant(
        "a direction claim judged on the wrong side",
        "advgrad/report/verdicts.py",
        'return "direction holds" if (1 if interval[0] > 0 else -1) == paper_sign else "direction contradicted"',
        'return "direction holds" if (1 if interval[0] > 0 else -1) != paper_sign else "direction contradicted"',
        ("tests/test_verdicts.py",),
    ),
    Mutant(
        "the ledger pairs seeds by row order",
        "advgrad/report/ledger.py",
        "return [a[s] - b[s] for s in sorted(set(a) & set(b))]",
        "return [x - y for x, y in zip(a.values(), b.values())]",
        ("tests/test_ledger.py",),
    ),
    Mutant(
        "the ledger's epoch-time ratio upside down",
        "advgrad/report/ledger.py",
        'per_net["adversarial"][n] / per_net["backprop"][n]',
        'per_net["backprop"][n] / per_net["adversarial"][n]',
        ("tests/test_ledger.py",),
    ),
    Mutant(
        "a bound claim judged on the wrong side",
        "advgrad/report/verdicts.py",
        "verdict = direction_verdict([x - bound for x in ours], paper_sign)",
        "verdict = direction_verdict([bound - x for x in ours], paper_sign)",
        ("tests/test_verdicts.py",),
    ),
    Mutant(
        "VAT's direction normalised over the whole batch",
        "advgrad/core/vat.py",
        "flat = d.flatten(batch_dims)",
        "flat = d.flatten()",
        ("tests/test_vat.py",),
    ),
    Mutant(
        "the random sign drawn once per run",
        "advgrad/core/algorithm1.py",
        "return per_seed(torch.randn, x, generators, stacked).sign()",
        "return per_seed(torch.randn, x, [torch.Generator().manual_seed(0) for _ in generators], stacked).sign()",
        ("tests/test_algorithm1.py",),
    ),
    Mutant(
        "AutoAttack on sigmoid outputs",
        "advgrad/evaluate/autoattack.py",
        "return self.model(x.flatten(1))",
        "return self.model(x.flatten(1)).sigmoid()",
        ("tests/test_autoattack.py",),
    ),
    Mutant(
        "the transfer attack's random-sign target is the adversarial net",
        "stages/attack.py",
        '"random": args.random}',
        '"random": args.random and args.adversarial}',
        ("tests/test_stage_wiring.py",),
    ),
    Mutant(
        "VAT trained with its defaults, not params.yaml's mnist.vat",
        "stages/train_mnist.py",
        'vat=dataclasses.asdict(p.vat) if method == "vat" else None,',
        'vat={"eps": 2.1, "xi": 1e-6, "iterations": 1, "weight": 1.0} if method == "vat" else None,',
        ("tests/test_stage_wiring.py",),
    ),
    Mutant(
        "CIFAR schedule driven by the clean training error",
        "advgrad/core/training.py",
        "schedule.step(online[0])",
        'schedule.step(errors["train"][0])',
        ("tests/test_cifar_trainer.py",),
    ),
    Mutant(
        "ZCA regulariser back to 0.01",
        "params.yaml",
        "zca_epsilon: 1.5378700499807767e-10",
        "zca_epsilon: 0.01",
        ("tests/test_prepare.py", "tests/test_params.py"),
    ),
    Mutant(
        "eps declared for the backprop stages",
        "dvc.yaml",
        "             mnist.last_epochs]\n    outs:\n"
        "      - models/${item.dataset}-${item.act}-${item.units}-backprop.pt",
        "             mnist.last_epochs, eps]\n    outs:\n"
        "      - models/${item.dataset}-${item.act}-${item.units}-backprop.pt",
        ("tests/test_param_scoping.py",),
    ),
    Mutant(
        "a code dependency missing from dvc.yaml",
        "dvc.yaml",
        "      - advgrad/mnist\n",
        "",
        ("tests/test_dvc_deps.py",),
    ),
    Mutant(
        "resume key without the code",
        "stages/common.py",
        '"code": code_digest(stage), ',
        "",
        ("tests/test_reliability.py",),
    ),
    Mutant(
        "model files saved without their checksum check",
        "advgrad/core/io.py",
        "    if tensor_digest(obj) != stored:",
        "    if False:",
        ("tests/test_reliability.py",),
    ),
    Mutant(
        "report prints ours - paper for Fashion-MNIST",
        "advgrad/report/tables.py",
        'compare = dataset in (None, "mnist")',
        "compare = True",
        ("tests/test_report.py",),
    ),
    Mutant(
        "the 'still learning' window is the reported one, not the one before it",
        "stages/report.py",
        'g["test_error"].iloc[-2 * w : -w].mean()',
        'g["test_error"].iloc[-w:].mean()',
        ("tests/test_report_stage.py",),
    ),
    Mutant(
        "a paper number mistyped",
        "advgrad/report/paper.yaml",
        "relu: {400: 0.83 ± 0.04",
        "relu: {400: 0.38 ± 0.04",
        ("tests/test_paper_numbers.py",),
    ),
)


# ---------------------------------------------------------------------------------------------
# The pytest plugin (`-p mutate`): a junit report tells a failure from an error, but not an
# assertion from any other exception raised in a test body; so every failing phase records
# its kind and the test's id as junit properties of its testcase.


def failure_kind(exc: BaseException) -> str:
    import pytest

    return "assertion" if isinstance(exc, (AssertionError, pytest.fail.Exception)) else type(exc).__name__


def pytest_exception_interact(node, call, report) -> None:
    """pytest calls this for every phase that raised (skips and xfails excepted)."""
    user_properties = getattr(node, "user_properties", None)  # None for a collector
    if user_properties is not None:
        # The testcase gets the properties when its teardown is reported, so also for setup errors.
        user_properties.append((NODE_ID, node.nodeid))
        user_properties.append((KIND, f"{report.when}:{failure_kind(call.excinfo.value)}"))


# ---------------------------------------------------------------------------------------------
# Running tests and reading their report


class Outcome(NamedTuple):
    passed: bool  # every test passed (and some ran)
    caught_by: str | None  # the first failing test, when it failed by an assertion
    summary: str  # what happened, in a few words


def one_line(text: str | None, limit: int = 120) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


def read_report(junit: Path, returncode: int, output: str) -> Outcome:
    """The outcome of one pytest run from its junit report (see the plugin above)."""
    if not junit.is_file():
        return Outcome(False, None, f"pytest exited {returncode} without a report: {one_line(output.strip()[-500:])}")
    passed = skipped = 0
    for case in ET.parse(junit).getroot().iter("testcase"):
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        test_id = props.get(NODE_ID) or "::".join(filter(None, (case.get("classname"), case.get("name"))))
        failure, error = case.find("failure"), case.find("error")
        if failure is not None:  # the test body failed
            kind = props.get(KIND, "call:no exception")  # e.g. a strict xfail that passed
            if kind == "call:assertion":
                return Outcome(False, test_id, f"{test_id}: {one_line(failure.get('message'))}")
            return Outcome(
                False,
                None,
                f"{test_id} raised {kind.partition(':')[2]}, not an assertion: {one_line(failure.get('message'))}",
            )
        if error is not None:  # collection, fixture setup or teardown
            return Outcome(False, None, f"{test_id}: error, not a test failure: {one_line(error.get('message'))}")
        if case.find("skipped") is not None:
            skipped += 1
        else:
            passed += 1
    if returncode != 0:
        return Outcome(
            False, None, f"pytest exited {returncode} with no failing test: {one_line(output.strip()[-500:])}"
        )
    if passed == 0:
        return Outcome(False, None, f"no test ran ({skipped} skipped)")
    return Outcome(True, None, f"{passed} passed" + (f", {skipped} skipped" if skipped else ""))


def run_tests(tests: tuple[str, ...], scratch: Path, junit: Path) -> tuple[Outcome, float]:
    """Run `tests` with -x in the copy at `scratch`; (outcome, seconds)."""
    junit.unlink(missing_ok=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(scratch / "scripts"), env.get("PYTHONPATH"))))
    command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-p", PLUGIN]
    command += [f"--junitxml={junit}", *tests]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=scratch, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    return read_report(junit, result.returncode, result.stderr + result.stdout), seconds


def run(mutant: Mutant, scratch: Path, junit: Path) -> tuple[Outcome, float]:
    """Apply the mutant, run its tests, restore the file."""
    path = scratch / mutant.file
    original = path.read_text()
    if mutant.old not in original:  # checked in main() on the repository; the copy must agree
        raise SystemExit(f"mutate: {mutant.name!r}: its text is not in the copy of {mutant.file}")
    path.write_text(original.replace(mutant.old, mutant.new, 1))
    try:
        return run_tests(mutant.tests, scratch, junit)
    finally:
        path.write_text(original)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", default="", help="only mutants whose name contains this")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTANTS if args.k in m.name]
    if not chosen:  # a misspelt -k must not pass as "0 of 0 mutants caught"
        print(f"mutate: no mutant's name contains {args.k!r}", file=sys.stderr)
        sys.exit(2)
    stale = [m for m in chosen if m.old not in (ROOT / m.file).read_text()]
    if stale:  # before any work: the script is out of step with the code
        for m in stale:
            print(f"mutate: {m.name!r}: its text is not in {m.file} (update this script)", file=sys.stderr)
        sys.exit(2)
    with tempfile.TemporaryDirectory(prefix="advgrad-mutants-") as tmp:
        scratch, junit = Path(tmp) / "repo", Path(tmp) / "junit.xml"
        copy_repo(scratch)  # a git repository, as a clone is: the DVC-driven tests need one
        baseline = {}
        for tests in dict.fromkeys(m.tests for m in chosen):
            outcome, seconds = run_tests(tests, scratch, junit)
            baseline[tests] = outcome.passed
            status = "PASSED" if outcome.passed else "ERROR "
            print(f"{status}  {seconds:6.1f}s  unmutated: {' '.join(tests)}: {outcome.summary}", flush=True)
        missed, errors = [], []
        for mutant in chosen:
            if not baseline[mutant.tests]:
                errors.append(mutant.name)
                print(f"ERROR            {mutant.name}  [{mutant.file}]: its tests fail unmutated", flush=True)
                continue
            outcome, seconds = run(mutant, scratch, junit)
            if outcome.caught_by:
                verdict = f"by {outcome.caught_by}"
            else:
                missed.append(mutant.name)
                verdict = f"({outcome.summary})"
            status = "CAUGHT" if outcome.caught_by else "MISSED"
            print(f"{status}  {seconds:6.1f}s  {mutant.name}  [{mutant.file}]  {verdict}", flush=True)
    tested = len(chosen) - len(errors)
    print(
        f"{tested - len(missed)} of {tested} mutants caught" + (f"; {len(errors)} not tested (ERROR)" if errors else "")
    )
    sys.exit(2 if errors else 1 if missed else 0)


if __name__ == "__main__":
    main()
