"""MNIST and CIFAR-10 as normalised tensors, read from a verified local copy.

The data root is, in order: the ``root`` argument, the ``GRADCONF_DATA`` environment variable, or
``$XDG_CACHE_HOME/gradconf/data`` (``~/.cache/gradconf/data``). Layouts are torchvision's:
``MNIST/raw/*-ubyte.gz`` and ``cifar-10-batches-py/``. Every file is checked before use (MD5 for MNIST;
for CIFAR-10 the original MD5s or the SHA-256s of the lossless rebuild documented in the project's
shared data README). Nothing is downloaded unless asked (``download=True`` or
``python -m gradconf download``), and a download is MD5-checked before it is moved into place.
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import importlib
import os
import pickle
import shutil
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

ENV_VAR = "GRADCONF_DATA"
DATASETS: tuple[str, ...] = ("mnist", "cifar10")
SPLITS: tuple[str, ...] = ("train", "test")

MNIST_DIR = "MNIST/raw"
MNIST_FILES: dict[str, tuple[str, ...]] = {
    "train-images-idx3-ubyte.gz": ("md5:f68b3c2dcbeaaa9fbdd348bbdeb94873",),
    "train-labels-idx1-ubyte.gz": ("md5:d53e105ee54ea40749a09fcbcd1e9432",),
    "t10k-images-idx3-ubyte.gz": ("md5:9fb629c4189551a2d022fa330f9573f3",),
    "t10k-labels-idx1-ubyte.gz": ("md5:ec29112dd5afa0611ce80d1b7f02629c",),
}
MNIST_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)

CIFAR_DIR = "cifar-10-batches-py"
CIFAR_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR_ARCHIVE_MD5 = "md5:c58f30108f718f92721af3b95e74349a"
CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
# Each file is accepted as the original (MD5, as published with the archive) or as the verified
# lossless rebuild (SHA-256; same images and labels, different pickle framing and order).
CIFAR_FILES: dict[str, tuple[str, ...]] = {
    "data_batch_1": ("md5:c99cafc152244af753f735de768cd75f", "sha256:07e5a6d9f09a3c4e45a543a0e235f05178273510ec7c0aea967b5f7e07ab5fe5"),
    "data_batch_2": ("md5:d4bba439e000b95fd0a9bffe97cbabec", "sha256:f6f1a07da58b363328f6db7b51d3f22c6ed3d2a90a46d1ae1a0232e5569ceb33"),
    "data_batch_3": ("md5:54ebc095f3ab1f0389bbae665268c751", "sha256:33f4966c9c0fe27ef15c295a460d17a55b6ecfc4f4c8498a3672815b68817d66"),
    "data_batch_4": ("md5:634d18415352ddfa80567beed471001a", "sha256:6fd31228485dedba375f3db79857ec9120421f7cae3e6362d089ab5c75aca59a"),
    "data_batch_5": ("md5:482c414d41f54cd18b22e5b47cb7c3cb", "sha256:8fae2e9e281d7c85bb109bb121821acf6d2e243598fee14a57548549ba12479b"),
    "test_batch": ("md5:40351d587109b95175f43aff81a1287e", "sha256:6d72f02362798aadefb4f6ea2c06d8291a60232d03cc477d0aa700e3d4d9f849"),
    "batches.meta": ("md5:5ff9c542aee3614f3951f8cda6e48888", "sha256:498240c6d8641987404ce4ed1e6ddffdb7202de740e9c30aedfddb40713fd75d"),
}
CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


class DataNotFoundError(FileNotFoundError):
    """A data file is missing; the message names the root, the file and how to get it."""


class DataIntegrityError(ValueError):
    """A data file does not match any accepted checksum (corrupt, truncated or a different file)."""


@dataclass(frozen=True)
class ArrayDataset:
    """A dataset held in memory: inputs ``x`` (float), targets ``y``, and what it is."""

    x: torch.Tensor
    y: torch.Tensor
    name: str
    classes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.x.shape[0] != self.y.shape[0]:
            raise ValueError(f"x has {self.x.shape[0]} examples but y has {self.y.shape[0]}")

    def __len__(self) -> int:
        return self.x.shape[0]

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> "ArrayDataset":
        """The same data on ``device``; ``dtype`` converts the inputs (and floating targets)."""
        y = self.y.to(device, dtype) if dtype is not None and self.y.is_floating_point() else self.y.to(device)
        return ArrayDataset(self.x.to(device, dtype), y, self.name, self.classes)

    def downsample(self, factor: int) -> "ArrayDataset":
        """Images average-pooled by ``factor`` in each spatial dimension (1 = unchanged).

        A CPU-scale deviation (e.g. CIFAR-10 at 16 x 16): a convolutional net keeps its parameter
        count, and its per-example cost falls by ``factor**2``.
        """
        if not isinstance(factor, int) or factor < 1:
            raise ValueError(f"downsample factor must be a positive integer, got {factor!r}")
        if factor == 1:
            return self
        if self.x.dim() != 4 or self.x.shape[2] % factor or self.x.shape[3] % factor:
            raise ValueError(f"cannot pool {self.name} of shape {tuple(self.x.shape)} by {factor}")
        x = torch.nn.functional.avg_pool2d(self.x, factor)
        return ArrayDataset(x, self.y, f"{self.name}@{x.shape[2]}x{x.shape[3]}", self.classes)

    def subset(self, n: int | None, generator: torch.Generator) -> "ArrayDataset":
        """A uniformly random subset of ``n`` examples (all, in original order, when n is None).

        Random rather than the first n, because files such as CIFAR-10's test batch are sorted by class.
        """
        if n is None:
            return self
        idx = subset_indices(len(self), n, generator, self.name).to(self.x.device)
        return ArrayDataset(self.x[idx], self.y[idx], self.name, self.classes)


def subset_indices(total: int, n: int, generator: torch.Generator, name: str = "the dataset") -> torch.Tensor:
    """The sorted indices of :meth:`ArrayDataset.subset` (a loader takes them before converting to float)."""
    if not 0 < n <= total:
        raise ValueError(f"cannot take {n} examples from {name}, which has {total}")
    return torch.randperm(total, generator=generator)[:n].sort().values


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data folder: ``root`` if given, else ``$GRADCONF_DATA``, else the user cache dir."""
    if root is not None:
        return Path(root).expanduser()
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "gradconf" / "data"


