"""Every number of advgrad/report/paper.py against the paper's own lines (tests/data/paper_lines.txt,
copied verbatim from its text): the report's "paper" columns are only as right as this table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from advgrad.report import paper

LINES = (Path(__file__).parent / "data" / "paper_lines.txt").read_text().splitlines()
ACT = {"logistic": "logistic", "tanh": "tanh", "ReLU": "relu"}
METHOD = {
    "Back-prop": "backprop",
    "Back-prop + dropout": "backprop-dropout",
    "Adversarial": "adversarial",
    "Adversarial + dropout": "adversarial-dropout",
}


def section(name: str) -> list[str]:
    start = LINES.index(f"# {name}") + 1
    end = next((i for i in range(start, len(LINES)) if LINES[i].startswith("# ")), len(LINES))
    return LINES[start:end]


def test_table1_every_row_in_order():
    rows = []
    for line in section("Table 1"):
        m = re.fullmatch(r"(.+?) \((.+\(\d{4}\))\) (\S+) (\S+) (\d+\.\d+)%", line)
        rows.append(paper.Table1Row(m[1], m[2], m[3], m[4], float(m[5])))
    assert tuple(rows) == paper.TABLE1


def test_table2_every_cell():
    parsed = {}
    for line in section("Table 2"):
        m = re.fullmatch(r"2x(\d+) (\w+) (\d+\.\d+)± (\d+\.\d+)%", line)
        parsed[(ACT[m[2]], int(m[1]))] = paper.Stat(float(m[3]), float(m[4]))
    assert parsed == paper.TABLE2


def test_table3_every_cell():
    parsed = {}
    for line in section("Table 3"):
        m = re.fullmatch(r"(2x3000|CONV) (.+?) (\d+\.\d+)± (\d+\.\d+)% (\d+\.\d+)± (\d+\.\d+)%", line)
        arch = "mlp" if m[1] == "2x3000" else "conv"
        parsed[(arch, METHOD[m[2]], "zca")] = paper.Stat(float(m[3]), float(m[4]))
        parsed[(arch, METHOD[m[2]], "simple")] = paper.Stat(float(m[5]), float(m[6]))
    assert parsed == paper.TABLE3


def test_section_3_attack_and_sparsity_numbers():
    text = " ".join(section("Section 3"))
    first = float(re.search(r"classified (\d+)% of these samples", text)[1])
    after = float(re.search(r"the error decreased to (\d+)%", text)[1])
    bp_05, adv_05 = map(float, re.search(r"For ε = 0\.50, the error decreased from (\d+)% to (\d+)%", text).groups())
    assert paper.ATTACK == {0.25: paper.AttackRow(first, after), 0.5: paper.AttackRow(bp_05, adv_05)}
    z_bp, z_adv = map(float, re.search(r"real zeros increased from (\d+)% to (\d+)%", text).groups())
    assert paper.SPARSITY == {"backprop": pytest.approx(z_bp / 100), "adversarial": pytest.approx(z_adv / 100)}
