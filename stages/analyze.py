"""DVC stage: Figures 2 and 3 of the paper and the sparsity numbers (2x400 ReLU nets).

Figure 2: first-layer weights of the backprop, adversarial and dropout nets as 28x28 tiles.
Figure 3: histograms of hidden activations on the test set of the first seed's backprop and
adversarial nets, and the fraction of exact zeros (paper: 39 % -> 61 %), per layer and overall:
averaged over seeds, and for the seed of the figure.
The nets are the ones trained without the validation split (stages.train_mnist --split fit).
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch

from advgrad.analysis import first_layer_weights, hidden_activations, zero_fractions
from advgrad.data import load_mnist
from advgrad.figures import plot_activation_histograms, plot_weight_tiles
from advgrad.io import save_json
from stages.common import load_mlp_checkpoint, setup_logging, stage_errors
from stages.params import load_params_or_exit


def sparsity(models, seeds, x) -> dict:
    """Zero fractions on x: per seed, their mean over seeds, and those of the first seed (the
    one Figure 3 shows): {"overall", "per_layer", "n_seeds", "seeds", "per_seed_overall",
    "figure_overall"}."""
    per_seed = [zero_fractions(hidden_activations(m, x)) for m in models]
    n_layers = len(per_seed[0]["per_layer"])
    return {"overall": statistics.fmean(s["overall"] for s in per_seed),
            "per_layer": [statistics.fmean(s["per_layer"][i] for s in per_seed) for i in range(n_layers)],
            "n_seeds": len(per_seed), "seeds": list(seeds),
            "per_seed_overall": [s["overall"] for s in per_seed],
            "figure_overall": per_seed[0]["overall"]}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--backprop", type=Path, required=True)
    ap.add_argument("--adversarial", type=Path, required=True)
    ap.add_argument("--dropout", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = ap.parse_args(argv)
    setup_logging()
    load_params_or_exit(args.params)  # a bad params.yaml fails here, before any work

    with stage_errors("analyze"):
        x = load_mnist(args.data, "cpu").test.x
        models, seeds = {}, {}
        for name, path in (("backprop", args.backprop), ("adversarial", args.adversarial),
                           ("dropout", args.dropout)):
            _, models[name], ckpt = load_mlp_checkpoint(path)
            seeds[name] = ckpt["seeds"]
        images = f"the {len(x)} test images"
        args.out.mkdir(parents=True, exist_ok=True)
        # Figures show the first seed's model, as the paper shows one network per method.
        plot_weight_tiles({name: first_layer_weights(ms[0]) for name, ms in models.items()},
                          args.out / "fig2_first_layer_weights.png")
        with torch.no_grad():
            acts = {name: torch.cat([a.flatten() for a in hidden_activations(models[name][0], x)])
                    for name in ("backprop", "adversarial")}
        plot_activation_histograms(acts, args.out / "fig3_hidden_activations.png",
                                   title=f"2x400 ReLU, seed {seeds['backprop'][0]}, hidden units on {images}")
        save_json({"images": images, "figure_seed": seeds["backprop"][0],
                   **{name: sparsity(ms, seeds[name], x) for name, ms in models.items()}},
                  args.out / "sparsity.json")


if __name__ == "__main__":
    main()