def _digests(path: Path) -> dict[str, str]:
    hashers = {"md5": hashlib.md5(), "sha256": hashlib.sha256()}
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            for h in hashers.values():
                h.update(chunk)
    return {k: h.hexdigest() for k, h in hashers.items()}


@functools.lru_cache(maxsize=64)
def _digests_cached(path: str, size: int, mtime_ns: int) -> dict[str, str]:
    return _digests(Path(path))


def verify_file(path: Path, accepted: tuple[str, ...], root: Path, dataset: str) -> None:
    """Raise DataNotFoundError / DataIntegrityError unless ``path`` matches one ``algo:hex`` in ``accepted``."""
    fix = (
        f"Point {ENV_VAR} (or root=) at a folder holding the verified files, or fetch them with "
        f"`python -m gradconf download {dataset} --root {root}` (needs internet)."
    )
    if not path.is_file():
        raise DataNotFoundError(f"{dataset}: missing file {path} (data root {root}). {fix}")
    st = path.stat()
    got = _digests_cached(str(path.resolve()), st.st_size, st.st_mtime_ns)
    if not any(got[algo] == hexdigest for algo, hexdigest in (a.split(":", 1) for a in accepted)):
        raise DataIntegrityError(
            f"{dataset}: {path} is corrupt or not the expected file (data root {root}): its md5 is "
            f"{got['md5']}, expected one of {', '.join(accepted)}. Delete it and restore a verified copy. {fix}"
        )


# ----------------------------------------------------------------------------------------------
# MNIST
# ----------------------------------------------------------------------------------------------

