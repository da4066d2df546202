"""The MNIST nets of Table 2 (paper section 3) as plain PyTorch: the config, the module, the loss.

A permutation-invariant 784-h-h-10 MLP with logistic, tanh or ReLU hidden units and a logistic
(sigmoid) output layer, trained on J = binary cross-entropy on one-hot targets, summed over the
10 outputs and averaged over the mini-batch (the author's later Torch code, anokland/dfa-torch;
the paper says "a logistic layer" and "a cross-entropy objective"). Weights ~ N(0, 0.01), biases
0. The module returns logits; the sigmoid lives in the loss.

Training runs all seeds of a configuration as one `StackedMLP` (the same net S times, batched
over a leading seed axis); `unstack` turns its weights into one `build_mlp` state_dict per seed,
which is what model files hold (`advgrad.core.checkpoint`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from advgrad.core.dropout import SeededDropout

INPUT_RANGE = (0.0, 1.0)  # pixels scaled to [0, 1] (section 3): the clip range of x + mu
_MODULES = {"logistic": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}
_FUNCTIONS = {"logistic": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu}


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

    @property
    def standardizes(self) -> bool:
        return (self.input_mean, self.input_std) != (0.0, 1.0)

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
    returning logits of pixel inputs (dropout only where `cfg` has it: `advgrad.core.dropout`'s,
    inverted, so evaluation needs no rescaling; Standardize only where `cfg` standardizes)."""
    layers: list[nn.Module] = [Standardize(cfg.input_mean, cfg.input_std)] if cfg.standardizes else []
    for i, (n_in, n_out) in enumerate(zip(cfg.sizes[:-1], cfg.sizes[1:], strict=True)):
        if cfg.dropout_rates[i] > 0:
            layers.append(SeededDropout(cfg.dropout_rates[i]))
        layers.append(nn.Linear(n_in, n_out))
        if i < len(cfg.sizes) - 2:
            layers.append(_MODULES[cfg.activation]())
    return nn.Sequential(*layers)


def input_range(cfg: MLPConfig) -> tuple[float, float]:
    """The valid pixel range [0, 1] in the units the first layer sees."""
    return tuple((v - cfg.input_mean) / cfg.input_std for v in INPUT_RANGE)


def from_entry(model: dict) -> nn.Sequential:
    """The module of a model file's "model" entry (advgrad.core.checkpoint), family "mnist-mlp"."""
    if model.get("family") != "mnist-mlp":
        raise ValueError(f"holds a {model.get('family')!r} model, not an MNIST MLP")
    return build_mlp(MLPConfig(**{k: v for k, v in model.items() if k != "family"}))


def bce_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The MNIST objective J: sigmoid cross-entropy on one-hot targets, summed over the output
    units, averaged over the batch ("The learning rate was averaged over the number of samples
    in each mini-batch", section 3).

    logits (B, 10) -> a scalar; stacked logits (S, B, 10) with labels (S, B) -> each seed's J (S,).
    """
    target = F.one_hot(y, logits.shape[-1]).to(logits.dtype)  # (..., B, 10)
    return F.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(-1).mean(-1)


class StackedMLP(nn.Module):
    """`build_mlp(cfg)` for S seeds at once: layer l holds W (S, in, out) and b (S, 1, out), seed
    s owning slice s, and every layer is one batched matmul over the seed axis (`torch.baddbmm`),
    so S nets cost one kernel per layer instead of S (the paper's batch of 10 makes each kernel
    tiny).

    Seeds share no parameter, so the gradient of the sum of the seeds' losses with respect to
    seed s's weights is exactly seed s's own gradient: `algorithm1`'s steps train the S nets
    independently. Seed s's initial weights are drawn from its own generator, N(0, init_std),
    biases 0 (section 3), so they do not depend on which other seeds are stacked with it.
    Dropout (the Figure 2 net only) draws each seed's masks from that seed's generator.

    Input (S, B, in), each seed its own samples, or (B, in) shared by all; output: logits
    (S, B, out). Standardisation (`cfg.standardizes`) is not part of this module: the trainer
    standardises the data once, so eps counts in the units the first layer sees.
    """

    stacked = True  # the training loop gives it (S, B, ...) batches

    def __init__(self, cfg: MLPConfig, seeds: Sequence[int], init_std: float):
        super().__init__()
        self.cfg, self.n_seeds = cfg, len(seeds)
        shapes = list(zip(cfg.sizes[:-1], cfg.sizes[1:], strict=True))
        per_seed = []
        for seed in seeds:
            g = torch.Generator().manual_seed(seed)
            per_seed.append([torch.empty(n_in, n_out).normal_(0.0, init_std, generator=g) for n_in, n_out in shapes])
        self.weights = nn.ParameterList(torch.stack([w[layer] for w in per_seed]) for layer in range(len(shapes)))
        self.biases = nn.ParameterList(torch.zeros(len(seeds), 1, n_out) for _, n_out in shapes)
        self.dropout = nn.ModuleList(SeededDropout(p, stacked=True) for p in cfg.dropout_rates)
        self.activation = _FUNCTIONS[cfg.activation]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = x if x.dim() == 3 else x.expand(self.n_seeds, *x.shape)  # (S, B, in)
        last = len(self.weights) - 1
        for layer, (W, b, drop) in enumerate(zip(self.weights, self.biases, self.dropout, strict=True)):
            a = torch.baddbmm(b, drop(a), W)  # (S, B, out) = b + a @ W
            if layer < last:
                a = self.activation(a)
        return a


def unstack(state: dict[str, torch.Tensor], cfg: MLPConfig) -> list[dict[str, torch.Tensor]]:
    """A `StackedMLP` state_dict -> one `build_mlp(cfg)` state_dict per seed, on the CPU."""
    linears = [name for name, m in build_mlp(cfg).named_modules() if isinstance(m, nn.Linear)]
    n_seeds = state["weights.0"].shape[0]
    return [
        {
            f"{name}.{kind}": t
            for layer, name in enumerate(linears)
            for kind, t in (
                ("weight", state[f"weights.{layer}"][s].T.cpu().clone()),  # Linear: (out, in)
                ("bias", state[f"biases.{layer}"][s, 0].cpu().clone()),
            )
        }
        for s in range(n_seeds)
    ]


def to_modules(state: dict[str, torch.Tensor], cfg: MLPConfig) -> list[nn.Sequential]:
    """A `StackedMLP` state_dict -> one plain `build_mlp(cfg)` module per seed (CPU, eval mode)."""
    modules = []
    for sd in unstack(state, cfg):
        module = build_mlp(cfg)
        module.load_state_dict(sd)
        modules.append(module.eval())
    return modules
