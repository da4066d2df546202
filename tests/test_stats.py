"""The statistics over seeds against closed forms."""

import math

import pytest

from advgrad.core.stats import mean_std, paired_difference


def test_mean_and_sample_std():
    assert mean_std([1.0, 2.0, 6.0]) == (3.0, pytest.approx(math.sqrt(7.0)))
    assert mean_std([4.5]) == (4.5, 0.0)


def test_paired_difference_pairs_by_seed_with_a_student_t_interval():
    a = {0: 1.0, 1: 2.0, 7: 9.0}  # seed 7 has no partner: left out
    b = {1: 3.0, 0: 4.0}
    d = paired_difference(a, b)
    # differences -3 and -1: mean -2, sample std sqrt(2); t(0.975, 1) = 12.7062047...
    assert d["n"] == 2 and d["mean_pct"] == -2.0
    assert d["ci95_pct"] == pytest.approx(12.706204736 * math.sqrt(2) / math.sqrt(2))
    three = paired_difference({0: 1.0, 1: 2.0, 2: 6.0}, {0: 0.0, 1: 0.0, 2: 0.0})
    assert three["ci95_pct"] == pytest.approx(4.302652730 * math.sqrt(7.0) / math.sqrt(3))  # t(0.975, 2)


def test_one_pair_has_no_interval_and_no_pair_no_difference():
    assert paired_difference({3: 1.5}, {3: 1.0}) == {"mean_pct": 0.5, "n": 1}
    assert paired_difference({0: 1.0}, {1: 1.0}) is None