def read_idx(path: Path) -> np.ndarray:
    """Parse an IDX file (optionally gzipped): magic 0x0000 + dtype byte + ndim byte, big-endian dims."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataIntegrityError(f"{path} is not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise DataIntegrityError(f"{path}: header says {dims} but holds {data.size} values")
    return data.reshape(dims)


@functools.lru_cache(maxsize=4)
def _mnist_arrays(root: Path, split: str, checks: tuple) -> tuple[np.ndarray, np.ndarray]:
    prefix = "train" if split == "train" else "t10k"
    checksums = dict(checks)
    paths = []
    for kind in ("images-idx3", "labels-idx1"):
        name = f"{prefix}-{kind}-ubyte.gz"
        path = root / MNIST_DIR / name
        verify_file(path, checksums[name], root, "mnist")
        paths.append(path)
    images, labels = read_idx(paths[0]), read_idx(paths[1])
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise DataIntegrityError(f"mnist: inconsistent shapes {images.shape} and {labels.shape} under {root}")
    return images, labels


def load_mnist(
    split: str = "train", root: str | os.PathLike | None = None, *, normalize: bool = True,
    download: bool = False, checksums: dict[str, tuple[str, ...]] | None = None,
    n: int | None = None, generator: torch.Generator | None = None,
) -> ArrayDataset:
    """MNIST as ``x`` float32 (n, 1, 28, 28) scaled to [0, 1] (then standardised) and ``y`` int64.

    ``n`` with ``generator``: the same examples as ``.subset(n, generator)``, taken before the conversion to
    float (a run on a subset does not pay for converting the whole split)."""
    _check_split(split)
    base = data_root(root)
    if download:
        download_dataset("mnist", base)
    images, labels = _mnist_arrays(base, split, tuple(sorted((checksums or MNIST_FILES).items())))
    images, labels = _take(images, labels, n, generator, f"MNIST-{split}")
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    if normalize:
        x = (x - MNIST_MEAN[0]) / MNIST_STD[0]
    return ArrayDataset(x, torch.from_numpy(labels.astype(np.int64)), f"MNIST-{split}", tuple(str(i) for i in range(10)))


# ----------------------------------------------------------------------------------------------
# CIFAR-10
# ----------------------------------------------------------------------------------------------

class _CifarUnpickler(pickle.Unpickler):
    """The CIFAR-10 batches were pickled under numpy 1.x and name ``numpy.core.multiarray``; numpy 2 moved
    that module to ``numpy._core`` and keeps the old name only as a deprecated alias, which a later numpy
    may drop. Read such names from their new home where it exists, so loading needs no alias."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "numpy.core" or module.startswith("numpy.core."):
            moved = "numpy._core" + module[len("numpy.core"):]
            try:
                importlib.import_module(moved)
                module = moved
            except ImportError:  # numpy 1.x: the old name is the real one
                pass
        return super().find_class(module, name)


@functools.lru_cache(maxsize=4)
def _cifar_arrays(root: Path, split: str, checks: tuple) -> tuple[np.ndarray, np.ndarray]:
    checksums = dict(checks)
    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    data, labels = [], []
    for name in names:
        path = root / CIFAR_DIR / name
        verify_file(path, checksums[name], root, "cifar10")
        with open(path, "rb") as f:
            batch = _CifarUnpickler(f, encoding="bytes").load()
        data.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        labels.append(np.asarray(batch[b"labels"], dtype=np.int64))
    return np.concatenate(data), np.concatenate(labels)


def load_cifar10(
    split: str = "train", root: str | os.PathLike | None = None, *, normalize: bool = True,
    download: bool = False, checksums: dict[str, tuple[str, ...]] | None = None,
    n: int | None = None, generator: torch.Generator | None = None,
) -> ArrayDataset:
    """CIFAR-10 as ``x`` float32 (n, 3, 32, 32), per-channel standardised, and ``y`` int64 (``n``,
    ``generator``: a subset taken before the conversion, as in :func:`load_mnist`)."""
    _check_split(split)
    base = data_root(root)
    if download:
        download_dataset("cifar10", base)
    images, labels = _cifar_arrays(base, split, tuple(sorted((checksums or CIFAR_FILES).items())))
    images, labels = _take(images, labels, n, generator, f"CIFAR10-{split}")
    x = torch.from_numpy(images).to(torch.float32) / 255.0
    if normalize:
        x = (x - torch.tensor(CIFAR_MEAN).reshape(1, 3, 1, 1)) / torch.tensor(CIFAR_STD).reshape(1, 3, 1, 1)
    return ArrayDataset(x, torch.from_numpy(labels), f"CIFAR10-{split}", CIFAR_CLASSES)


def _take(images: np.ndarray, labels: np.ndarray, n: int | None, generator: torch.Generator | None,
          name: str) -> tuple[np.ndarray, np.ndarray]:
    if n is None:
        return images, labels
    if generator is None:
        raise ValueError("a subset needs a seeded generator (the same one .subset would use)")
    idx = subset_indices(len(labels), n, generator, name).numpy()
    return images[idx], labels[idx]


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; allowed: {', '.join(SPLITS)}")


def load_dataset(name: str, split: str = "train", root: str | os.PathLike | None = None, **kwargs) -> ArrayDataset:
    """Load ``mnist`` or ``cifar10`` by name (see :func:`load_mnist`, :func:`load_cifar10`)."""
    if name == "mnist":
        return load_mnist(split, root, **kwargs)
    if name == "cifar10":
        return load_cifar10(split, root, **kwargs)
    raise ValueError(f"unknown dataset {name!r}; allowed: {', '.join(DATASETS)}")


