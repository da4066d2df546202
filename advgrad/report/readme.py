"""The README's generated blocks: the results, from reports/headline.md (the report stage's), and
the choices table, from the protocol.

The README's "Choices" table is `advgrad.report.protocol.PROTOCOL` filtered to the choices: the
settings whose value is not the paper's own (the author's code, Srivastava et al., Madry et al.,
Goodfellow et al. or ours), and the paper's settings that the author's code reads otherwise. The
README keeps a copy of each block between its markers; tests/test_readme.py fails when a copy
drifts, and

    python -m advgrad.report.readme README.md            # rewrites both blocks in place
    python -m advgrad.report.readme --check README.md    # exit status 1 if either is out of date
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path

from advgrad.core.io import save_text
from advgrad.report.protocol import AUTHOR, PAPER, PROTOCOL, Setting

RESULTS = ("<!-- results: generated from reports/headline.md -->", "<!-- /results -->")  # (start, end) markers
CHOICES = ("<!-- choices: generated from advgrad/report/protocol.py -->", "<!-- /choices -->")

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


def sync_readme(readme: Path, headline: Path, check: bool = False) -> bool:
    """Rewrite the README's results block (`headline`'s text) and choices block (or with `check`,
    only compare); True if either was out of date."""
    if not headline.is_file():
        raise SystemExit(f"readme: {headline}: no such file (the report stage writes it: dvc repro report)")
    text = new = readme.read_text(encoding="utf-8")
    try:
        for markers, block in ((RESULTS, headline.read_text(encoding="utf-8")), (CHOICES, choices_table())):
            new = replace_block(new, *markers, block)
    except ValueError as e:
        raise SystemExit(f"readme: {readme} has {e}") from None
    if new != text and not check:
        save_text(new, readme)
    return new != text


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("readme", type=Path, help="the README to update (README.md)")
    ap.add_argument("--headline", type=Path, default=Path("reports/headline.md"), help="the results block's source")
    ap.add_argument("--check", action="store_true", help="do not write; exit status 1 if a block is out of date")
    args = ap.parse_args(argv)
    stale = sync_readme(args.readme, args.headline, check=args.check)
    if args.check and stale:
        print(f"readme: {args.readme}: generated blocks out of date: python -m advgrad.report.readme {args.readme}")
        sys.exit(1)
    print(f"readme: {args.readme}: generated blocks {'rewritten' if stale else 'up to date'}")


if __name__ == "__main__":
    main()
