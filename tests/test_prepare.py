"""Preprocessing and loading: MNIST splits, the CIFAR-10 transforms of Table 3, and the loaders.

ZCA is checked against closed forms and an independent numpy SVD computation on small
correlated data (D = 48 instead of 3072: a 3072x3072 eigendecomposition takes ~30 s here).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from advgrad.cifar.data import apply_transform, fit_simple, fit_zca, load_cifar, prepare_cifar
from advgrad.core.io import PrepareError, save_checked
from advgrad.data.cifar import CifarArrays
from advgrad.data.fetch import Retry
from advgrad.mnist.data import load_mnist
from stages import download, preprocess_cifar, preprocess_mnist
from tests.fixtures import cifar_like, mnist_like, mnist_square, write_cifar_mirror, write_mnist_mirror

REPO = Path(__file__).resolve().parents[1]
FAST = Retry(attempts=1, delay=0.0)


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    """Downloaded fixture datasets: <raw>/mnist (600 + 100 images), <raw>/cifar-10 (500 + 100)."""
    root = tmp_path_factory.mktemp("data")
    write_mnist_mirror(root / "mirror")
    write_cifar_mirror(root / "mirror")
    for dataset in ("mnist", "cifar-10"):
        download.run(dataset, root / "raw" / dataset, str(root / "mirror"), True, FAST)
    return root / "raw"


def _params_in(tmp_path: Path, monkeypatch, **sections) -> None:
    """Run from `tmp_path` with the repository's params.yaml, some keys changed."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    for section, values in sections.items():
        params[section].update(values)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(tmp_path)


# ---------------------------------------------------------------------------------------------
# MNIST-format datasets


def test_mnist_stage_and_loader(raw, tmp_path, monkeypatch):
    _params_in(tmp_path, monkeypatch, mnist={"validation_size": 100, "train_size": None})
    out = tmp_path / "processed" / "mnist.pt"
    preprocess_mnist.main(["--raw", str(raw / "mnist"), "--out", str(out)])

    blob = torch.load(out, weights_only=True)
    images, labels = mnist_like(600, seed=0)  # what the fixture wrote, regenerated
    assert blob["x_train"].dtype == torch.uint8 and blob["x_train"].shape == (600, 784)
    np.testing.assert_array_equal(blob["x_train"].numpy(), images.reshape(600, 784))
    np.testing.assert_array_equal(blob["y_train"].numpy(), labels)
    assert blob["x_test"].shape == (100, 784) and blob["y_test"].shape == (100,)
    # The validation split is the last validation_size training images.
    assert torch.equal(blob["val_idx"], torch.arange(500, 600))
    assert blob["meta"] == {
        "dataset": "mnist",
        "verified": False,
        "train_size": None,
        "validation_size": 100,
        "n_train": 600,
        "n_test": 100,
    }

    data = load_mnist(out, device="cpu")
    assert data.train.x.dtype == torch.float32 and data.train.y.dtype == torch.int64
    assert torch.allclose(data.train.x * 255, torch.as_tensor(images.reshape(600, 784)).float())
    assert 0 <= data.train.x.min() and data.train.x.max() <= 1
    assert torch.equal(data.fit.x, data.train.x[:500]) and torch.equal(data.fit.y, data.train.y[:500])
    assert torch.equal(data.val.x, data.train.x[500:]) and torch.equal(data.val.y, data.train.y[500:])
    assert data.test.x.shape == (100, 784) and data.test.y.dtype == torch.int64
    assert data.meta["verified"] is False


def test_mnist_train_size_keeps_the_first_images(raw):
    blob = preprocess_mnist.run(raw / "mnist", validation_size=50, train_size=300)
    images, _ = mnist_like(600, seed=0)
    np.testing.assert_array_equal(blob["x_train"].numpy(), images[:300].reshape(300, 784))
    assert torch.equal(blob["val_idx"], torch.arange(250, 300))
    assert blob["meta"]["n_train"] == 300 and blob["meta"]["train_size"] == 300
    assert blob["x_test"].shape == (100, 784)  # the test set is never subsampled


@pytest.mark.parametrize(
    "validation_size, train_size, cause",
    [
        (600, None, r"validation_size = 600 must be in 1\.\.599"),
        (10, 601, r"train_size = 601 is not in 1\.\.600"),
    ],
)
def test_mnist_impossible_sizes(raw, validation_size, train_size, cause):
    with pytest.raises(PrepareError, match=cause):
        preprocess_mnist.run(raw / "mnist", validation_size, train_size)


