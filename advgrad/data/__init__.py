"""Datasets as tensors on the training device: the contract between preprocessing and trainers.

The preprocess stages store uint8 images (+ the fitted CIFAR-10 transform); `load_mnist` and
`load_cifar` turn them into float32 inputs on `device`, so batches are plain index slices
(no DataLoader). Submodules: `idx` and `cifar` (file formats), `sources` (official
files and checksums), `fetch` (download + verification), `prepare` (splits and transforms).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from advgrad.data.prepare import apply_transform
from advgrad.io import load_checked

__all__ = ["Split", "MnistData", "CifarData", "load_mnist", "load_cifar", "apply_transform"]


@dataclass
class Split:
    x: torch.Tensor  # float32 on device: MNIST (N, 784) in [0, 1]; CIFAR (N, 3, 32, 32) transformed
    y: torch.Tensor  # int64 (N,) on device


@dataclass
class MnistData:
    train: Split  # the whole (possibly subsampled) training set: fit + val
    fit: Split  # training set without the validation images
    val: Split  # the validation split (the last validation_size training images)
    test: Split
    meta: dict  # dataset, verified, train_size, validation_size, n_train, n_test


@dataclass
class CifarData:
    train: Split
    test: Split
    meta: dict  # dataset, verified, prep, train_size, n_train, n_test


def _load(path: str | Path) -> dict:
    # weights_only: the file holds only tensors and plain Python values, so nothing is executed;
    # load_checked verifies the checksum the preprocess stage stored (advgrad.io).
    return load_checked(path)


def load_mnist(path: str | Path, device: str | torch.device = "cpu") -> MnistData:
    """Load a preprocessed MNIST-format dataset (stages/preprocess_mnist.py) onto `device`."""
    blob = _load(path)
    x = blob["x_train"].to(device).float().div_(255)  # (N, 784): pixels scaled to [0, 1] (§3)
    y = blob["y_train"].to(device).long()  # (N,)
    val_idx = blob["val_idx"].to(device)  # (V,)
    is_val = torch.zeros(len(y), dtype=torch.bool, device=device)
    is_val[val_idx] = True
    fit_idx = (~is_val).nonzero().squeeze(1)  # (N - V,): the other training images, in order
    return MnistData(
        train=Split(x, y),
        fit=Split(x[fit_idx], y[fit_idx]),
        val=Split(x[val_idx], y[val_idx]),
        test=Split(blob["x_test"].to(device).float().div_(255), blob["y_test"].to(device).long()),
        meta=blob["meta"],
    )


def load_cifar(path: str | Path, device: str | torch.device = "cpu") -> CifarData:
    """Load a preprocessed CIFAR-10 dataset (stages/preprocess_cifar.py) onto `device`,
    applying its stored transform there."""
    blob = _load(path)

    def split(x_uint8: torch.Tensor, y: torch.Tensor) -> Split:
        return Split(apply_transform(x_uint8.to(device), blob["transform"]), y.to(device).long())

    return CifarData(train=split(blob["x_train"], blob["y_train"]),
                     test=split(blob["x_test"], blob["y_test"]), meta=blob["meta"])
