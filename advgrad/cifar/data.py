"""CIFAR-10 (paper section 4, Table 3): the input transforms, the stored dataset and its loader.

What is stored is compact and exact: uint8 images and labels and the transform fitted on the
training set (a scalar mean/std, or a ZCA mean and whitening matrix); `load_cifar` converts to
float and applies the transform on the training device.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from advgrad.core.io import Split, load_checked, training_size

if TYPE_CHECKING:
    from advgrad.data.cifar import CifarArrays


GCN_MIN_STD = 1e-8  # a constant image has std 0; it maps to all zeros instead of NaN
CHUNK = 10_000  # rows per step in the ZCA fit and transform: bounds the float temporaries


@dataclass
class CifarData:
    train: Split
    test: Split
    meta: dict  # dataset, verified, prep, train_size, n_train, n_test


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
            rows = _unit(x_uint8[start : start + CHUNK], torch.float64)
            yield _gcn(rows) if gcn else rows

    mean = sum(rows.sum(dim=0) for rows in chunks()) / n  # (D,)
    centred = (rows - mean for rows in chunks())  # a second pass: centring first keeps the sum accurate
    cov = sum(c.T @ c for c in centred) / n  # (D, D)
    lam, u = torch.linalg.eigh(cov)
    lam = lam.clamp_min(0)  # round-off can make the eigenvalues of a singular C slightly negative
    w = (u * (lam + epsilon).rsqrt()) @ u.T  # U diag(1/sqrt(lambda + eps)) U^T
    return {"kind": "zca", "gcn": gcn, "epsilon": epsilon, "mean": mean.to(torch.float32), "W": w.to(torch.float32)}


def apply_transform(x_uint8: torch.Tensor, transform: dict) -> torch.Tensor:
    """uint8 images (N, ...) -> float32 of the same shape, on x_uint8's device."""
    x = _unit(x_uint8, torch.float32)  # (N, D)
    if transform["kind"] == "simple":
        out = (x - transform["mean"]) / transform["std"]
    else:  # zca
        mean = transform["mean"].to(x.device)  # (D,)
        w = transform["W"].to(x.device)  # (D, D)
        out = torch.empty_like(x)
        for start in range(0, len(x), CHUNK):
            rows = x[start : start + CHUNK]
            if transform["gcn"]:
                rows = _gcn(rows)
            out[start : start + CHUNK] = (rows - mean) @ w
    return out.reshape(x_uint8.shape)


def prepare_cifar(
    arrays: CifarArrays,
    *,
    prep: str,
    train_size: int | None,
    zca_epsilon: float,
    gcn: bool,
    dataset: str,
    verified: bool,
) -> dict:
    """The stored CIFAR-10 dataset: uint8 images and labels plus the transform fitted on the
    (subsampled: first `train_size` images) training set only."""
    n = training_size(len(arrays.x_train), train_size)
    x_train = torch.as_tensor(arrays.x_train[:n])  # (N, 3, 32, 32) uint8
    return {
        "x_train": x_train,
        "y_train": torch.as_tensor(arrays.y_train[:n]).to(torch.uint8),  # (N,)
        "x_test": torch.as_tensor(arrays.x_test),  # (M, 3, 32, 32) uint8
        "y_test": torch.as_tensor(arrays.y_test).to(torch.uint8),  # (M,)
        "transform": fit_simple(x_train) if prep == "simple" else fit_zca(x_train, zca_epsilon, gcn),
        "meta": {
            "dataset": dataset,
            "verified": bool(verified),
            "prep": prep,
            "train_size": train_size,
            "n_train": n,
            "n_test": len(arrays.x_test),
        },
    }


def load_cifar(path: str | Path, device: str | torch.device = "cpu") -> CifarData:
    """Load a preprocessed CIFAR-10 dataset (stages/preprocess_cifar.py) onto `device`,
    applying its stored transform there."""
    blob = load_checked(path)  # checksum verified (advgrad.core.io)

    def split(x_uint8: torch.Tensor, y: torch.Tensor) -> Split:
        return Split(apply_transform(x_uint8.to(device), blob["transform"]), y.to(device).long())

    return CifarData(
        train=split(blob["x_train"], blob["y_train"]), test=split(blob["x_test"], blob["y_test"]), meta=blob["meta"]
    )
