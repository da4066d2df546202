"""The two CIFAR-10 networks of Table 3 (paper section 4), their initialisation and max-norm.

- `CifarMLP`: 3072-3000-3000-10, ReLU hidden units.
- `CifarConvNet`: the conv net of Srivastava et al. (2014), which the paper says it copies:
  three 5x5 convolutions (padding 2, stride 1) with 96, 128 and 256 filters, each followed by
  ReLU and a 3x3 max-pool of stride 2 (32 -> 15 -> 7 -> 3 pixels), then two fully connected
  ReLU layers of 2048 units. 10,071,562 parameters.

Both end in a linear layer of 10 logits; the softmax lives in the loss (`F.cross_entropy`), as
the paper's "softmax layer and a cross-entropy objective". Dropout, when a method uses it
(`advgrad.core.dropout`: masks from the seed's own generator), is applied to the input, inside each
conv block and to the output of each hidden fully connected layer. Section 4 gives "0.1 for
the input layer, 0.25 for convolutional layers and 0.5 for fully connected layers"; the
author's conv code (anokland/dfa-torch, Models/conv.lua) drops 0.25, 0.25 and 0.5 in the three
conv blocks, after each ReLU and before the pooling. `dropout` is params.yaml's cifar10.dropout
section as a dict ({"input", "conv": one rate per block, "conv_position", "fc"}), so both readings
are one setting apart. None is rates of 0, i.e. no dropout, so every method has the same
parameter names and checkpoints of all methods load the same way.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from advgrad.core.dropout import SeededDropout
from advgrad.core.names import CIFAR_ARCHS, NUM_CLASSES

NO_DROPOUT = {"input": 0.0, "conv": (0.0, 0.0, 0.0), "conv_position": "before_pool", "fc": 0.0}


class CifarMLP(nn.Module):
    """3072-units-units-10 ReLU network (paper: units = 3000)."""

    def __init__(self, units: int = 3000, dropout: dict | None = None):
        super().__init__()
        d = dropout or NO_DROPOUT
        self.fc1 = nn.Linear(3 * 32 * 32, units)
        self.fc2 = nn.Linear(units, units)
        self.out = nn.Linear(units, NUM_CLASSES)
        self.drop_input, self.drop_fc = SeededDropout(d["input"]), SeededDropout(d["fc"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.drop_input(x.flatten(1))  # (B, 3072)
        h = self.drop_fc(F.relu(self.fc1(x)))  # (B, units)
        h = self.drop_fc(F.relu(self.fc2(h)))  # (B, units)
        return self.out(h)  # (B, 10) logits


class ConvBlock(nn.Module):
    """5x5 convolution (padding 2) -> ReLU -> 3x3 max-pool of stride 2 (floor), with dropout
    `rate` before or after the pooling (`position`: before_pool | after_pool)."""

    def __init__(self, c_in: int, c_out: int, rate: float, position: str):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel_size=5, padding=2)
        self.drop, self.position = SeededDropout(rate), position

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv(x))
        if self.position == "before_pool":
            x = self.drop(x)
        x = F.max_pool2d(x, kernel_size=3, stride=2)  # side n -> (n - 3) // 2 + 1
        if self.position == "after_pool":
            x = self.drop(x)
        return x


class CifarConvNet(nn.Module):
    """The CIFAR-10 conv net of Srivastava et al. (2014), as used in the paper's Table 3."""

    def __init__(self, dropout: dict | None = None):
        super().__init__()
        d = dropout or NO_DROPOUT
        (r1, r2, r3), pos = d["conv"], d["conv_position"]
        self.block1 = ConvBlock(3, 96, r1, pos)  # (B, 96, 15, 15)
        self.block2 = ConvBlock(96, 128, r2, pos)  # (B, 128, 7, 7)
        self.block3 = ConvBlock(128, 256, r3, pos)  # (B, 256, 3, 3)
        self.fc1 = nn.Linear(256 * 3 * 3, 2048)
        self.fc2 = nn.Linear(2048, 2048)
        self.out = nn.Linear(2048, NUM_CLASSES)
        self.drop_input, self.drop_fc = SeededDropout(d["input"]), SeededDropout(d["fc"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.drop_input(x)  # (B, 3, 32, 32)
        x = self.block3(self.block2(self.block1(x))).flatten(1)  # (B, 2304)
        h = self.drop_fc(F.relu(self.fc1(x)))  # (B, 2048)
        h = self.drop_fc(F.relu(self.fc2(h)))  # (B, 2048)
        return self.out(h)  # (B, 10) logits


def build_model(arch: str, units: int | None = None, dropout: dict | None = None) -> nn.Module:
    """`arch` is mlp | conv; `units` (cifar10.mlp.units) is for the MLP only."""
    if arch not in CIFAR_ARCHS:
        raise ValueError(f"build_model: unknown CIFAR-10 architecture {arch!r}; allowed: {', '.join(CIFAR_ARCHS)}")
    return CifarMLP(units, dropout) if arch == "mlp" else CifarConvNet(dropout)


def from_entry(model: dict) -> nn.Module:
    """The module of a model file's "model" entry (advgrad.core.checkpoint), family "cifar"."""
    if model.get("family") != "cifar":
        raise ValueError(f"holds a {model.get('family')!r} model, not a CIFAR-10 net")
    return build_model(model["arch"], model["units"], model["dropout"])


def _weighted_layers(model: nn.Module):
    return [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]


@torch.no_grad()
def init_weights_(model: nn.Module, std: float, generator: torch.Generator) -> nn.Module:
    """Weights ~ N(0, std^2), biases 0 (paper section 4), drawn from `generator` (a CPU
    generator, so a seed gives the same initial weights on every device: build on CPU, init,
    then move)."""
    for layer in _weighted_layers(model):
        layer.weight.normal_(0.0, std, generator=generator)
        layer.bias.zero_()
    return model


@torch.no_grad()
def apply_max_norm_(model: nn.Module, max_norm: float) -> None:
    """Rescale every unit's incoming weight vector whose L2 norm exceeds `max_norm` to that norm.

    A unit's incoming weights are one slice along dim 0 of the weight: a row (in_features,) of
    a Linear weight, a filter (c_in, 5, 5) of a Conv2d weight. This is the max-norm constraint of
    Srivastava et al. (2014) that the paper takes over (c = 4), applied to every layer including
    the output layer, as the author's later Torch code does (dfa-torch calls dpnn's
    `maxParamNorm`, which renorms the rows of every weight with more than one dimension).
    Biases are not constrained. Slices within the bound are left bit-for-bit unchanged
    (`renorm_` multiplies them by exactly 1).
    """
    for layer in _weighted_layers(model):
        layer.weight.renorm_(p=2, dim=0, maxnorm=max_norm)
