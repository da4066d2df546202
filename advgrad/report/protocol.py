"""The experimental protocol, setting by setting, and where each value comes from.

The data is protocol.yaml beside this module: one row per setting, its params.yaml key (or a fixed
choice of the code, `key=None`), the reference value, and its source. The reference value is the
paper's wherever the paper gives it (`source="paper"`, with the section and its words); where the
paper is silent it is our default, with what it rests on: the author's later public Torch code
(anokland/dfa-torch), Srivastava et al. (2014), or our own choice. A choice of ours or of the
author's code is never labelled as the paper's. The file is checked on import: a misspelt or missing
field, an unknown source or branch fails loudly.

The report compares a run's settings with this table: every difference is listed in the header
of reports/tables.md, and the whole table is printed at its end. The test of params.yaml checks
that the repository's defaults are these reference values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import yaml

PAPER = "paper"
AUTHOR = "author's code"
SRIVASTAVA = "Srivastava et al. (2014)"
OURS = "ours"
GOODFELLOW = "Goodfellow et al. (2014)"
MADRY = "Madry et al. (2018)"
MIYATO = "Miyato et al. (2016)"
SOURCES = (PAPER, AUTHOR, SRIVASTAVA, OURS, GOODFELLOW, MADRY, MIYATO)

BRANCHES = ("mnist", "attack", "robustness", "cifar10")
# Settings that choose which nets run, not how they run: a smaller value leaves configurations
# out (the report lists them as not in this run); it does not change the ones that ran.
SCOPE = ("mnist.units", "mnist.methods.adversarial", "mnist.methods.backprop")
EVERY_BRANCH = "every branch"  # protocol.yaml's name for a note of every branch (branch None in NOTES)


class Setting(NamedTuple):
    branch: str  # mnist | attack | robustness | cifar10: the part of the pipeline it belongs to
    key: str | None  # params.yaml key (dotted); None: a fixed choice of the code
    name: str  # what it is, in words
    value: Any  # the reference value (for key=None: what the code does)
    source: str  # one of SOURCES
    evidence: str  # the paper's section and words, or what the other source says
    reduction: bool = False  # a smaller run value is a reduced-scale run, not another protocol


def _text(x: Any) -> bool:
    return isinstance(x, str) and x.strip() != ""


def _setting(branch: str, row: dict) -> Setting:
    """A row of protocol.yaml; a misspelt or missing field, an unknown source or a wrong type fails."""
    try:
        s = Setting(branch, **row)
    except TypeError as e:  # Setting's own message names the unknown or missing field
        raise ValueError(f"protocol.yaml: {branch} row {row}: {e}") from None
    if s.source not in SOURCES:
        raise ValueError(f"protocol.yaml: {s.key or s.name}: unknown source {s.source!r}; allowed: {SOURCES}")
    if not (isinstance(s.key, str | None) and isinstance(s.reduction, bool) and _text(s.name) and _text(s.evidence)):
        raise ValueError(
            f"protocol.yaml: {row}: key must be a string or null, name and evidence text, reduction a bool"
        )
    return s


def _load(path: Path) -> tuple[tuple[Setting, ...], tuple[tuple[str | None, str], ...]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    settings, notes = data.pop("settings"), data.pop("notes")
    if data or tuple(settings) != BRANCHES or not set(notes) <= {EVERY_BRANCH, *BRANCHES}:
        raise ValueError(f"protocol.yaml: top level must be settings ({BRANCHES}, in order) and notes only")
    rows = tuple(_setting(branch, row) for branch in BRANCHES for row in settings[branch])
    if not all(isinstance(texts, list) and all(map(_text, texts)) for texts in notes.values()):
        raise ValueError("protocol.yaml: the notes of each branch must be a list of non-empty strings")
    return rows, tuple((None if b == EVERY_BRANCH else b, text) for b, texts in notes.items() for text in texts)


PROTOCOL: tuple[Setting, ...]
# The choices that are no setting of params.yaml, so no row of PROTOCOL: the report's notes, as
# (branch, or None for every branch; text).
NOTES: tuple[tuple[str | None, str], ...]
PROTOCOL, NOTES = _load(Path(__file__).with_name("protocol.yaml"))
