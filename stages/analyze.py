"""DVC stage: Figures 2 and 3 of the paper and the sparsity numbers (2x400 ReLU nets).

    python -m stages.analyze --data data/processed/<ds>.pt \
        --backprop models/<ds>-relu-400-backprop-fit.pt \
        --adversarial models/<ds>-relu-400-adversarial-fit.pt \
        --dropout models/<ds>-relu-400-dropout-fit.pt --out runs/analysis/<ds>

Figure 2: first-layer weights of the backprop, adversarial and dropout nets as 28x28 tiles.
Figure 3: histograms of hidden activations on the test set of the first seed's backprop and
adversarial nets, and the fraction of exact zeros (paper: 39 % -> 61 %), per layer and overall:
averaged over seeds, and for the seed of the figure. The nets are the ones trained without the
validation split (stages.train_mnist --split fit).
"""

from __future__ import annotations

from pathlib import Path

import torch

from advgrad.core.checkpoint import load_models
from advgrad.core.io import save_json
from advgrad.evaluate.analysis import first_layer_weights, hidden_activations, sparsity
from advgrad.evaluate.figures import METHODS, plot_activation_histograms, plot_weight_tiles
from advgrad.mnist.data import load_mnist
from advgrad.mnist.model import from_entry
from stages.common import cli, stage_errors


def run(models: dict[str, dict], x: torch.Tensor, out: Path) -> dict:
    """Draw both figures into `out` (the first seed of each method, as the paper shows one net
    per method) and return the sparsity numbers."""
    first = {name: next(iter(family.values())) for name, family in models.items()}
    seed = next(iter(models["backprop"]))
    images = f"the {len(x)} test images"
    plot_weight_tiles({name: first_layer_weights(m) for name, m in first.items()}, out / "fig2_first_layer_weights.png")
    acts = {
        name: torch.cat([a.flatten() for a in hidden_activations(first[name], x)])
        for name in ("backprop", "adversarial")
    }
    plot_activation_histograms(
        acts, out / "fig3_hidden_activations.png", title=f"2x400 ReLU, seed {seed}, hidden units on {images}"
    )
    return {"images": images, "figure_seed": seed, **{name: sparsity(family, x) for name, family in models.items()}}


def main(argv=None) -> None:
    args, _ = cli(__doc__, argv, "--data", "--backprop", "--adversarial", "--dropout", "--out")
    with stage_errors("analyze"):
        x = load_mnist(args.data, "cpu").test.x
        models = {name: load_models(getattr(args, name), from_entry)[1] for name in METHODS}
        args.out.mkdir(parents=True, exist_ok=True)
        save_json(run(models, x, args.out), args.out / "sparsity.json")


if __name__ == "__main__":
    main()
