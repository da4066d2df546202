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

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, Field, StrictStr, TypeAdapter, ValidationError

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


Text = Annotated[StrictStr, Field(pattern=r"\S")]  # not blank


class Setting(BaseModel, frozen=True, extra="forbid", strict=True):
    branch: Literal[BRANCHES]  # the part of the pipeline it belongs to
    key: str | None  # params.yaml key (dotted); None: a fixed choice of the code
    name: Text  # what it is, in words
    value: Any  # the reference value (for key=None: what the code does)
    source: Literal[SOURCES]
    evidence: Text  # the paper's section and words, or what the other source says
    reduction: bool = False  # a smaller run value is a reduced-scale run, not another protocol


def _setting(branch: str, row: dict) -> Setting:
    try:  # pydantic's message names the field, the bad value and what is allowed
        return Setting(branch=branch, **row)
    except (TypeError, ValidationError) as e:
        raise ValueError(f"protocol.yaml: {branch} row {row}: {e}") from None


def _load(path: Path) -> tuple[tuple[Setting, ...], tuple[tuple[str | None, str], ...]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    settings, notes = data.pop("settings"), data.pop("notes")
    if data or tuple(settings) != BRANCHES or not set(notes) <= {EVERY_BRANCH, *BRANCHES}:
        raise ValueError(f"protocol.yaml: top level must be settings ({BRANCHES}, in order) and notes only")
    try:
        notes = TypeAdapter(dict[str, list[Text]]).validate_python(notes)
    except ValidationError as e:
        raise ValueError(f"protocol.yaml: notes: {e}") from None
    rows = tuple(_setting(branch, row) for branch in BRANCHES for row in settings[branch])
    return rows, tuple((None if b == EVERY_BRANCH else b, text) for b, texts in notes.items() for text in texts)


PROTOCOL: tuple[Setting, ...]
# The choices that are no setting of params.yaml, so no row of PROTOCOL: the report's notes, as
# (branch, or None for every branch; text).
NOTES: tuple[tuple[str | None, str], ...]
PROTOCOL, NOTES = _load(Path(__file__).with_name("protocol.yaml"))
