"""Hidden-unit sparsity and first-layer features of trained MLPs (paper Figures 2 and 3)."""

from __future__ import annotations

import statistics
from collections.abc import Mapping

import torch
from torch import nn

from advgrad.mnist.model import Standardize


@torch.no_grad()
def hidden_activations(model: nn.Sequential, x: torch.Tensor) -> list[torch.Tensor]:
    """Post-nonlinearity activations of every hidden layer, each (N, h), in eval mode."""
    model.eval()
    acts, h = [], x
    for i, layer in enumerate(model):
        h = layer(h)
        # A hidden activation is the output of a nonlinearity that is followed by another layer.
        if not isinstance(layer, (nn.Linear, nn.Dropout, Standardize)) and i < len(model) - 1:
            acts.append(h)
    return acts


def zero_fractions(acts: list[torch.Tensor]) -> dict:
    """Fraction of exact zeros per hidden layer and over all hidden units (paper: 39 % -> 61 %)."""
    zeros = [int((a == 0).sum()) for a in acts]
    sizes = [a.numel() for a in acts]
    return {"per_layer": [z / n for z, n in zip(zeros, sizes)], "overall": sum(zeros) / sum(sizes)}


def sparsity(models: Mapping[int, nn.Sequential], x: torch.Tensor) -> dict:
    """Zero fractions on x of several seeds' nets: their mean over seeds, and those of the first
    seed (the one Figure 3 shows). {"overall", "per_layer", "n_seeds", "seeds",
    "per_seed_overall", "figure_overall"}."""
    per_seed = [zero_fractions(hidden_activations(m, x)) for m in models.values()]
    n_layers = len(per_seed[0]["per_layer"])
    return {
        "overall": statistics.fmean(s["overall"] for s in per_seed),
        "per_layer": [statistics.fmean(s["per_layer"][i] for s in per_seed) for i in range(n_layers)],
        "n_seeds": len(per_seed),
        "seeds": list(models),
        "per_seed_overall": [s["overall"] for s in per_seed],
        "figure_overall": per_seed[0]["overall"],
    }


def first_layer_weights(model: nn.Sequential) -> torch.Tensor:
    """Incoming weights of the first hidden layer, one row per unit: (h, 784)."""
    first = next(m for m in model if isinstance(m, nn.Linear))
    return first.weight.detach().cpu()
