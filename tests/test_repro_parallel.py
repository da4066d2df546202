"""scripts/repro_parallel.py on a tiny DVC project: it runs what `dvc repro` would (the changed
stages and those downstream), in dependency order, and leaves a dvc.lock that `dvc status`
finds up to date; a failing stage commits nothing."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.real_data import ROOT

DVC_YAML = """
stages:
  a:
    cmd: cp in.txt a.txt
    deps: [in.txt]
    outs: [a.txt]
  b:
    foreach: [x, y]
    do:
      cmd: cat a.txt a.txt > "b-${item}.txt"
      deps: [a.txt]
      outs: ["b-${item}.txt"]
  c:
    cmd: cat other.txt > c.txt
    deps: [other.txt]
    outs: [c.txt]
"""


def sh(cwd, *args) -> str:
    return subprocess.run(args, cwd=cwd, check=True, capture_output=True, text=True).stdout


def repro_parallel(cwd, *args) -> subprocess.CompletedProcess:
    script = ROOT / "scripts" / "repro_parallel.py"
    return subprocess.run([sys.executable, str(script), *args], cwd=cwd, capture_output=True, text=True)


@pytest.fixture
def project(tmp_path):
    sh(tmp_path, "git", "init", "-q")
    sh(tmp_path, sys.executable, "-m", "dvc", "init", "-q")
    (tmp_path / "dvc.yaml").write_text(DVC_YAML)
    (tmp_path / "in.txt").write_text("1\n")
    (tmp_path / "other.txt").write_text("o\n")
    return tmp_path


def ran(project) -> set[str]:
    return set(json.loads((project / "logs" / "stage_seconds.json").read_text()))


def test_runs_the_graph_then_only_what_changed(project):
    out = repro_parallel(project, "--jobs", "2")
    assert out.returncode == 0, out.stderr
    assert ran(project) == {"a", "b@x", "b@y", "c"}
    assert (project / "b-y.txt").read_text() == "1\n1\n"  # b ran after a
    assert "up to date" in sh(project, sys.executable, "-m", "dvc", "status")
    (project / "in.txt").write_text("2\n")  # a and what depends on it re-run; c does not
    assert repro_parallel(project, "--jobs", "2").returncode == 0
    assert ran(project) == {"a", "b@x", "b@y"} and (project / "b-x.txt").read_text() == "2\n2\n"
    assert "up to date" in sh(project, sys.executable, "-m", "dvc", "status")
    assert "every stage is up to date" in repro_parallel(project).stdout


def test_a_failing_stage_commits_nothing(project):
    (project / "other.txt").unlink()  # c's command fails (dvc status: c's dep is missing)
    (project / "dvc.yaml").write_text(DVC_YAML.replace("    deps: [other.txt]\n", ""))
    out = repro_parallel(project, "--jobs", "1")
    assert out.returncode == 1 and "stage c failed: see logs/c.log; nothing committed" in out.stderr
    assert not (project / "dvc.lock").exists()


def test_outside_a_dvc_repository_it_stops_in_one_line(tmp_path):
    out = repro_parallel(tmp_path, "--dry")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert out.stderr.startswith("repro_parallel: you are not inside of a DVC repository")