def available(name: str, root: str | os.PathLike | None = None) -> bool:
    """True when every file of ``name`` is present and verified under the data root; False when none
    of its files is there. A dataset that is there but corrupt or incomplete raises
    :class:`DataIntegrityError` (or :class:`DataNotFoundError` naming the missing file): corrupt data
    is an error to fix, never a reason to fall back silently to another dataset."""
    base = data_root(root)
    files = (
        [(base / MNIST_DIR / n, c) for n, c in MNIST_FILES.items()] if name == "mnist"
        else [(base / CIFAR_DIR / n, c) for n, c in CIFAR_FILES.items()]
    )
    if not any(path.exists() for path, _ in files):
        return False
    for path, accepted in files:
        verify_file(path, accepted, base, name)
    return True


# ----------------------------------------------------------------------------------------------
# Download (opt-in; never used by the tests against the network)
# ----------------------------------------------------------------------------------------------

def _fetch(url: str, dest: Path, accepted: tuple[str, ...], dataset: str) -> None:
    """Download ``url`` to ``dest`` through a temporary file, verified before it is moved into place."""
    from tqdm import tqdm

    dest.parent.mkdir(parents=True, exist_ok=True)
    for orphan in dest.parent.glob(f".{dest.name}.*.part"):  # left by a killed download
        orphan.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, leave=False) as bar:
                for chunk in iter(lambda: response.read(1 << 20), b""):
                    out.write(chunk)
                    bar.update(len(chunk))
        got = _digests(Path(tmp))
        if not any(got[algo] == hexdigest for algo, hexdigest in (a.split(":", 1) for a in accepted)):
            raise DataIntegrityError(f"{dataset}: the file served at {url} is not the expected {dest.name} (md5 "
                                     f"{got['md5']}, expected one of {', '.join(accepted)}); it was discarded")
        os.chmod(tmp, 0o644)  # mkstemp creates 0600
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def download_dataset(name: str, root: str | os.PathLike | None = None, *, mirrors: tuple[str, ...] | None = None) -> Path:
    """Download ``mnist`` or ``cifar10`` into the data root, skipping files that already verify.

    Each file is checked against its published MD5 before it is kept. ``mirrors`` overrides the base
    URLs (MNIST: folders holding the four ``.gz`` files; CIFAR-10: full archive URLs).
    """
    base = data_root(root)
    if name == "mnist":
        for fname, accepted in MNIST_FILES.items():
            dest = base / MNIST_DIR / fname
            if dest.is_file():
                verify_file(dest, accepted, base, name)
                continue
            errors = []
            for mirror in mirrors or MNIST_MIRRORS:
                try:
                    _fetch(mirror + fname, dest, accepted, name)
                    break
                except (OSError, DataIntegrityError) as err:
                    errors.append(f"{mirror}: {err}")
            else:
                raise DataNotFoundError(f"mnist: could not download {fname}: " + "; ".join(errors))
        return base
    if name == "cifar10":
        if available("cifar10", base):
            return base
        archive = base / CIFAR_ARCHIVE
        if not archive.is_file():
            errors = []
            for url in mirrors or (CIFAR_URL,):
                try:
                    _fetch(url, archive, (CIFAR_ARCHIVE_MD5,), name)
                    break
                except (OSError, DataIntegrityError) as err:
                    errors.append(f"{url}: {err}")
            else:
                raise DataNotFoundError("cifar10: could not download the archive: " + "; ".join(errors))
        verify_file(archive, (CIFAR_ARCHIVE_MD5,), base, name)
        extract_cifar_archive(archive, base)
        return base
    raise ValueError(f"unknown dataset {name!r}; allowed: {', '.join(DATASETS)}")


def extract_cifar_archive(archive: Path, root: Path) -> None:
    """Extract only the regular files of ``cifar-10-batches-py/`` (no links, no paths outside it)."""
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():
            parts = Path(member.name).parts
            if not member.isfile() or len(parts) != 2 or parts[0] != CIFAR_DIR or parts[1] in ("..", "."):
                continue
            dest = root / CIFAR_DIR / parts[1]
            dest.parent.mkdir(parents=True, exist_ok=True)
            with tar.extractfile(member) as src, open(dest, "wb") as out:
                shutil.copyfileobj(src, out)
