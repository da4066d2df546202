"""Classification error of a model: the one function every trainer, attack and report uses."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["misclassified", "error_rate"]


@torch.no_grad()
def misclassified(model: nn.Module, x: torch.Tensor, y: torch.Tensor, chunk: int = 2000) -> int:
    """How many rows of (x, y) `model` gets wrong in eval mode (no dropout), `chunk` rows at a
    time (memory only). The predicted class is the largest logit."""
    model.eval()
    wrong = torch.zeros((), dtype=torch.int64, device=x.device)
    for start in range(0, len(x), chunk):
        wrong += (model(x[start:start + chunk]).argmax(-1) != y[start:start + chunk]).sum()
    return int(wrong.item())


def error_rate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, chunk: int = 2000) -> float:
    """Fraction of (x, y) that `model` misclassifies."""
    return misclassified(model, x, y, chunk) / len(x)
