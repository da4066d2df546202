"""Real data: Fashion-MNIST from Debian's dataset-fashion-mnist package, used as a mirror.

Debian recompressed the official .gz files, so their archive md5s differ from the official
ones and verification has to go by the md5 of the decompressed content. Skipped when the
package is not installed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from advgrad.core.io import save_checked
from advgrad.data.fetch import Retry
from advgrad.data.sources import SOURCES
from advgrad.mnist.data import load_mnist
from stages import download, preprocess_mnist
from tests.real_data import require

DEBIAN = Path("/usr/share/datasets")
FILES = [f.name for f in SOURCES["fashion-mnist"].files]

pytestmark = pytest.mark.realdata


def test_fashion_mnist_from_debian(tmp_path):
    require(DEBIAN / "fashion-mnist", FILES, "Fashion-MNIST (apt install dataset-fashion-mnist)")
    raw = tmp_path / "raw" / "fashion-mnist"
    manifest = download.run("fashion-mnist", raw, str(DEBIAN), allow_unverified=False, retry=Retry(attempts=1))
    assert manifest["verified"] is True
    for name in FILES:
        record = manifest["files"][name]
        assert record["verified_by"] == "content", name  # recompressed: the archive md5 differs
        assert record["md5"] != SOURCES["fashion-mnist"].files[FILES.index(name)].md5

    out = tmp_path / "processed" / "fashion-mnist.pt"
    save_checked(preprocess_mnist.run(raw, validation_size=10000, train_size=None), out)
    data = load_mnist(out)
    assert data.train.x.shape == (60000, 784) and data.test.x.shape == (10000, 784)
    assert len(data.fit.y) == 50000 and len(data.val.y) == 10000
    assert data.meta["verified"] is True and data.meta["dataset"] == "fashion-mnist"
    for split in (data.train, data.test):
        assert split.x.dtype == torch.float32 and split.y.dtype == torch.int64
        assert split.x.min().item() == 0.0 and split.x.max().item() == 1.0  # pixels 0..255 scaled
        assert split.y.min().item() == 0 and split.y.max().item() == 9
    # Fashion-MNIST is balanced: 6000 images per class in training, 1000 in test.
    assert torch.bincount(data.train.y).tolist() == [6000] * 10
    assert torch.bincount(data.test.y).tolist() == [1000] * 10
