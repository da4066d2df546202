"""One model-file format for every training stage: the config and one `state_dict` per seed.

    {"format": 1, "model": {"family": "mnist-mlp" | "cifar", ...the builder's arguments},
     "seeds": [0, 1, ...], "state_dicts": [one per seed], "config": {...the stage's config},
     "sha256": ...}

Each `state_dict` loads into a plain `nn.Module` built by its family's `from_entry`
(`advgrad.mnist.model`, `advgrad.cifar.model`); the file carries a checksum of its tensors that
`load_models` verifies (`advgrad.core.io.load_checked`). Never a pickled model.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from torch import nn

from advgrad.core.io import CorruptFileError, load_checked, save_checked

FORMAT = 1


def save_models(dest: str | Path, *, model: dict, seeds, state_dicts: list[dict], config: dict) -> None:
    save_checked(
        {"format": FORMAT, "model": model, "seeds": list(seeds), "state_dicts": list(state_dicts), "config": config},
        dest,
    )


def load_models(path: str | Path, from_entry: Callable[[dict], nn.Module]) -> tuple[dict, dict[int, nn.Module]]:
    """(the file's dict, {seed: module in eval mode}), each module built by `from_entry` from the
    file's "model" entry. A corrupt file, or one of another format or family, raises
    advgrad.core.io.CorruptFileError naming it."""
    blob = load_checked(path)
    if blob.get("format") != FORMAT:
        raise CorruptFileError(f"{path}: model file format {blob.get('format')!r}, expected {FORMAT}")
    models = {}
    for seed, sd in zip(blob["seeds"], blob["state_dicts"], strict=True):
        try:
            module = from_entry(blob["model"])
        except ValueError as err:
            raise CorruptFileError(f"{path}: {err}") from None
        module.load_state_dict(sd)
        models[seed] = module.eval()
    return blob, models
