"""Preprocessing: the stored MNIST-format splits and the CIFAR-10 input transforms (paper §3, §4).

What is stored is compact and exact: uint8 images, uint8 labels, split indices and, for
CIFAR-10, the fitted transform (a scalar mean/std, or a ZCA mean and whitening matrix). The
loader (advgrad.data) converts to float and applies the transform on the training device.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from advgrad.data.cifar import CifarArrays
from advgrad.data.idx import read_idx
from advgrad.data.sources import MNIST_FILES
from advgrad.names import CIFAR_PREPS as PREPS
from advgrad.names import NUM_CLASSES as N_CLASSES

__all__ = ["PrepareError", "read_mnist", "prepare_mnist", "fit_simple", "fit_zca", "apply_transform",
           "prepare_cifar"]


GCN_MIN_STD = 1e-8  # a constant image has std 0; it maps to all zeros instead of NaN
CHUNK = 10_000  # rows per step in the ZCA fit and transform: bounds the float temporaries



class PrepareError(ValueError):
    """The data or the requested sizes cannot be preprocessed; the message names the cause."""


# ---------------------------------------------------------------------------------------------
# MNIST and Fashion-MNIST (paper §3)

def read_mnist(raw_dir: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The four official files -> x_train, y_train, x_test, y_test (uint8; x of shape (N, 28, 28))."""
    arrays = []
    for images_name, labels_name in MNIST_FILES.values():
        images, labels = read_idx(Path(raw_dir) / images_name), read_idx(Path(raw_dir) / labels_name)
        if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
            raise PrepareError(f"{images_name}: expected uint8 images of shape (N, 28, 28), "
                             f"got {images.dtype} {images.shape}")
        if labels.dtype != np.uint8 or labels.shape != images.shape[:1]:
            raise PrepareError(f"{labels_name}: expected {len(images)} uint8 labels, "
                             f"got {labels.dtype} {labels.shape}")
        if labels.size and labels.max() >= N_CLASSES:
            raise PrepareError(f"{labels_name}: label {labels.max()} outside 0..{N_CLASSES - 1}")
        arrays += [images, labels]
    return tuple(arrays)


def _subsample(n_available: int, train_size: int | None) -> int:
    """Size of the training set after `train_size` (None = all); its first images are kept."""
    if train_size is None:
        return n_available
    if not 0 < train_size <= n_available:
        raise PrepareError(f"train_size = {train_size} is not in 1..{n_available} "
                         f"(the number of training images)")
    return train_size


def prepare_mnist(x_train, y_train, x_test, y_test, *, train_size: int | None,
                  validation_size: int, dataset: str, verified: bool) -> dict:
    """The stored MNIST-format dataset: uint8 images flattened to (N, 784), labels, split indices.

    `train_size` keeps the first images of the training set (deterministic). The validation
    split (paper §3: used to pick hyper-parameters and for the FGSM experiment) is the LAST
    `validation_size` images of that training set, the "fit" split the rest: deterministic and
    independent of any seed, so every run and every model sees the same split.
    """
    n = _subsample(len(x_train), train_size)
    if not 0 < validation_size < n:
        raise PrepareError(f"validation_size = {validation_size} must be in 1..{n - 1}: the training "
                         f"set has {n} images (train_size = {train_size})")
    return {
        "x_train": torch.as_tensor(x_train[:n]).reshape(n, -1).to(torch.uint8),  # (N, 784)
        "y_train": torch.as_tensor(y_train[:n]).to(torch.uint8),  # (N,)
        "x_test": torch.as_tensor(x_test).reshape(len(x_test), -1).to(torch.uint8),  # (M, 784)
        "y_test": torch.as_tensor(y_test).to(torch.uint8),  # (M,)
        "val_idx": torch.arange(n - validation_size, n, dtype=torch.int64),  # (V,)
        "meta": {"dataset": dataset, "verified": bool(verified), "train_size": train_size,
                 "validation_size": validation_size, "n_train": n, "n_test": len(x_test)},
    }


# ---------------------------------------------------------------------------------------------
# CIFAR-10 input transforms (paper §4, Table 3: "ZCA" and "SIMPLE")

