"""The MNIST nets of Table 2 (paper section 3) as plain PyTorch: the config, the module, the loss.

A permutation-invariant 784-h-h-10 MLP with logistic, tanh or ReLU hidden units and a logistic
(sigmoid) output layer, trained on J = binary cross-entropy on one-hot targets, summed over the
10 outputs and averaged over the mini-batch (the author's later Torch code, anokland/dfa-torch;
the paper says "a logistic layer" and "a cross-entropy objective"). Weights ~ N(0, 0.01), biases
0. The module returns logits; the sigmoid lives in the loss.

Training runs the faster stacked implementation of the same net (`advgrad.stacked`); its
weights load into `build_mlp` per seed (`advgrad.checkpoint`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from advgrad.names import ACTIVATIONS, NUM_CLASSES

__all__ = ["ACTIVATIONS", "NUM_CLASSES", "INPUT_RANGE", "MLPConfig", "Standardize", "build_mlp", "from_entry",
           "bce_loss"]

INPUT_RANGE = (0.0, 1.0)  # pixels scaled to [0, 1] (section 3): the clip range of x + mu
_MODULES = {"logistic": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}


@dataclass(frozen=True)
class MLPConfig:
    """A fully connected net `sizes[0]-...-sizes[-1]`, hidden `activation`, sigmoid outputs.

    `dropout_input` / `dropout_hidden` are the drop probabilities of inverted dropout on the
    input and on every hidden layer (0 = off); only the Figure 2 "dropout" net uses them.
    `input_mean` / `input_std` standardise the input, (x - mean) / std, before the first layer
    (0 / 1: pixels in [0, 1] as they are, the paper's text); the transfer experiment's
    `attack.inputs: standardized` reading uses them (the author's code's `-normalization
    simple`), so that an eps of the perturbation counts in standard deviations.
    """
    sizes: tuple[int, ...]
    activation: str
    dropout_input: float = 0.0
    dropout_hidden: float = 0.0
    input_mean: float = 0.0
    input_std: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "sizes", tuple(self.sizes))
        if len(self.sizes) < 2 or any(int(n) != n or n <= 0 for n in self.sizes):
            raise ValueError(f"MLPConfig.sizes = {self.sizes!r}: need at least two positive integers")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"MLPConfig.activation = {self.activation!r}: allowed: {', '.join(ACTIVATIONS)}")
        for name in ("dropout_input", "dropout_hidden"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"MLPConfig.{name} = {getattr(self, name)!r}: need a probability in [0, 1)")
        if not self.input_std > 0:
            raise ValueError(f"MLPConfig.input_std = {self.input_std!r}: need a positive number")

    @property
    def standardizes(self) -> bool:
        return (self.input_mean, self.input_std) != (0.0, 1.0)

    @property
    def has_dropout(self) -> bool:
        return self.dropout_input > 0 or self.dropout_hidden > 0

    @property
    def dropout_rates(self) -> list[float]:
        """The drop probability on the input of every Linear layer."""
        return [self.dropout_input] + [self.dropout_hidden] * (len(self.sizes) - 2)


class Standardize(nn.Module):
    """x -> (x - mean) / std with scalar mean and std (no parameters, nothing in the state_dict)."""

    def __init__(self, mean: float, std: float):
        super().__init__()
        self.mean, self.std = mean, std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        return f"mean={self.mean:g}, std={self.std:g}"


def build_mlp(cfg: MLPConfig) -> nn.Sequential:
    """`nn.Sequential([Standardize,] [Dropout,] Linear, act, [Dropout,] Linear, ..., Linear)`
    returning logits of pixel inputs (dropout only where `cfg` has it; inverted, so evaluation
    needs no rescaling; Standardize only where `cfg` standardizes)."""
    layers: list[nn.Module] = [Standardize(cfg.input_mean, cfg.input_std)] if cfg.standardizes else []
    for i, (n_in, n_out) in enumerate(zip(cfg.sizes[:-1], cfg.sizes[1:], strict=True)):
        if cfg.dropout_rates[i] > 0:
            layers.append(nn.Dropout(cfg.dropout_rates[i]))
        layers.append(nn.Linear(n_in, n_out))
        if i < len(cfg.sizes) - 2:
            layers.append(_MODULES[cfg.activation]())
    return nn.Sequential(*layers)


def input_range(cfg: MLPConfig) -> tuple[float, float]:
    """The valid pixel range [0, 1] in the units the first layer sees."""
    return tuple((v - cfg.input_mean) / cfg.input_std for v in INPUT_RANGE)


def from_entry(model: dict) -> nn.Sequential:
    """The module of a model file's "model" entry (advgrad.checkpoint), family "mnist-mlp"."""
    if model.get("family") != "mnist-mlp":
        raise ValueError(f"holds a {model.get('family')!r} model, not an MNIST MLP")
    return build_mlp(MLPConfig(**{k: v for k, v in model.items() if k != "family"}))


def bce_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The MNIST objective J: sigmoid cross-entropy on one-hot targets, summed over the output
    units, averaged over the batch ("The learning rate was averaged over the number of samples
    in each mini-batch", section 3)."""
    target = F.one_hot(y, logits.shape[-1]).to(logits.dtype)  # (B, 10)
    return F.binary_cross_entropy_with_logits(logits, target, reduction="sum") / logits.shape[0]
