"""No result number is typed by hand: README.md (outside its generated blocks) and the report's
templates hold no percentage, ratio or measured time but the paper's own numbers and the stated
confidence level. Numbers of ours are rendered from the results by code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from advgrad.report import paper
from advgrad.report.verdicts import LEVEL

ROOT = Path(__file__).resolve().parents[1]
# A number with the unit of a result: a percent, a ratio ("2.1x", "4-7 times"), a time.
RESULT = re.compile(
    r"(?<![\w.])(\d+(?:\.\d+)?)(?:\s*-\s*(\d+(?:\.\d+)?))?\s*(?:%|x\b|×|times\b|ms\b|s\b|seconds?\b|min\b|minutes?\b|h\b|hours?\b)"
)
GENERATED = re.compile(r"<!-- (results|choices): generated from .*?<!-- /\1 -->", re.S)


def allowed() -> set[float]:
    """The paper's printed numbers (advgrad.report.paper) and the level of every interval."""
    out = {round(100 * LEVEL, 6), round(100 * (paper.EPOCH_TIME_RATIO - 1), 6), paper.EPOCH_TIME_RATIO}
    out |= {row.error_pct for row in paper.TABLE1}
    for stat in (*paper.TABLE2.values(), *paper.TABLE3.values()):
        out |= {stat.mean_pct, stat.std_pct}
    out |= {v for row in paper.ATTACK.values() for v in row} | {100 * v for v in paper.SPARSITY.values()}
    return {round(v, 6) for v in out}


def typed_numbers(text: str) -> list[str]:
    """Every result-like number of `text` that is not one of the paper's."""
    ok = allowed()
    numbers = lambda m: {round(float(g), 6) for g in m.groups() if g is not None}
    return [m.group(0) for m in RESULT.finditer(text) if not numbers(m) <= ok]


def template_text(path: Path) -> str:
    """A Jinja2 template's literal text: expressions become a placeholder, tags and comments go."""
    text = re.sub(r"\{#.*?#\}|\{%.*?%\}", "", path.read_text(), flags=re.S)
    return re.sub(r"\{\{.*?\}\}", "N", text, flags=re.S)


@pytest.mark.parametrize(
    "text, found",
    [
        ("the transfer numbers are 4-7 times larger", ["4-7 times"]),
        ("the clean column reads 0.3 points above, at 1.23 %", ["1.23 %"]),
        ("a 2.1x gap", ["2.1x"]),
        ("one epoch takes 28.7 s", ["28.7 s"]),
        ("the paper's 0.83 % and 22 % and 39 %, at 95 % confidence", []),
        ("2x400 nets, 150 epochs, 5 seeds, 2xN", []),
    ],
)
def test_the_checker_finds_typed_results(text, found):
    assert typed_numbers(text) == found


def test_readme_has_no_typed_result_number():
    text = GENERATED.sub("", (ROOT / "README.md").read_text())
    assert "<!-- results" not in text and "<!-- choices" not in text  # both blocks were recognised
    assert typed_numbers(text) == []


@pytest.mark.parametrize("path", sorted((ROOT / "advgrad/report").glob("*.j2")), ids=lambda p: p.name)
def test_report_templates_have_no_typed_result_number(path):
    assert typed_numbers(template_text(path)) == []
