"""Every number of advgrad/report/paper.yaml against the paper's own lines (tests/data/paper_lines.txt,
copied verbatim from its text): the report's "paper" columns are only as right as this table. And a
typo in paper.yaml or protocol.yaml fails on import rather than printing a wrong number."""

from __future__ import annotations

import importlib.util
import re
import shutil
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


# protocol.yaml is read by pydantic: its message names the field, the bad value and what is allowed.
ALLOWED_SOURCES = "Input should be 'paper', \"author's code\", 'Srivastava et al. (2014)', 'ours', 'Goodfellow"


@pytest.mark.parametrize(
    "module, old, new, messages",
    [
        (
            "paper",
            "800: 1.00 ± 0.05",
            "800: 1.0 ± 0.05",
            ["table2.logistic.800 must be 'mean ± std' with two decimals"],
        ),
        (
            "paper",
            "tanh: {400",
            "tahn: {400",
            ["table2.errors must be a mapping of logistic, tanh, relu, in this order"],
        ),
        ("paper", "0.5: {backprop: 47,", "0.5: {backprop: 47.5,", ["attack.0.5.backprop must be a whole percent"]),
        ("paper", "  source: Table 3 (section 4)\n", "", ["table3 must be a mapping of source, errors"]),
        (
            "protocol",
            "source: ours",
            "source: our",
            ["protocol.yaml: mnist row", "source\n  " + ALLOWED_SOURCES, "='our'"],
        ),
        (
            "protocol",
            "      name: training epochs",
            "      nmae: training epochs",
            ["'key': 'mnist.epochs'", "name\n  Field required", "nmae\n  Extra inputs are not permitted"],
        ),
        ("protocol", "      value: 128\n", "", ["'key': 'cifar10.batch_size'", "value\n  Field required"]),
        (
            "protocol",
            "      reduction: true",
            "      reduction: yes please",
            ["'key': 'mnist.epochs'", "reduction\n  Input should be a valid boolean", "input_value='yes please'"],
        ),
        ("protocol", "  robustness:  #", "  robustnes:  #", ["top level must be settings"]),
    ],
)
def test_a_typo_in_the_data_fails_on_import(tmp_path, module, old, new, messages):
    here = Path(paper.__file__).parent
    text = (here / f"{module}.yaml").read_text(encoding="utf-8")
    assert old in text
    (tmp_path / f"{module}.yaml").write_text(text.replace(old, new, 1), encoding="utf-8")
    shutil.copy(here / f"{module}.py", tmp_path)
    spec = importlib.util.spec_from_file_location(f"typo_{module}", tmp_path / f"{module}.py")
    with pytest.raises(ValueError, match=re.escape(messages[0])) as raised:
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
    assert all(message in str(raised.value) for message in messages), str(raised.value)
