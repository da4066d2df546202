"""The README shows the committed results and the protocol's choices, points at files and
sections that exist, runs the same test command as CI, and stays short."""

from __future__ import annotations

import re

import pytest

from advgrad.report.readme import CHOICES, RESULTS, choices_table, main
from tests.real_data import ROOT

README = (ROOT / "README.md").read_text()
GENERATED = (RESULTS, CHOICES)


def block(start: str, end: str) -> str:
    return README.split(start, 1)[1].split(end, 1)[0]


def test_the_readme_results_are_the_committed_reports():
    """Generated from reports/headline.md, so the README cannot drift from reports/ (after a run:
    python -m advgrad.report.readme README.md)."""
    assert block(*RESULTS).strip() == (ROOT / "reports" / "headline.md").read_text().strip()


def test_the_readme_choices_are_the_protocol():
    """Generated from advgrad/report/protocol.yaml, so the README's choices cannot drift from the
    protocol the report checks runs against (after an edit: python -m advgrad.report.readme README.md)."""
    assert block(*CHOICES).strip() == choices_table().strip()


def test_the_readme_is_short():
    """At most 15,000 characters outside the generated blocks: a five-minute read; studies and
    measurements belong in reports/."""
    text = README
    for start, end in GENERATED:
        head, rest = text.split(start, 1)
        text = head + rest.split(end, 1)[1]
    assert len(text) <= 15_000


def test_the_readme_names_only_files_that_exist():
    paths = set(re.findall(r"\]\(((?:advgrad|stages|tests|studies|reports|scripts|benchmarks)/[^)#]+)\)", README))
    paths |= set(re.findall(r"`((?:advgrad|stages|studies|scripts|benchmarks)/[\w/]+\.py)`", README))
    assert paths
    assert [p for p in sorted(paths) if not (ROOT / p).exists()] == []


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_the_readme_links_to_its_own_sections():
    anchors = {slug(h) for h in re.findall(r"(?m)^#+ (.+)$", README)}
    links = set(re.findall(r"\]\(#([^)]+)\)", README))
    assert links
    assert sorted(links - anchors) == []


def test_the_study_reports_link_to_files_that_exist():
    for name in ("robustness.md", "transfer_gap.md"):
        report = ROOT / "reports" / name
        links = re.findall(r"\]\(([^)#:]+)\)", report.read_text())
        assert [link for link in links if not (report.parent / link).exists()] == [], name


def test_the_readme_test_command_is_what_ci_runs():
    """The README's lint and test line runs .ci/run's commands, in its order."""
    ci = (ROOT / ".ci" / "run").read_text().split("# README lint and test commands:", 1)[1]
    ci_commands = [line.strip() for line in ci.splitlines() if line.strip() and not line.startswith("#")]
    line = next(line for line in README.splitlines() if line.startswith("ruff check ."))
    assert [c.strip() for c in line.split("#", 1)[0].split("&&")] == ci_commands


def test_the_transfer_gap_report_is_rendered_from_the_saved_results():
    """No number in reports/transfer_gap.md is typed by hand (python -m studies.transfer_gap --render-only)."""
    from studies.transfer_gap import REPORT, render
    from studies.transfer_gap import RESULTS as SAVED  # not the README markers of this module

    assert REPORT.read_text() == render(sorted(SAVED.glob("transfer_gap-*.json")))


def test_one_command_checks_and_rewrites_both_generated_blocks(tmp_path, capsys):
    readme, headline = tmp_path / "README.md", tmp_path / "headline.md"
    headline.write_text("new results\n")
    stale = f"intro\n{RESULTS[0]}\nold\n{RESULTS[1]}\nmiddle\n{CHOICES[0]}\nold\n{CHOICES[1]}\nend\n"
    readme.write_text(stale)
    args = [str(readme), "--headline", str(headline)]
    with pytest.raises(SystemExit) as stopped:
        main(["--check", *args])
    assert stopped.value.code == 1 and readme.read_text() == stale  # --check writes nothing
    main(args)
    choices = choices_table().strip()
    assert readme.read_text() == stale.replace("old", "new results", 1).replace("old", choices, 1)
    main(["--check", *args])  # up to date: no exit status 1
    assert capsys.readouterr().out.endswith("generated blocks up to date\n")


def test_a_readme_without_a_block_or_a_missing_headline_ends_in_one_line(tmp_path):
    readme, headline = tmp_path / "README.md", tmp_path / "headline.md"
    readme.write_text(f"{RESULTS[0]}\nold\n{RESULTS[1]}\n")  # no choices block
    with pytest.raises(SystemExit, match="headline.md: no such file"):
        main([str(readme), "--headline", str(headline)])
    headline.write_text("new\n")
    with pytest.raises(SystemExit, match=re.escape(f"README.md has no {CHOICES[0]} ... {CHOICES[1]} block")):
        main([str(readme), "--headline", str(headline)])
    assert readme.read_text() == f"{RESULTS[0]}\nold\n{RESULTS[1]}\n"  # nothing half-written
