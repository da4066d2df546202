"""Classification error of a model: the one function every trainer, attack and report uses."""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def wrong(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Which rows of (x, y) `model` misclassifies, as it is (train or eval mode): the predicted class
    is the largest logit (for sigmoid outputs also the largest probability). Bool (N,), or (S, N)
    for a stacked model."""
    return model(x).argmax(-1) != y


@torch.no_grad()
def misclassified(model: nn.Module, x: torch.Tensor, y: torch.Tensor, chunk: int = 2000) -> torch.Tensor:
    """How many rows of (x, y) `model` gets wrong in eval mode (no dropout), `chunk` rows at a
    time (memory only).

    A plain model gives a 0-d count; a stacked one (logits (S, N, 10), `advgrad.mnist.model.
    StackedMLP`) one count per seed (S,). The count stays on the device.
    """
    model.eval()
    return sum(wrong(model, xb, yb).sum(-1) for xb, yb in zip(x.split(chunk), y.split(chunk)))


def error_rate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, chunk: int = 2000) -> float | list[float]:
    """Fraction of (x, y) that `model` misclassifies: a float, or one per seed for a stacked model
    (counted exactly, divided in float64)."""
    return (misclassified(model, x, y, chunk).double() / len(x)).tolist()
