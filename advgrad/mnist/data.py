"""MNIST-format datasets (paper section 3): the stored splits and their loader.

The preprocess stage stores uint8 images flattened to (N, 784), labels and the validation
indices; `load_mnist` turns them into float32 inputs in [0, 1] on the training device, so
batches are plain index slices (no DataLoader).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from advgrad.core.io import PrepareError, Split, load_checked, training_size


@dataclass
class MnistData:
    train: Split  # the whole (possibly subsampled) training set: fit + val
    fit: Split  # training set without the validation images
    val: Split  # the validation split (the last validation_size training images)
    test: Split
    meta: dict  # dataset, verified, train_size, validation_size, n_train, n_test


def prepare_mnist(
    x_train, y_train, x_test, y_test, *, train_size: int | None, validation_size: int, dataset: str, verified: bool
) -> dict:
    """The stored MNIST-format dataset: uint8 images flattened to (N, 784), labels, split indices.

    `train_size` keeps the first images of the training set (deterministic). The validation
    split (paper §3: used to pick hyper-parameters and for the FGSM experiment) is the LAST
    `validation_size` images of that training set, the "fit" split the rest: deterministic and
    independent of any seed, so every run and every model sees the same split.
    """
    n = training_size(len(x_train), train_size)
    if not 0 < validation_size < n:
        raise PrepareError(
            f"validation_size = {validation_size} must be in 1..{n - 1}: the training "
            f"set has {n} images (train_size = {train_size})"
        )
    return {
        "x_train": torch.as_tensor(x_train[:n]).reshape(n, -1).to(torch.uint8),  # (N, 784)
        "y_train": torch.as_tensor(y_train[:n]).to(torch.uint8),  # (N,)
        "x_test": torch.as_tensor(x_test).reshape(len(x_test), -1).to(torch.uint8),  # (M, 784)
        "y_test": torch.as_tensor(y_test).to(torch.uint8),  # (M,)
        "val_idx": torch.arange(n - validation_size, n, dtype=torch.int64),  # (V,)
        "meta": {
            "dataset": dataset,
            "verified": bool(verified),
            "train_size": train_size,
            "validation_size": validation_size,
            "n_train": n,
            "n_test": len(x_test),
        },
    }


def load_mnist(path: str | Path, device: str | torch.device = "cpu") -> MnistData:
    """Load a preprocessed MNIST-format dataset (stages/preprocess_mnist.py) onto `device`."""
    blob = load_checked(path)  # checksum verified (advgrad.core.io)
    x = blob["x_train"].to(device).float().div_(255)  # (N, 784): pixels scaled to [0, 1] (§3)
    y = blob["y_train"].to(device).long()  # (N,)
    val_idx = blob["val_idx"].to(device)  # (V,)
    fit = torch.ones(len(y), dtype=torch.bool, device=device)  # (N,): the other training images
    fit[val_idx] = False
    return MnistData(
        train=Split(x, y),
        fit=Split(x[fit], y[fit]),
        val=Split(x[val_idx], y[val_idx]),
        test=Split(blob["x_test"].to(device).float().div_(255), blob["y_test"].to(device).long()),
        meta=blob["meta"],
    )