def _unit(x_uint8: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """uint8 images (N, ...) -> (N, D) in [0, 1]."""
    return x_uint8.reshape(len(x_uint8), -1).to(dtype) / 255


def _gcn(x: torch.Tensor) -> torch.Tensor:
    """Global contrast normalisation: each image (row) to mean 0 and standard deviation 1."""
    x = x - x.mean(dim=1, keepdim=True)
    return x / x.std(dim=1, keepdim=True, correction=0).clamp_min(GCN_MIN_STD)


def fit_simple(x_uint8: torch.Tensor) -> dict:
    """The author's "simple" normalisation: one scalar mean and std over all training pixels
    (pixels scaled to [0, 1] first); x -> (x - mean) / std."""
    # From the histogram of pixel values: exact, and no float64 copy of all the images.
    counts = torch.bincount(x_uint8.flatten(), minlength=256).to(torch.float64)  # (256,)
    values = torch.arange(256, dtype=torch.float64) / 255  # (256,)
    mean = (counts * values).sum() / counts.sum()
    std = ((counts * (values - mean) ** 2).sum() / counts.sum()).sqrt()
    return {"kind": "simple", "mean": mean.item(), "std": std.item()}


def fit_zca(x_uint8: torch.Tensor, epsilon: float, gcn: bool) -> dict:
    """ZCA whitening fitted on `x_uint8` (the training set only), pixels scaled to [0, 1].

    Optionally global contrast normalisation first. Then mean m (D,) and, with the covariance
    C = (x - m)^T (x - m) / N = U diag(lambda) U^T, W = U diag(1 / sqrt(lambda + epsilon)) U^T
    (D, D); x -> (x - m) W. W is symmetric, so whitened images stay images (zero phase);
    epsilon damps the directions of tiny variance. Computed in float64, stored as float32.
    """
    n = len(x_uint8)

    def chunks():  # (CHUNK, D) float64 at a time: 50000 x 3072 in float64 would be 1.2 GB
        for start in range(0, n, CHUNK):
            rows = _unit(x_uint8[start:start + CHUNK], torch.float64)
            yield _gcn(rows) if gcn else rows

    mean = sum(rows.sum(dim=0) for rows in chunks()) / n  # (D,)
    cov = 0
    for rows in chunks():  # a second pass: centring first keeps the sum accurate
        centred = rows - mean  # (CHUNK, D)
        cov = cov + centred.T @ centred
    cov = cov / n  # (D, D)
    lam, u = torch.linalg.eigh(cov)
    lam = lam.clamp_min(0)  # round-off can make the eigenvalues of a singular C slightly negative
    w = (u * (lam + epsilon).rsqrt()) @ u.T  # U diag(1/sqrt(lambda + eps)) U^T
    return {"kind": "zca", "gcn": gcn, "epsilon": epsilon,
            "mean": mean.to(torch.float32), "W": w.to(torch.float32)}


def apply_transform(x_uint8: torch.Tensor, transform: dict) -> torch.Tensor:
    """uint8 images (N, ...) -> float32 of the same shape, on x_uint8's device."""
    x = _unit(x_uint8, torch.float32)  # (N, D)
    if transform["kind"] == "simple":
        out = (x - transform["mean"]) / transform["std"]
    elif transform["kind"] == "zca":
        mean = transform["mean"].to(x.device)  # (D,)
        w = transform["W"].to(x.device)  # (D, D)
        out = torch.empty_like(x)
        for start in range(0, len(x), CHUNK):
            rows = x[start:start + CHUNK]
            if transform["gcn"]:
                rows = _gcn(rows)
            out[start:start + CHUNK] = (rows - mean) @ w
    else:
        raise ValueError(f"unknown transform kind {transform['kind']!r}")
    return out.reshape(x_uint8.shape)


def prepare_cifar(arrays: CifarArrays, *, prep: str, train_size: int | None, zca_epsilon: float,
                  gcn: bool, dataset: str, verified: bool) -> dict:
    """The stored CIFAR-10 dataset: uint8 images and labels plus the transform fitted on the
    (subsampled: first `train_size` images) training set only."""
    n = _subsample(len(arrays.x_train), train_size)
    x_train = torch.as_tensor(arrays.x_train[:n])  # (N, 3, 32, 32) uint8
    if prep == "simple":
        transform = fit_simple(x_train)
    elif prep == "zca":
        transform = fit_zca(x_train, zca_epsilon, gcn)
    else:
        raise PrepareError(f"unknown preprocessing {prep!r}; allowed: {', '.join(PREPS)}")
    return {
        "x_train": x_train,
        "y_train": torch.as_tensor(arrays.y_train[:n]).to(torch.uint8),  # (N,)
        "x_test": torch.as_tensor(arrays.x_test),  # (M, 3, 32, 32) uint8
        "y_test": torch.as_tensor(arrays.y_test).to(torch.uint8),  # (M,)
        "transform": transform,
        "meta": {"dataset": dataset, "verified": bool(verified), "prep": prep,
                 "train_size": train_size, "n_train": n, "n_test": len(arrays.x_test)},
    }
