"""Where the datasets come from and how to recognise the official files.

Archive md5s and base URLs are torchvision 0.29.1's (`torchvision.datasets.MNIST.resources`,
`FashionMNIST`, `CIFAR10.tgz_md5`); a test checks this table against the installed torchvision.

An archive md5 only recognises the official bytes. A mirror may recompress a file (Debian's
`dataset-fashion-mnist` package does), which changes the archive but not its content, so each
file also carries the md5 of its decompressed content:
- Fashion-MNIST: computed from Debian's files; they agree with the md5s of the uncompressed
  official files published in several independent projects.
- MNIST: the widely published md5s of the four uncompressed IDX files, the same in many
  independent download scripts that also list torchvision's archive md5s; the image files'
  sizes (60000 * 784 + 16 and 10000 * 784 + 16 bytes) agree with them.
- CIFAR-10: torchvision's md5 of each pickled batch inside the tar (`CIFAR10.train_list`,
  `test_list`, `meta`), so the content check survives recompression and re-tarring.
"""

from __future__ import annotations

from dataclasses import dataclass

# MNIST-format file names, by split: (images, labels).
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

CIFAR_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR_MEMBER_DIR = "cifar-10-batches-py"  # the folder inside the tar holding the pickles
CIFAR_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST_BATCH = "test_batch"
CIFAR_META = "batches.meta"


@dataclass(frozen=True)
class SourceFile:
    """One official file, stored under its official name in data/raw/<dataset>/."""

    name: str
    kind: str  # "idx" (gzip'd IDX) | "cifar-tar" (the CIFAR-10 python tar.gz)
    md5: str  # md5 of the official archive bytes
    # md5 of the decompressed content: one hex string for an IDX file; for the CIFAR tar a
    # mapping member name -> md5 (the unit torchvision publishes). Empty = unknown.
    content_md5: str | dict[str, str] = ""


@dataclass(frozen=True)
class DatasetSource:
    name: str  # folder name under data/raw/ and under a mirror
    urls: tuple[str, ...]  # official base URLs, tried in order
    files: tuple[SourceFile, ...]


def _mnist_format(name: str, urls: tuple[str, ...], *md5s: tuple[str, str]) -> DatasetSource:
    """An MNIST-format dataset, given the (archive md5, content md5) of each file in MNIST_FILES order."""
    names = MNIST_FILES["train"] + MNIST_FILES["test"]
    return DatasetSource(name, urls, tuple(SourceFile(n, "idx", *md5) for n, md5 in zip(names, md5s, strict=True)))


# torchvision's CIFAR10.train_list, test_list and meta: the md5 of each member of the tar.
CIFAR_MEMBER_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
    "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
}

SOURCES: dict[str, DatasetSource] = {
    "mnist": _mnist_format(
        "mnist",
        ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
        ("f68b3c2dcbeaaa9fbdd348bbdeb94873", "6bbc9ace898e44ae57da46a324031adb"),  # train-images
        ("d53e105ee54ea40749a09fcbcd1e9432", "a25bea736e30d166cdddb491f175f624"),  # train-labels
        ("9fb629c4189551a2d022fa330f9573f3", "2646ac647ad5339dbf082846283269ea"),  # t10k-images
        ("ec29112dd5afa0611ce80d1b7f02629c", "27ae3e4e09519cfbb04c329615203637"),  # t10k-labels
    ),
    "fashion-mnist": _mnist_format(
        "fashion-mnist",
        ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "f4a8712d7a061bf5bd6d2ca38dc4d50a"),  # train-images
        ("25c81989df183df01b3e8a0aad5dffbe", "9018921c3c673c538a1fc5bad174d6f9"),  # train-labels
        ("bef4ecab320f06d8554ea6380940ec79", "8181f5470baa50b63fa0f6fddb340f0a"),  # t10k-images
        ("bb300cfdad3c16e7a12a480ee83cd310", "15d484375f8d13e6eb1aabb0c3f46965"),  # t10k-labels
    ),
    "cifar-10": DatasetSource(
        "cifar-10",
        ("https://www.cs.toronto.edu/~kriz/",),
        (SourceFile(CIFAR_ARCHIVE, "cifar-tar", "c58f30108f718f92721af3b95e74349a", CIFAR_MEMBER_MD5),),
    ),
}
