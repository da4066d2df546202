"""dvc.yaml declares, for every stage, exactly the code it can run: its own module, the shared
files and whole library folders (`stages.common.stage_code`); the import-linter contracts in
pyproject.toml forbid each stage every other folder, so a folder dep cannot miss an import.
Fast: no `dvc repro` (tests/test_pipeline_mnist.py runs `dvc status` after an edit)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

from stages.common import ROOT, SHARED_CODE, STAGE_CODE, stage_code

MODULE = re.compile(r"python -m stages\.(\w+)")
FOLDERS = {"advgrad/data", "advgrad/mnist", "advgrad/cifar", "advgrad/evaluate", "advgrad/report"}


def code_deps(dvc_yaml: str) -> dict[str, tuple[str, set[str]]]:
    """{stage: (its module, the code paths among its deps)}; templated deps (${...}) are data."""
    out = {}
    for name, stage in yaml.safe_load(dvc_yaml)["stages"].items():
        deps = {d for d in stage.get("deps", []) if "${" not in d and d.startswith(("advgrad", "stages"))}
        out[name] = (MODULE.search(stage["cmd"]).group(1), deps)
    return out


def test_every_stage_declares_exactly_the_code_it_can_run():
    stages = code_deps((ROOT / "dvc.yaml").read_text())
    assert {module for module, _ in stages.values()} == set(STAGE_CODE)
    for name, (module, deps) in stages.items():
        assert deps == set(stage_code(module)), name


def test_every_declared_code_dep_exists():
    for name, (_, deps) in code_deps((ROOT / "dvc.yaml").read_text()).items():
        for dep in deps:
            assert (ROOT / dep).exists(), f"{name}: {dep}"


def test_the_contracts_forbid_each_stage_every_folder_it_does_not_declare():
    """pyproject.toml's forbidden contracts are STAGE_CODE's complement, stage by stage."""
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    forbidden = {c["source_modules"][0]: set(c["forbidden_modules"]) for c in contracts if c["type"] == "forbidden"}
    assert set(forbidden) == {f"stages.{s}" for s in STAGE_CODE}
    for stage, code in STAGE_CODE.items():
        allowed = {c.replace("/", ".").removesuffix(".py") for c in (*SHARED_CODE, *code)}
        expected = {f.replace("/", ".") for f in FOLDERS} - allowed
        expected |= {f"stages.{s}" for s in STAGE_CODE if s != stage} - allowed
        assert forbidden[f"stages.{stage}"] == expected, stage


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
