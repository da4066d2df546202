"""The CIFAR-10 learning-rate schedule on scripted training-error sequences.

decay = 0.5 keeps the running mean hand-checkable in binary floating point:
m_t = (m_{t-1} + err_t) / 2.
"""

import pytest

from advgrad.cifar.schedule import Action, HalvingSchedule

C, H, S = Action.CONTINUE, Action.HALVE, Action.STOP


def run(schedule, errors):
    return [schedule.step(e) for e in errors]


def test_halves_when_the_error_is_not_below_the_running_mean():
    s = HalvingSchedule(0.8, halving_decay=0.5, max_halvings=8, target_train_error=0.0, max_epochs=100)
    # m: 1 -> 0.75 -> 0.525 -> 0.3625 -> 0.48125 -> 0.290625 -> 0.2953125
    actions = run(s, [0.5, 0.3, 0.2, 0.6, 0.1, 0.3])
    assert actions == [C, C, C, H, C, H]
    assert s.halvings == 2 and s.lr == 0.2
    assert s.mean == pytest.approx(0.2953125)


def test_an_error_equal_to_the_mean_halves():
    s = HalvingSchedule(1.0, halving_decay=0.5, max_halvings=8, target_train_error=0.0)
    assert s.step(1.0) == H  # m = (1 + 1) / 2 = 1.0 = err


def test_a_steadily_falling_error_never_halves():
    # m starts at 1 (the author's code), so it stays above a falling error.
    s = HalvingSchedule(0.1, max_halvings=8, target_train_error=0.0, max_epochs=100)
    assert set(run(s, [0.5 - 0.004 * k for k in range(100)])[:-1]) == {C}
    assert s.lr == 0.1


def test_stops_after_max_halvings_with_one_epoch_at_the_last_rate():
    s = HalvingSchedule(1.0, halving_decay=0.5, max_halvings=2, target_train_error=0.0)
    assert run(s, [1.0, 1.0, 1.0]) == [H, H, S]
    assert s.stop_reason == "max_halvings" and s.lr == 0.25 and s.epoch == 3


def test_max_halvings_zero_stops_after_the_first_epoch():
    s = HalvingSchedule(1.0, max_halvings=0)
    assert s.step(0.5) == S and s.stop_reason == "max_halvings"


def test_stops_at_the_target_training_error():
    s = HalvingSchedule(0.1, target_train_error=1e-4, max_epochs=100)
    assert run(s, [0.3, 0.01, 1e-4]) == [C, C, S]
    assert s.stop_reason == "target_train_error" and s.halvings == 0


def test_stops_at_max_epochs():
    s = HalvingSchedule(0.1, target_train_error=0.0, max_epochs=3)
    assert run(s, [0.5, 0.4, 0.3]) == [C, C, S]
    assert s.stop_reason == "max_epochs" and s.epoch == 3


def test_stop_takes_precedence_over_halving():
    s = HalvingSchedule(1.0, halving_decay=0.5, target_train_error=0.0, max_epochs=1)
    assert s.step(1.0) == S  # would halve (err == m), but the last epoch is reached


def test_step_after_stop_is_an_error():
    s = HalvingSchedule(1.0, max_epochs=1)
    s.step(0.5)
    with pytest.raises(RuntimeError, match="stopped"):
        s.step(0.5)


def test_state_dict_round_trip_continues_identically():
    errors = [0.5, 0.3, 0.2, 0.6, 0.1, 0.3, 0.35, 0.2]
    full = HalvingSchedule(0.8, halving_decay=0.5, target_train_error=0.0)
    expected = run(full, errors)
    first = HalvingSchedule(0.8, halving_decay=0.5, target_train_error=0.0)
    head = run(first, errors[:4])
    resumed = HalvingSchedule(0.8, halving_decay=0.5, target_train_error=0.0)
    resumed.load_state_dict(first.state_dict())
    assert head + run(resumed, errors[4:]) == expected
    assert resumed.state_dict() == full.state_dict()
