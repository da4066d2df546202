"""Inverted dropout whose masks come from each seed's own generator (MNIST and CIFAR-10 nets).

`nn.Dropout` draws from torch's global generator, so the masks of one seed would depend on what
else drew before them (the other seeds stacked beside it, an evaluation, a resumed run). Here
every mask is drawn from the generator of the seed it belongs to, which the training loop
(`advgrad.core.training`) owns, saves and restores. Each forward pass draws fresh masks, as Torch's
`nn.Dropout` does in the author's code (anokland/dfa-torch), so the two passes of Algorithm 1
see independent masks. A kept unit is scaled by 1/(1-p), so evaluation needs no rescaling.
"""

from __future__ import annotations

import torch
from torch import nn


def per_seed(sample, x: torch.Tensor, generators: list[torch.Generator], stacked: bool) -> torch.Tensor:
    """`sample` (torch.rand, torch.randn) drawn in x's shape, dtype and device, seed by seed.

    `stacked`: x is (S, ...) and slice s is drawn from `generators[s]`; else all of x from
    `generators[0]`. A seed's draws then do not depend on the seeds stacked beside it."""
    shape = x.shape[1:] if stacked else x.shape
    draws = [sample(shape, generator=g, device=x.device, dtype=x.dtype) for g in generators]
    return torch.stack(draws) if stacked else draws[0]


class SeededDropout(nn.Module):
    """Drop each element with probability `p` in training mode; identity in eval mode.

    `stacked`: the input is (S, ...) with slice s belonging to seed s, drawn from
    `generators[s]`; otherwise the whole input belongs to one seed, `generators[0]`.
    """

    def __init__(self, p: float, stacked: bool = False):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"SeededDropout: p = {p!r}: need a probability in [0, 1)")
        self.p, self.stacked = p, stacked
        self.generators: list[torch.Generator] | None = None  # set by `use_generators`

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        if self.generators is None:
            raise RuntimeError("SeededDropout: no generators; call advgrad.core.dropout.use_generators first")
        keep = per_seed(torch.rand, x, self.generators, self.stacked)  # same shape as x
        return x * (keep >= self.p).to(x.dtype) / (1 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}, stacked={self.stacked}"


def use_generators(model: nn.Module, generators: list[torch.Generator]) -> None:
    """Make every `SeededDropout` of `model` draw from `generators` (one per seed)."""
    for module in model.modules():
        if isinstance(module, SeededDropout):
            module.generators = generators
