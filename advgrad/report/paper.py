"""Every number Nøkland (2015) prints, as plain data, each with the table or section it is from.

The data is paper.yaml beside this module, copied by hand from the paper (arXiv 1510.04189v2) and
checked on load against the shape of the paper's tables. Errors are test-set percentages, as
printed; `std_pct` is the paper's "±" (across its 5 runs). Keys use the reproduction's own names
(activations `logistic | tanh | relu`, CIFAR archs `mlp | conv`, preprocessing `zca | simple`,
methods `backprop | backprop-dropout | adversarial | adversarial-dropout`) so that a paper
number and the reproduced one are looked up with the same key. Each `*_SOURCE` names the table or
section a group of numbers is from.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple, NoReturn

import yaml


class Stat(NamedTuple):
    """A result printed as `mean ± std %` (mean and std over the paper's 5 runs)."""

    mean_pct: float
    std_pct: float


class Table1Row(NamedTuple):
    """One previously published result. `units` is the kind of hidden unit, as in the paper."""

    method: str
    citation: str
    arch: str
    units: str
    error_pct: float


class AttackRow(NamedTuple):
    """Error (%) on FGSM examples of a back-prop model and of an adversarially trained model."""

    backprop_pct: float
    adversarial_pct: float


def _fail(where: str, what: str, got: Any) -> NoReturn:
    raise ValueError(f"paper.yaml: {where} must be {what}; got {got!r}")


def _fields(d: Any, keys: Iterable, where: str) -> dict:
    """`d`, a mapping with exactly `keys` in this order (the paper's order)."""
    if not isinstance(d, dict) or list(d) != list(keys):
        _fail(where, f"a mapping of {', '.join(map(str, keys))}, in this order", d)
    return d


def _stat(text: Any, where: str) -> Stat:
    """'1.15 ± 0.08': a cell as the paper prints it, two decimals each."""
    m = re.fullmatch(r"(\d+\.\d\d) ± (\d+\.\d\d)", text) if isinstance(text, str) else None
    if m is None:
        _fail(where, "'mean ± std' with two decimals each, as printed", text)
    return Stat(float(m[1]), float(m[2]))


def _whole(pct: Any, where: str) -> float:
    """The paper prints the attack, sparsity and cost numbers as whole percents."""
    if type(pct) is not int:
        _fail(where, "a whole percent", pct)
    return float(pct)


def _table1_row(row: Any) -> Table1Row:
    if not (isinstance(row, list) and len(row) == 5 and all(isinstance(x, str) for x in row[:4])):
        _fail("table1.rows", "[method, citation, arch, units, error %] lists", row)
    if not isinstance(row[4], float):
        _fail(f"table1 {row}", "an error % with two decimals", row[4])
    return Table1Row(*row)


def _names(d: Any, where: str) -> dict[str, str]:
    if not (isinstance(d, dict) and all(isinstance(v, str) and v for v in d.values())):
        _fail(where, "a mapping of our names to the paper's", d)
    return d


def _section(name: str, *fields: str) -> list:
    """[source, *fields] of section `name` of paper.yaml; `source` names the paper's table or section."""
    source, *values = _fields(_DATA[name], ("source", *fields), name).values()
    if not (isinstance(source, str) and source):
        _fail(f"{name}.source", "the table or section of the paper", source)
    return [source, *values]


ACTIVATIONS, UNITS = ("logistic", "tanh", "relu"), (400, 800, 1200)  # Table 2's rows, as the paper orders them
PREPROCESSING = ("zca", "simple")  # Table 3's columns
METHODS = ("backprop", "adversarial")  # the attack and sparsity numbers' two models

_DATA = yaml.safe_load(Path(__file__).with_name("paper.yaml").read_text(encoding="utf-8"))
_fields(_DATA, ("table1", "table2", "attack", "sparsity", "table3", "epoch_time"), "the top level")

TABLE1_SOURCE, _rows = _section("table1", "rows")
TABLE1: tuple[Table1Row, ...] = tuple(_table1_row(row) for row in _rows)

TABLE2_SOURCE, _t2 = _section("table2", "errors")
TABLE2: dict[tuple[str, int], Stat] = {
    (act, h): _stat(cell, f"table2.{act}.{h}")
    for act, row in _fields(_t2, ACTIVATIONS, "table2.errors").items()
    for h, cell in _fields(row, UNITS, f"table2.{act}").items()
}

ATTACK_SOURCE, _attack = _section("attack", "errors")
ATTACK: dict[float, AttackRow] = {
    eps: AttackRow(*(_whole(row[m], f"attack.{eps}.{m}") for m in _fields(row, METHODS, f"attack.{eps}")))
    for eps, row in _fields(_attack, (0.25, 0.5), "attack.errors").items()
}

SPARSITY_SOURCE, _zeros = _section("sparsity", "zeros_pct")
# Fractions in [0, 1] of exact zeros among the hidden-unit activations.
SPARSITY: dict[str, float] = {
    m: _whole(pct, f"sparsity.{m}") / 100 for m, pct in _fields(_zeros, METHODS, "sparsity.zeros_pct").items()
}

TABLE3_SOURCE, _errors, _archs, _methods = _section("table3", "errors", "arch_names", "method_names")
TABLE3_ARCH_NAMES: dict[str, str] = _names(_archs, "table3.arch_names")  # how the paper names the rows
TABLE3_METHOD_NAMES: dict[str, str] = _names(_methods, "table3.method_names")
TABLE3: dict[tuple[str, str, str], Stat] = {
    (arch, method, prep): _stat(cell, f"table3.{arch}.{method}.{prep}")
    for arch, rows in _fields(_errors, TABLE3_ARCH_NAMES, "table3.errors").items()
    for method, row in _fields(rows, TABLE3_METHOD_NAMES, f"table3.{arch}").items()
    for prep, cell in _fields(row, PREPROCESSING, f"table3.{arch}.{method}").items()
}

EPOCH_TIME_RATIO_SOURCE, _added = _section("epoch_time", "added_pct")
EPOCH_TIME_RATIO: float = 1 + _whole(_added, "epoch_time.added_pct") / 100  # adversarial / standard epoch time
