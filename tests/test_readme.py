"""The README shows the committed results and points at files that exist."""

from __future__ import annotations

import re

from stages.report import README_END, README_START
from tests.real_data import ROOT

README = (ROOT / "README.md").read_text()


def test_the_readme_results_are_the_committed_reports():
    """Generated from reports/headline.md, so the README cannot drift from reports/ (after a run:
    python -m stages.report --sync-readme README.md)."""
    block = README.split(README_START, 1)[1].split(README_END, 1)[0]
    assert block.strip() == (ROOT / "reports" / "headline.md").read_text().strip()


def test_the_readme_names_only_files_that_exist():
    paths = set(re.findall(r"\]\(((?:advgrad|stages|tests|studies|reports|scripts|benchmarks)/[^)#]+)\)", README))
    paths |= set(re.findall(r"`((?:advgrad|stages|studies|scripts|benchmarks)/[\w/]+\.py)`", README))
    assert paths
    assert [p for p in sorted(paths) if not (ROOT / p).exists()] == []