def test_mnist_stage_errors_are_one_line(raw, tmp_path, monkeypatch):
    _params_in(tmp_path, monkeypatch)  # validation_size 10000 > the fixture's 600 images
    with pytest.raises(SystemExit, match="^preprocess_mnist: validation_size = 10000") as err:
        preprocess_mnist.main(["--raw", str(raw / "mnist"), "--out", str(tmp_path / "x.pt")])
    assert "\n" not in str(err.value.code)
    with pytest.raises(SystemExit, match="no download manifest"):
        preprocess_mnist.main(["--raw", str(tmp_path), "--out", str(tmp_path / "x.pt")])
    assert not (tmp_path / "x.pt").exists()


def test_truncated_raw_file_is_caught_by_preprocess(raw, tmp_path, monkeypatch):
    broken = tmp_path / "mnist"
    shutil.copytree(raw / "mnist", broken)
    data = (broken / "t10k-labels-idx1-ubyte.gz").read_bytes()
    (broken / "t10k-labels-idx1-ubyte.gz").write_bytes(data[:-10])
    _params_in(tmp_path, monkeypatch, mnist={"validation_size": 100})
    with pytest.raises(SystemExit, match="t10k-labels-idx1-ubyte.gz: truncated gzip"):
        preprocess_mnist.main(["--raw", str(broken), "--out", str(tmp_path / "x.pt")])


def _train_mlp(x_train, y_train, epochs=3, hidden=32, seed=0) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(x_train[0].numel(), hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 10)
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    for _ in range(epochs):
        for idx in torch.randperm(len(x_train)).split(10):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x_train[idx]), y_train[idx]).backward()
            opt.step()
    return model


def test_mnist_fixture_is_learnable(raw, tmp_path):
    out = tmp_path / "mnist.pt"
    save_checked(preprocess_mnist.run(raw / "mnist", validation_size=100, train_size=None), out)
    data = load_mnist(out)
    model = _train_mlp(data.fit.x, data.fit.y)
    error = (model(data.test.x).argmax(1) != data.test.y).float().mean().item()
    assert error < 0.05


def test_mnist_fixture_structure_is_hand_checkable():
    images, labels = mnist_like(50, seed=3)
    for image, c in zip(images, labels):
        rows, cols = mnist_square(int(c))
        assert image[rows, cols].min() >= 160  # the class square is bright
        mask = np.ones((28, 28), bool)
        mask[rows, cols] = False
        assert image[mask].max() < 64  # everything else is dim noise
    assert np.bincount(labels, minlength=10).tolist() == [5] * 10


# ---------------------------------------------------------------------------------------------
# CIFAR-10 transforms (paper §4, Table 3)


