"""The learning-rate schedule of the CIFAR-10 experiments (paper section 4).

"The learning rate was multiplied by 0.5 every time the training error stopped to improve. The
training was stopped when the learning rate had been halved 8 times, the training error reached
0.01%, or the number of epochs reached 300."

"Stopped to improve" is made concrete by the author's public Torch code (anokland/dfa-torch,
Main.lua), which keeps a running mean of the epoch's training error and halves when the error is
not below it:

    m = decay * m + (1 - decay) * err        (decay = 0.75)
    halve the learning rate if err >= m

Choices, all of them the author's code unless said otherwise:
- m starts at 1.0 (100 % error). A steadily falling error then never triggers a halving; a
  plateau does once the noise of the epoch error lifts it above the mean.
- The mean is updated before the comparison, with the current epoch's error.
- The halving count is checked before halving, so the learning rate of the last halving is used
  for one epoch before the run stops (a last halving followed by an immediate stop would do
  nothing).
- The target is checked on the epoch's error itself, as the paper's text says; the author's code
  checks the running mean, which needs several epochs at the target before it gets there.
- `max_epochs` is the number of epochs run (the author's loop `while epoch ~= opt.epoch` runs one
  fewer).

The class is pure bookkeeping: `step(train_error)` returns what to do and the trainer applies
`lr` to its optimizer, so the rule is testable on a scripted error sequence. Its settings carry
params.yaml's names (cifar10.halving_decay, ...); its state is its fields.
"""

from __future__ import annotations

import dataclasses
import enum


class Action(enum.StrEnum):
    CONTINUE = "continue"  # train another epoch at the same learning rate
    HALVE = "halve"  # train another epoch at half the learning rate
    STOP = "stop"  # training is over; `stop_reason` says why


@dataclasses.dataclass
class HalvingSchedule:
    """Halve the learning rate when the training error stops improving; decide when to stop."""

    lr: float
    halving_decay: float = 0.75
    max_halvings: int = 8
    target_train_error: float = 1e-4
    max_epochs: int = 300
    mean: float = 1.0  # running mean m of the training error
    epoch: int = 0  # epochs reported so far
    halvings: int = 0
    stop_reason: str | None = None

    def step(self, train_error: float) -> Action:
        """Report the training error of the epoch just finished; returns the next action."""
        if self.stop_reason is not None:
            raise RuntimeError(f"HalvingSchedule: step() after the schedule stopped ({self.stop_reason})")
        self.epoch += 1
        self.mean = self.halving_decay * self.mean + (1 - self.halving_decay) * train_error
        if train_error <= self.target_train_error:
            self.stop_reason = "target_train_error"
        elif self.halvings >= self.max_halvings:
            self.stop_reason = "max_halvings"
        elif self.epoch >= self.max_epochs:
            self.stop_reason = "max_epochs"
        if self.stop_reason is not None:
            return Action.STOP
        if train_error >= self.mean:
            self.lr /= 2
            self.halvings += 1
            return Action.HALVE
        return Action.CONTINUE

    def state_dict(self) -> dict:
        return dataclasses.asdict(self)

    def load_state_dict(self, state: dict) -> None:
        vars(self).update(state)
