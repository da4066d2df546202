"""dvc.yaml declares, for every stage, exactly the code it can run: its own module, the shared files
and the library folders and stage modules its import-linter contract in pyproject.toml allows (the
contracts forbid the rest and follow indirect imports, so a folder dep cannot miss an import). The
resume checkpoints hash the same deps (`stages.common.code_digest`). Fast: no `dvc repro`
(tests/test_pipeline_mnist.py runs `dvc status` after an edit)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

from stages.common import ROOT

MODULE = re.compile(r"python -m stages\.(\w+)")
SHARED = {"advgrad/__init__.py", "advgrad/core", "stages/__init__.py", "stages/common.py", "stages/params.py"}
FOLDERS = {"advgrad/data", "advgrad/mnist", "advgrad/cifar", "advgrad/evaluate", "advgrad/report"}


def code_deps() -> dict[str, tuple[str, set[str]]]:
    """{stage: (its module, the code paths among its deps)}; templated deps (${...}) are data."""
    out = {}
    for name, stage in yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"].items():
        deps = {d for d in stage.get("deps", []) if "${" not in d and d.startswith(("advgrad/", "stages/"))}
        out[name] = (MODULE.search(stage["cmd"]).group(1), deps)
    return out


def allowed_code() -> dict[str, set[str]]:
    """{module: its module, the shared files and every folder or stage module its contract allows}."""
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    forbidden = {c["source_modules"][0]: c["forbidden_modules"] for c in contracts if c["type"] == "forbidden"}
    modules = {name.removeprefix("stages.") for name in forbidden}
    out = {}
    for module in modules:
        candidates = FOLDERS | {f"stages/{m}.py" for m in modules - {module}}
        banned = {f.replace(".", "/") for f in forbidden[f"stages.{module}"]}
        out[module] = {f"stages/{module}.py"} | SHARED | {c for c in candidates if c.removesuffix(".py") not in banned}
    return out


def test_every_stage_declares_exactly_the_code_its_contract_allows():
    stages, allowed = code_deps(), allowed_code()
    assert {module for module, _ in stages.values()} == set(allowed)  # a contract per stage module
    for name, (module, deps) in stages.items():
        assert deps == allowed[module], name


def test_every_declared_code_dep_exists():
    for name, (_, deps) in code_deps().items():
        for dep in deps:
            assert (ROOT / dep).exists(), f"{name}: {dep}"


def _lint_imports(tree: Path) -> subprocess.CompletedProcess:
    lint = Path(sys.executable).with_name("lint-imports")
    return subprocess.run([str(lint)], cwd=tree, capture_output=True, text=True)


def test_lint_imports_fails_on_an_import_a_stage_does_not_declare(tmp_path):
    for part in ("advgrad", "stages", "pyproject.toml"):
        src = ROOT / part
        if src.is_dir():
            shutil.copytree(src, tmp_path / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(src, tmp_path / part)
    assert _lint_imports(tmp_path).returncode == 0
    # An indirect import: an MNIST module (run by train_mnist) importing CIFAR code.
    with open(tmp_path / "advgrad/mnist/model.py", "a") as f:
        f.write("\nfrom advgrad.cifar import schedule  # noqa\n")
    result = _lint_imports(tmp_path)
    assert result.returncode != 0
    assert "stages.train_mnist runs its dvc.yaml deps only BROKEN" in result.stdout
