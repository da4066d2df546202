"""Helpers shared by the test modules: watching which epochs a training stage trains, and
interrupting it right after a checkpoint."""

from __future__ import annotations

import pytest

from stages import common, train_mnist


@pytest.fixture
def record_epochs(monkeypatch):
    """`seen = record_epochs()`: the epochs the MNIST training stage trains from now on."""

    def start() -> list[int]:
        seen = []
        real_train = train_mnist.train

        def recording(cfg, *args, on_epoch=None, **kwargs):
            def record(state, seconds):
                seen.append(state["epoch"])
                on_epoch(state, seconds)

            return real_train(cfg, *args, on_epoch=record, **kwargs)

        monkeypatch.setattr(train_mnist, "train", recording)
        return seen

    return start


@pytest.fixture
def interrupt_after(monkeypatch):
    """`stop = interrupt_after(epoch)`: Ctrl-C right after the checkpoint of `epoch`; `stop()`
    lets training run on. Every checkpointed epoch is appended to `stop.saved`."""
    real_save = common.ResumeCheckpoint.save

    def start(epoch: int):
        def save_then_interrupt(self, state):
            real_save(self, state)
            stop.saved.append(state["epoch"])
            if state["epoch"] == epoch:
                raise KeyboardInterrupt

        def stop():
            monkeypatch.setattr(common.ResumeCheckpoint, "save", real_save)

        stop.saved = []
        monkeypatch.setattr(common.ResumeCheckpoint, "save", save_then_interrupt)
        return stop

    return start
