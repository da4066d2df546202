"""The claim verdicts (advgrad.report.verdicts) on hand-made inputs, one case per rule.

Quantiles used below, from tables: t(0.975, 2) = 4.3027, t(0.95, 2) = 2.9200 (what a one-sided
interval would use), t(0.975, 4) = 2.7764.
"""

import math

import pytest

from advgrad.report.verdicts import bound_verdict, direction_verdict, t_interval, value_verdict


def test_t_interval_closed_form():
    # mean -0.6, sample std 0.3, n 3: half-width 4.3027 * 0.3 / sqrt(3) = 0.74525
    low, high = t_interval([-0.3, -0.6, -0.9])
    assert low == pytest.approx(-0.6 - 0.74525, abs=1e-4) and high == pytest.approx(-0.6 + 0.74525, abs=1e-4)
    assert t_interval([1.0]) is None


@pytest.mark.parametrize(
    "diffs, sign, verdict",
    [
        ([], -1, "not run"),
        ([-0.5], -1, "inconclusive"),  # one pair: no interval
        # mean -0.6, std 0.3: two-sided interval (-1.345, 0.145) includes 0 (a one-sided
        # interval, half-width 2.92 * 0.3 / sqrt(3) = 0.506, would exclude it)
        ([-0.3, -0.6, -0.9], -1, "inconclusive"),
        # mean -0.6, std 0.1: half-width 0.248, interval (-0.848, -0.352) below 0
        ([-0.5, -0.6, -0.7], -1, "direction holds"),
        ([-0.5, -0.6, -0.7], 1, "direction contradicted"),
        ([0.5, 0.6, 0.7], 1, "direction holds"),
        ([0.5, 0.6, 0.7], -1, "direction contradicted"),
    ],
)
def test_direction_verdicts(diffs, sign, verdict):
    assert direction_verdict(diffs, sign) == verdict


def test_direction_needs_a_sign():
    with pytest.raises(ValueError, match="paper_sign"):
        direction_verdict([0.1, 0.2], 0)


# Value claims with the paper's ±, taken as the std of 5 runs. Ours: 5 seeds with mean 0.90 and
# sample std 0.05 (values 0.85, 0.90, 0.95, 0.85, 0.95: std sqrt(0.01 / 4) = 0.05).
OURS = [0.85, 0.90, 0.95, 0.85, 0.95]


def _welch_half(s1, s2, n=5):
    """Written out: equal n, so df = (n - 1) (s1² + s2²)² / (s1⁴ + s2⁴)."""
    from scipy import stats

    se = math.sqrt(s1**2 / n + s2**2 / n)
    df = (n - 1) * (s1**2 + s2**2) ** 2 / (s1**4 + s2**4)
    return stats.t.ppf(0.975, df) * se


def test_value_reproduced_differs_inconclusive_with_the_papers_std():
    half = _welch_half(0.05, 0.04)  # ~0.066: se 0.0286, df 7.6
    assert 0.06 < half < 0.07
    # paper 0.88 ± 0.04: ours − paper = 0.02 ± 0.066 contains 0, half-width under a 0.1 margin
    assert value_verdict(OURS, 0.88, 0.04, margin=0.1) == "reproduced"
    # the same interval against a margin below its half-width: not precise enough to say
    assert value_verdict(OURS, 0.88, 0.04, margin=0.05) == "inconclusive"
    # paper 0.83 ± 0.04: 0.07 ± 0.066 excludes 0
    assert value_verdict(OURS, 0.83, 0.04, margin=0.1) == "differs"
    # a wide paper std makes the interval wide: contains 0 but too wide for the margin
    assert value_verdict(OURS, 0.83, 0.30, margin=0.1) == "inconclusive"


def test_value_order_of_rules():
    assert value_verdict([], 0.83, 0.04, margin=0.1) == "not run"
    assert value_verdict([], 0.83, 0.04, not_comparable="50 of 150 epochs", margin=0.1) == "not run"
    assert value_verdict(OURS, 0.88, 0.04, not_comparable="50 of 150 epochs", margin=0.1) == (
        "not comparable (50 of 150 epochs)"
    )


def test_value_without_a_std_uses_the_tolerance_band():
    # ours: mean 22, std 1, n 3 -> half-width 4.3027 / sqrt(3) = 2.484, interval (19.52, 24.48)
    ours = [21.0, 22.0, 23.0]
    assert value_verdict(ours, 22.0, tolerance=3.0) == "reproduced"  # inside (19, 25)
    assert value_verdict(ours, 22.0, tolerance=2.0) == "inconclusive"  # (20, 24) cut by the interval
    assert value_verdict(ours, 30.0, tolerance=2.0) == "differs"  # wholly below (28, 32)
    assert value_verdict([4.5], 4.0, tolerance=1.0) == "reproduced"  # one seed: a point
    assert value_verdict([6.5], 4.0, tolerance=1.0) == "differs"


def test_value_claims_need_their_margin_or_tolerance():
    with pytest.raises(ValueError, match="margin"):
        value_verdict(OURS, 0.88, 0.04)
    with pytest.raises(ValueError, match="tolerance"):
        value_verdict(OURS, 0.88)


@pytest.mark.parametrize(
    "ours, verdict",
    [
        ([], "not run"),
        ([0.80], "inconclusive"),  # one seed: no interval
        ([0.80, 0.82, 0.84], "reproduced"),  # mean 0.82, half-width 4.3027 * 0.02 / sqrt(3) = 0.0497: < 0.95
        ([1.00, 1.02, 1.04], "differs"),  # wholly above the bound
        ([0.80, 0.95, 1.10], "inconclusive"),
    ],
)
def test_bound_verdict_below(ours, verdict):
    assert bound_verdict(ours, 0.95, -1) == verdict


def test_bound_verdict_above_and_not_comparable():
    assert bound_verdict([1.00, 1.02, 1.04], 0.95, +1) == "reproduced"
    assert bound_verdict([0.8, 0.9], 0.95, -1, not_comparable="epochs 50") == "not comparable (epochs 50)"
