"""The README's generated blocks that come from the code: the choices table, from the protocol.

The README's "Choices" table is `advgrad.report.protocol.PROTOCOL` filtered to the choices: the
settings whose value is not the paper's own (the author's code, Srivastava et al., Madry et al.,
Goodfellow et al. or ours), and the paper's settings that the author's code reads otherwise. The
README keeps a copy between `CHOICES_START` and `CHOICES_END`; tests/test_readme.py fails when
that copy drifts from this module's rendering, and

    python -m advgrad.report.readme README.md            # rewrites the block in place
    python -m advgrad.report.readme --check README.md    # exit status 1 if it is out of date

(The results block above it comes from reports/headline.md: `python -m stages.report --sync-readme README.md`.)
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path

from advgrad.core.io import save_text
from advgrad.report.protocol import AUTHOR, PAPER, PROTOCOL, Setting

CHOICES_START = "<!-- choices: generated from advgrad/report/protocol.py -->"
CHOICES_END = "<!-- /choices -->"

PART = {"mnist": "MNIST", "attack": "FGSM transfer", "robustness": "robustness", "cifar10": "CIFAR-10"}


def is_choice(setting: Setting) -> bool:
    """Not the paper's own value, or the paper's value where the author's code reads it otherwise."""
    return setting.source != PAPER or AUTHOR in setting.evidence


def choices_table(protocol: Iterable[Setting] = PROTOCOL) -> str:
    """The markdown table of the choices: part, setting, params.yaml key, our value, source, evidence."""
    lines = ["| part | setting | params.yaml key | our value | source | what it rests on |", "|" + "---|" * 6]
    for s in filter(is_choice, protocol):
        # a value as params.yaml (and `dvc exp run -S`) spells it: JSON's null, true, [0.0, 0.05], float repr
        value = str(s.value) if s.key is None else f"`{s.value if isinstance(s.value, str) else json.dumps(s.value)}`"
        cells = (PART.get(s.branch, s.branch), s.name, "(fixed)" if s.key is None else f"`{s.key}`", value, s.source)
        lines.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in (*cells, s.evidence)) + " |")
    return "\n".join(lines) + "\n"


def replace_block(text: str, start: str, end: str, block: str) -> str:
    """`text` with what lies between the markers `start` and `end` replaced by `block`."""
    if start not in text or end not in text.split(start, 1)[1]:
        raise ValueError(f"no {start} ... {end} block")
    head, rest = text.split(start, 1)
    return head + start + "\n" + block.strip() + "\n" + end + rest.split(end, 1)[1]


def sync_readme(readme: Path, check: bool = False) -> bool:
    """Rewrite the README's choices block (or with `check`, only compare); True if it was out of date."""
    text = readme.read_text(encoding="utf-8")
    try:
        new = replace_block(text, CHOICES_START, CHOICES_END, choices_table())
    except ValueError as e:
        raise SystemExit(f"readme: {readme} has {e}") from None
    if new != text and not check:
        save_text(new, readme)
    return new != text


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("readme", type=Path, help="the README to update (README.md)")
    ap.add_argument("--check", action="store_true", help="do not write; exit status 1 if the block is out of date")
    args = ap.parse_args(argv)
    stale = sync_readme(args.readme, check=args.check)
    if args.check and stale:
        print(f"readme: {args.readme}'s choices block is out of date: python -m advgrad.report.readme {args.readme}")
        sys.exit(1)
    print(f"readme: {args.readme}: choices block {'rewritten' if stale else 'up to date'}")


if __name__ == "__main__":
    main()
