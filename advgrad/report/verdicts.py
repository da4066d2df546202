"""The verdict on one claim of the paper, from our per-seed numbers, by stated rules.

Two kinds of claim (the claims ledger of reports/tables.md):

- A **direction** claim ("adversarial back-propagation lowers the test error") is judged on the
  95 % two-sided Student-t interval of our paired per-seed differences (e.g. adversarial minus
  back-prop, seed by seed), at any scale:
    1. `not run`                 no difference was measured;
    2. `inconclusive`            fewer than 2 pairs, or the interval includes zero;
    3. `direction holds`         the interval excludes zero on the side the paper claims;
    4. `direction contradicted`  it excludes zero on the other side.
- A **value** claim ("2x400 ReLU, adversarial: 0.83 ± 0.04 %") is judged, in this order:
    1. `not run`                 we have no number;
    2. `not comparable`          our run differs from the claim's protocol (the reason is given);
    3. with the paper's ±: the Welch 95 % interval of ours − paper, treating the paper's ± as
       the standard deviation over its runs (`PAPER_RUNS`; the paper does not say what its ±
       is: an assumption) — `differs` if it excludes zero, else `reproduced` if its half-width
       is at most the claim's margin, else `inconclusive`;
    4. without a ±: our 95 % interval (a point for one seed) against the band paper ± the
       claim's tolerance — `reproduced` inside it, `differs` wholly outside, else `inconclusive`.
- A **bound** claim ("2x400 ReLU adversarial beats 0.95 %") is a value claim judged like a
  direction: `reproduced` if our 95 % interval lies wholly on the claimed side of the bound,
  `differs` if wholly on the other, else `inconclusive` (after rules 1-2 of a value claim).
The rules are disjoint and applied in the order written. With ~25 claims judged at 95 %, a wrong
verdict or two is expected by chance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from scipy import stats as _scipy_stats

from advgrad.core.stats import mean_std, t_half_width

PAPER_RUNS = 5  # section 3: "averaged over 5 runs"; the assumed n behind the paper's ±
LEVEL = 0.95


def t_interval(values: Sequence[float], level: float = LEVEL) -> tuple[float, float] | None:
    """The two-sided Student-t interval of the mean of `values`; None for fewer than 2 values."""
    if len(values) < 2:
        return None
    mean, half = mean_std(values)[0], t_half_width(values, level)
    return mean - half, mean + half


def direction_verdict(differences: Sequence[float], paper_sign: int) -> str:
    """The verdict on "the difference has the sign `paper_sign`" (-1 or +1) from paired per-seed
    differences (ours, e.g. adversarial − back-prop in percent)."""
    if paper_sign not in (-1, 1):
        raise ValueError(f"direction_verdict: paper_sign = {paper_sign!r}: need -1 or 1")
    if not differences:
        return "not run"
    interval = t_interval(differences)
    if interval is None or interval[0] <= 0 <= interval[1]:
        return "inconclusive"
    return "direction holds" if (1 if interval[0] > 0 else -1) == paper_sign else "direction contradicted"


def _welch(ours: Sequence[float], paper_mean: float, paper_std: float, level: float) -> tuple[float, float]:
    """Welch's interval of mean(ours) − paper_mean, the paper's ± taken as a std over PAPER_RUNS runs."""
    mean, std = mean_std(ours)
    a, b = std**2 / len(ours), paper_std**2 / PAPER_RUNS
    se = math.sqrt(a + b)
    if se == 0:
        return mean - paper_mean, mean - paper_mean
    # Welch-Satterthwaite degrees of freedom; a single seed of ours contributes no variance term.
    df = (a + b) ** 2 / ((a**2 / (len(ours) - 1) if len(ours) > 1 else 0) + b**2 / (PAPER_RUNS - 1))
    half = float(_scipy_stats.t.ppf((1 + level) / 2, df)) * se
    return mean - paper_mean - half, mean - paper_mean + half


def value_verdict(
    ours: Sequence[float],
    paper_mean: float,
    paper_std: float | None = None,
    *,
    not_comparable: str | None = None,
    margin: float | None = None,
    tolerance: float | None = None,
    level: float = LEVEL,
) -> str:
    """The verdict on "the value is paper_mean (± paper_std)" from our per-seed values.

    `not_comparable` names how our run departs from the claim's protocol (epochs, seeds, data,
    net), or is None where it does not. `margin`: the largest half-width of the ours − paper
    interval that can count as reproduced (claims with a ±); `tolerance`: the half-width of the
    band around the paper's value (claims without one).
    """
    if not ours:
        return "not run"
    if not_comparable:
        return f"not comparable ({not_comparable})"
    if paper_std is not None:
        if margin is None:
            raise ValueError("value_verdict: a claim with the paper's ± needs a margin")
        low, high = _welch(ours, paper_mean, paper_std, level)
        if low > 0 or high < 0:
            return "differs"
        return "reproduced" if (high - low) / 2 <= margin else "inconclusive"
    if tolerance is None:
        raise ValueError("value_verdict: a claim without the paper's ± needs a tolerance")
    low, high = t_interval(ours, level) or (ours[0], ours[0])
    band = (paper_mean - tolerance, paper_mean + tolerance)
    if band[0] <= low and high <= band[1]:
        return "reproduced"
    if high < band[0] or low > band[1]:
        return "differs"
    return "inconclusive"


def bound_verdict(ours: Sequence[float], bound: float, paper_sign: int, *, not_comparable: str | None = None) -> str:
    """The verdict on "the value lies on side `paper_sign` (-1 below, +1 above) of `bound`"."""
    if not ours:
        return "not run"
    if not_comparable:
        return f"not comparable ({not_comparable})"
    verdict = direction_verdict([x - bound for x in ours], paper_sign)
    return {"direction holds": "reproduced", "direction contradicted": "differs"}.get(verdict, verdict)
