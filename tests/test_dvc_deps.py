"""dvc.yaml declares every project file each stage can run, so an edit never leaves a stale result
in DVC's cache. Fast: no `dvc repro`, only dvc.yaml and the stages' import closures."""

from __future__ import annotations

import re

import yaml

from stages.common import ROOT, import_closure

MODULE = re.compile(r"python -m (stages\.\w+)")


def missing_deps(dvc_yaml: str) -> dict[str, list[str]]:
    """{stage: [project files its command module can run that no dep covers]}. A dep covers a
    file if it is the file or a folder above it; templated deps (${...}) are data, not code."""
    missing = {}
    for name, stage in yaml.safe_load(dvc_yaml)["stages"].items():
        module = MODULE.search(stage["cmd"]).group(1)
        deps = [d for d in stage.get("deps", []) if "${" not in d]
        files = [p.relative_to(ROOT).as_posix() for p in import_closure(module)]
        uncovered = [f for f in files if not any(f == d or f.startswith(d.rstrip("/") + "/") for d in deps)]
        if uncovered:
            missing[name] = uncovered
    return missing


def test_every_stage_declares_every_project_file_it_can_run():
    assert missing_deps((ROOT / "dvc.yaml").read_text()) == {}


def test_every_declared_code_dep_exists():
    for name, stage in yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"].items():
        for dep in stage.get("deps", []):
            if "${" not in dep and dep != "runs":
                assert (ROOT / dep).exists(), f"{name}: {dep}"


def test_the_check_catches_an_undeclared_module():
    text = (ROOT / "dvc.yaml").read_text().replace("      - advgrad/training.py\n", "", 1)
    assert "advgrad/training.py" in missing_deps(text)["train-backprop"]
    # stages/attack.py reaches stages/params.py only through stages/common.py: still caught.
    text = re.sub(r"(  attack:(?:.|\n)*?)      - stages/params.py\n", r"\1", (ROOT / "dvc.yaml").read_text(), count=1)
    assert missing_deps(text)["attack"] == ["stages/params.py"]