def correlated_images(n: int, seed: int, shift: float = 0.0) -> torch.Tensor:
    """uint8 (n, 3, 4, 4) images whose 48 pixels are correlated: Gaussian with covariance
    Q diag(s^2) Q^T, Q a fixed random rotation, s from 0.5 to 3 (pixel std about 5 to 30)."""
    q, _ = torch.linalg.qr(torch.randn(48, 48, generator=torch.Generator().manual_seed(0), dtype=torch.float64))
    mixing = q @ torch.diag(torch.linspace(0.5, 3.0, 48, dtype=torch.float64)) @ q.T
    z = torch.randn(n, 48, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    x = 128 + shift + 10 * z @ mixing
    return x.round().clamp(0, 255).to(torch.uint8).reshape(n, 3, 4, 4)


def covariance(x: torch.Tensor) -> torch.Tensor:
    flat = x.reshape(len(x), -1).double()
    centred = flat - flat.mean(0)
    return centred.T @ centred / len(x)


def test_zca_whitens_the_training_set():
    x = correlated_images(3000, seed=1)
    transform = fit_zca(x, epsilon=1e-7, gcn=False)
    z = apply_transform(x, transform)
    assert z.shape == x.shape and z.dtype == torch.float32
    cov_x = covariance(x)
    correlation = cov_x / torch.outer(cov_x.diagonal(), cov_x.diagonal()).sqrt()
    assert (correlation - torch.eye(48, dtype=torch.float64)).abs().max() > 0.3  # sanity: correlated
    eye = torch.eye(48, dtype=torch.float64)
    torch.testing.assert_close(covariance(z), eye, atol=2e-3, rtol=0)
    torch.testing.assert_close(z.reshape(len(z), -1).mean(0), torch.zeros(48), atol=1e-4, rtol=0)
    torch.testing.assert_close(transform["W"], transform["W"].T)  # zero phase: W symmetric


def test_default_zca_regulariser_is_the_authors_and_whitens_as_applied():
    """The repository's cifar10.zca_epsilon is unsup.zca_whiten's 1e-5 on 0-255 pixels, i.e.
    1e-5 / 255^2 on [0, 1]; with it, the float32 whitening matrix as `apply_transform` applies it
    makes the training covariance the identity on every direction whose variance is well above
    the regulariser, and leaves a direction without variance (a constant pixel) at zero."""
    from stages.params import load_params

    eps = load_params().cifar10.zca_epsilon
    assert eps == pytest.approx(1e-5 / 255**2, rel=1e-12)
    x = correlated_images(4000, seed=5).reshape(4000, -1)
    x[:, 7] = 200  # one constant pixel: a direction of zero variance
    x = x.reshape(4000, 3, 4, 4)
    z = apply_transform(x, fit_zca(x, epsilon=eps, gcn=False)).reshape(4000, -1).double()
    lam, u = torch.linalg.eigh(covariance(x / 255.0))
    strong = lam > 1e4 * eps  # the 47 directions of real variance (the smallest is ~1e-5)
    assert int(strong.sum()) == 47 and lam[~strong].abs().max() < 1e-12
    centred = z - z.mean(0)
    projected = centred @ u  # whitened data in the eigenbasis of the raw covariance
    cov = projected.T @ projected / len(z)
    torch.testing.assert_close(cov[strong][:, strong], torch.eye(47, dtype=torch.float64), atol=2e-3, rtol=0)
    assert projected[:, ~strong].abs().max() < 1e-3


def test_zca_matches_an_svd_computation():
    """Independent oracle: W from the SVD of the centred data matrix (numpy), not from eigh."""
    x = correlated_images(1000, seed=2)
    eps = 1e-3
    flat = x.reshape(len(x), -1).numpy().astype(np.float64) / 255
    centred = flat - flat.mean(0)
    _, s, vt = np.linalg.svd(centred / np.sqrt(len(x)), full_matrices=False)
    w_ref = vt.T @ np.diag(1 / np.sqrt(s**2 + eps)) @ vt
    transform = fit_zca(x, epsilon=eps, gcn=False)
    np.testing.assert_allclose(transform["mean"].numpy(), flat.mean(0), rtol=0, atol=1e-6)
    np.testing.assert_allclose(transform["W"].numpy(), w_ref, rtol=1e-4, atol=1e-4)


def test_zca_epsilon_shrinks_eigenvalues_as_lambda_over_lambda_plus_eps():
    """Closed form: the whitened covariance is U diag(lambda / (lambda + eps)) U^T."""
    x = correlated_images(2000, seed=4)
    lam = torch.linalg.eigvalsh(covariance(x / 255.0))
    eps = lam.median().item()
    z = apply_transform(x, fit_zca(x, epsilon=eps, gcn=False))
    torch.testing.assert_close(torch.linalg.eigvalsh(covariance(z)), lam / (lam + eps), atol=1e-4, rtol=1e-3)


def test_zca_with_gcn():
    """GCN leaves every image with mean 0, so the all-ones direction has no variance left and
    stays at 0 after whitening: covariance I - 11^T / D (closed form)."""
    x = correlated_images(3000, seed=5)
    transform = fit_zca(x, epsilon=1e-7, gcn=True)
    z = apply_transform(x, transform).reshape(len(x), -1)
    ones = torch.ones(48, 48, dtype=torch.float64) / 48
    torch.testing.assert_close(covariance(z), torch.eye(48, dtype=torch.float64) - ones, atol=3e-3, rtol=0)
    assert transform["gcn"] is True
    # GCN alone (identity whitening): every image has mean 0 and standard deviation 1.
    gcn_only = {"kind": "zca", "gcn": True, "mean": torch.zeros(48), "W": torch.eye(48)}
    g = apply_transform(x, gcn_only).reshape(len(x), -1)
    torch.testing.assert_close(g.mean(1), torch.zeros(len(x)), atol=1e-5, rtol=0)
    torch.testing.assert_close(g.std(1, correction=0), torch.ones(len(x)), atol=1e-5, rtol=0)


def _arrays(x_train, x_test) -> CifarArrays:
    return CifarArrays(
        x_train=x_train.numpy(),
        y_train=np.arange(len(x_train)) % 10,
        x_test=x_test.numpy(),
        y_test=np.arange(len(x_test)) % 10,
        member_md5={},
    )


@pytest.mark.parametrize("prep", ["zca", "simple"])
def test_transform_is_fitted_on_the_training_set_only(prep):
    x_train = correlated_images(1000, seed=6)
    kwargs = dict(prep=prep, train_size=None, zca_epsilon=1e-3, gcn=False, dataset="t", verified=False)
    a = prepare_cifar(_arrays(x_train, correlated_images(200, seed=7)), **kwargs)
    b = prepare_cifar(_arrays(x_train, correlated_images(200, seed=8, shift=60)), **kwargs)
    assert a["transform"].keys() == b["transform"].keys()
    for key, value in a["transform"].items():
        other = b["transform"][key]
        assert torch.equal(value, other) if torch.is_tensor(value) else value == other, key
    # Sanity: had the test set been used, the shifted one would have changed the fit.
    both = torch.cat([x_train, correlated_images(200, seed=8, shift=60)])
    refit = fit_zca(both, 1e-3, False) if prep == "zca" else fit_simple(both)
    assert not torch.allclose(torch.as_tensor(refit["mean"]), torch.as_tensor(a["transform"]["mean"]))


def test_train_size_subsamples_before_fitting():
    x_train = correlated_images(1000, seed=9)
    blob = prepare_cifar(
        _arrays(x_train, x_train[:10]),
        prep="simple",
        train_size=400,
        zca_epsilon=1,
        gcn=False,
        dataset="t",
        verified=True,
    )
    assert torch.equal(blob["x_train"], x_train[:400]) and blob["meta"]["n_train"] == 400
    assert blob["transform"] == fit_simple(x_train[:400])


def test_simple_normalisation():
    x = correlated_images(500, seed=10)
    transform = fit_simple(x)
    pixels = x.numpy().astype(np.float64) / 255
    assert transform["mean"] == pytest.approx(pixels.mean(), rel=1e-12)
    assert transform["std"] == pytest.approx(pixels.std(), rel=1e-12)
    z = apply_transform(x, transform)
    assert z.mean().item() == pytest.approx(0, abs=1e-5)
    assert z.std(correction=0).item() == pytest.approx(1, abs=1e-5)


def test_cifar_stage_and_loader(raw, tmp_path, monkeypatch):
    _params_in(tmp_path, monkeypatch, cifar10={"train_size": None})
    out = tmp_path / "processed" / "cifar-10-simple.pt"
    preprocess_cifar.main(["--prep", "simple", "--raw", str(raw / "cifar-10"), "--out", str(out)])
    images, labels = cifar_like(500, seed=0)  # what the fixture wrote, regenerated
    blob = torch.load(out, weights_only=True)
    assert blob["x_train"].dtype == torch.uint8 and blob["x_train"].shape == (500, 3, 32, 32)
    np.testing.assert_array_equal(blob["x_train"].numpy(), images)
    np.testing.assert_array_equal(blob["y_train"].numpy(), labels)
    assert blob["meta"] == {
        "dataset": "cifar-10",
        "verified": False,
        "prep": "simple",
        "train_size": None,
        "n_train": 500,
        "n_test": 100,
    }
    data = load_cifar(out)
    assert data.train.x.shape == (500, 3, 32, 32) and data.test.x.shape == (100, 3, 32, 32)
    assert data.train.x.dtype == torch.float32 and data.train.y.dtype == torch.int64
    assert data.train.x.mean().item() == pytest.approx(0, abs=1e-4)
    assert data.train.x.std(correction=0).item() == pytest.approx(1, abs=1e-4)
    torch.testing.assert_close(data.test.x, apply_transform(blob["x_test"], blob["transform"]))

    model = _train_mlp(data.train.x, data.train.y, epochs=5)  # the fixture is learnable
    assert (model(data.test.x).argmax(1) != data.test.y).float().mean().item() < 0.1


def test_load_cifar_applies_a_stored_zca(tmp_path):
    x_train, x_test = correlated_images(1000, seed=11), correlated_images(100, seed=12)
    blob = prepare_cifar(
        _arrays(x_train, x_test), prep="zca", train_size=None, zca_epsilon=1e-7, gcn=False, dataset="t", verified=True
    )
    save_checked(blob, tmp_path / "zca.pt")
    data = load_cifar(tmp_path / "zca.pt")
    torch.testing.assert_close(covariance(data.train.x), torch.eye(48, dtype=torch.float64), atol=5e-3, rtol=0)
    assert data.test.x.shape == (100, 3, 4, 4) and data.meta["prep"] == "zca"


def test_cifar_stage_errors_are_one_line(raw, tmp_path, monkeypatch):
    _params_in(tmp_path, monkeypatch, cifar10={"train_size": 501})
    with pytest.raises(SystemExit, match=r"^preprocess_cifar: train_size = 501 is not in 1\.\.500"):
        preprocess_cifar.main(["--prep", "zca", "--raw", str(raw / "cifar-10"), "--out", str(tmp_path / "x.pt")])
    assert not (tmp_path / "x.pt").exists()
