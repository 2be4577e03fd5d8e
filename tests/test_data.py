"""Loaders on tiny files written in the real formats, the integrity errors, and the opt-in download."""
import gzip
import hashlib
import pickle
import struct
import tarfile

import numpy as np
import pytest
import torch

from gradconf import data
from gradconf.data import DataIntegrityError, DataNotFoundError


def _md5(path):
    return "md5:" + hashlib.md5(path.read_bytes()).hexdigest()


def write_idx(path, array):
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + b"".join(struct.pack(">I", s) for s in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def tiny_mnist(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    arrays = {}
    for prefix, n in (("train", 7), ("t10k", 3)):
        images = rng.integers(0, 256, (n, 28, 28))
        labels = rng.integers(0, 10, n)
        write_idx(raw / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte.gz", labels)
        arrays[prefix] = (images, labels)
    checksums = {p.name: (_md5(p),) for p in raw.iterdir()}
    return tmp_path, checksums, arrays


def test_mnist_loader_reads_idx_and_normalises(tiny_mnist):
    root, checksums, arrays = tiny_mnist
    ds = data.load_mnist("train", root, checksums=checksums)
    images, labels = arrays["train"]
    assert ds.x.shape == (7, 1, 28, 28) and ds.x.dtype == torch.float32
    assert torch.equal(ds.y, torch.from_numpy(labels.astype(np.int64)))
    expected = (torch.from_numpy(images.astype(np.float32)) / 255 - 0.1307) / 0.3081
    assert torch.allclose(ds.x[:, 0], expected)
    raw = data.load_mnist("test", root, checksums=checksums, normalize=False)
    assert raw.x.shape == (3, 1, 28, 28) and raw.x.max() <= 1 and raw.x.min() >= 0


def test_unknown_checksum_is_refused(tiny_mnist):
    root, _, _ = tiny_mnist
    with pytest.raises(DataIntegrityError) as err:
        data.load_mnist("train", root)  # the real MD5s cannot match our tiny files
    msg = str(err.value)
    assert "train-images-idx3-ubyte.gz" in msg and str(root) in msg and "GRADCONF_DATA" in msg


def test_corrupt_file_names_file_root_and_fix(tiny_mnist):
    root, checksums, _ = tiny_mnist
    victim = root / "MNIST" / "raw" / "train-labels-idx1-ubyte.gz"
    victim.write_bytes(victim.read_bytes()[:-3])
    with pytest.raises(DataIntegrityError) as err:
        data.load_mnist("train", root, checksums=checksums)
    msg = str(err.value)
    assert str(victim) in msg and "corrupt" in msg and "python -m gradconf download mnist" in msg


def test_missing_data_names_file_root_and_fix(tmp_path, monkeypatch):
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path))
    with pytest.raises(DataNotFoundError) as err:
        data.load_cifar10("train")
    msg = str(err.value)
    assert "data_batch_1" in msg and str(tmp_path) in msg and "GRADCONF_DATA" in msg and "download cifar10" in msg


def test_bad_split_and_dataset():
    with pytest.raises(ValueError, match="allowed: train, test"):
        data.load_mnist("valid")
    with pytest.raises(ValueError, match="allowed: mnist, cifar10"):
        data.load_dataset("svhn")


def write_cifar_batch(path, images, labels):
    with open(path, "wb") as f:
        pickle.dump({b"batch_label": b"x", b"labels": list(map(int, labels)),
                     b"data": images.reshape(len(labels), -1), b"filenames": [b"f"] * len(labels)}, f, protocol=2)


@pytest.fixture
def tiny_cifar(tmp_path):
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    rng = np.random.default_rng(1)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        images = rng.integers(0, 256, (4, 3, 32, 32), dtype=np.uint8)
        labels = rng.integers(0, 10, 4)
        write_cifar_batch(d / name, images, labels)
        batches[name] = (images, labels)
    with open(d / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [c.encode() for c in data.CIFAR_CLASSES]}, f, protocol=2)
    checksums = {p.name: (_md5(p),) for p in d.iterdir()}
    return tmp_path, checksums, batches


def test_cifar_loader_reads_python_batches(tiny_cifar):
    root, checksums, batches = tiny_cifar
    ds = data.load_cifar10("train", root, checksums=checksums, normalize=False)
    assert ds.x.shape == (20, 3, 32, 32)
    assert torch.equal(ds.x[:4] * 255, torch.from_numpy(batches["data_batch_1"][0]).float())
    test = data.load_cifar10("test", root, checksums=checksums)
    mean = torch.tensor(data.CIFAR_MEAN).reshape(1, 3, 1, 1)
    std = torch.tensor(data.CIFAR_STD).reshape(1, 3, 1, 1)
    assert torch.allclose(test.x, (torch.from_numpy(batches["test_batch"][0]).float() / 255 - mean) / std)


def test_subset_is_random_deterministic_and_checked(tiny_cifar):
    root, checksums, _ = tiny_cifar
    ds = data.load_cifar10("train", root, checksums=checksums)
    a = ds.subset(5, torch.Generator().manual_seed(3))
    b = ds.subset(5, torch.Generator().manual_seed(3))
    assert torch.equal(a.x, b.x) and len(a) == 5
    with pytest.raises(ValueError, match="cannot take 21"):
        ds.subset(21, torch.Generator())


def test_mnist_download_from_mirror_verifies_md5(tiny_mnist, tmp_path_factory, monkeypatch):
    """The download path, exercised offline against a file:// mirror."""
    mirror_root, checksums, _ = tiny_mnist
    monkeypatch.setattr(data, "MNIST_FILES", checksums)
    dest = tmp_path_factory.mktemp("dest")
    mirror = (mirror_root / "MNIST" / "raw").as_uri() + "/"
    data.download_dataset("mnist", dest, mirrors=(mirror,))
    assert data.load_mnist("train", dest, checksums=checksums).x.shape[0] == 7
    # A mirror serving a corrupt copy is rejected and leaves nothing behind.
    bad = {k: ("md5:" + "0" * 32,) for k in checksums}
    monkeypatch.setattr(data, "MNIST_FILES", bad)
    dest2 = tmp_path_factory.mktemp("dest2")
    with pytest.raises(DataNotFoundError, match="could not download"):
        data.download_dataset("mnist", dest2, mirrors=(mirror,))
    assert not any((dest2 / "MNIST" / "raw").glob("*"))


def test_cifar_archive_extraction_keeps_only_batch_files(tiny_cifar, tmp_path_factory):
    src_root, checksums, _ = tiny_cifar
    archive = tmp_path_factory.mktemp("arc") / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src_root / "cifar-10-batches-py", arcname="cifar-10-batches-py")
        evil = src_root / "evil.txt"
        evil.write_text("x")
        tar.add(evil, arcname="../evil.txt")
    dest = tmp_path_factory.mktemp("out")
    data.extract_cifar_archive(archive, dest)
    assert not (dest.parent / "evil.txt").exists()
    assert data.load_cifar10("test", dest, checksums=checksums).x.shape == (4, 3, 32, 32)


def test_real_mnist_matches_published_facts(real_data_root):
    ds = data.load_mnist("train", real_data_root, normalize=False)
    assert ds.x.shape == (60000, 1, 28, 28)
    assert ds.y[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert abs(ds.x.mean().item() - 0.1307) < 5e-5


def test_real_cifar_verifies_and_has_balanced_classes(real_data_root):
    if not (real_data_root / "cifar-10-batches-py").is_dir():
        pytest.skip("no CIFAR-10 in the data root")
    assert data.available("cifar10", real_data_root)
    test = data.load_cifar10("test", real_data_root)
    assert test.x.shape == (10000, 3, 32, 32)
    assert torch.bincount(test.y).tolist() == [1000] * 10


def test_corrupt_cifar_is_an_error_not_a_fallback_to_mnist(tmp_path, real_data_root):
    """Only an absent dataset may fall back; a flipped byte or an empty batch is an error naming the file."""
    from gradconf.studies import image_dataset

    (tmp_path / "MNIST").symlink_to(real_data_root / "MNIST")
    cifar = tmp_path / "cifar-10-batches-py"
    cifar.mkdir()
    for p in (real_data_root / "cifar-10-batches-py").iterdir():
        (cifar / p.name).symlink_to(p)
    assert image_dataset(tmp_path) == "cifar10"
    (cifar / "data_batch_3").unlink()
    (cifar / "data_batch_3").write_bytes(b"")  # an empty batch
    with pytest.raises(DataIntegrityError, match="data_batch_3"):
        image_dataset(tmp_path)
    flipped = bytearray((real_data_root / "cifar-10-batches-py" / "data_batch_3").read_bytes())
    flipped[1000] ^= 1
    (cifar / "data_batch_3").write_bytes(bytes(flipped))
    with pytest.raises(DataIntegrityError, match="corrupt"):
        data.available("cifar10", tmp_path)
    for p in list(cifar.iterdir()):
        p.unlink()
    cifar.rmdir()
    assert image_dataset(tmp_path) == "mnist"  # absent: the stated fallback


def test_download_clears_orphan_parts_and_names_the_bad_mirror(tiny_mnist, tmp_path_factory, monkeypatch):
    mirror_root, checksums, _ = tiny_mnist
    dest = tmp_path_factory.mktemp("dest")
    raw = dest / "MNIST" / "raw"
    raw.mkdir(parents=True)
    orphan = raw / ".train-images-idx3-ubyte.gz.abc123.part"  # a killed download's leftover
    orphan.write_bytes(b"partial")
    monkeypatch.setattr(data, "MNIST_FILES", checksums)
    mirror = (mirror_root / "MNIST" / "raw").as_uri() + "/"
    data.download_dataset("mnist", dest, mirrors=(mirror,))
    assert not orphan.exists() and not list(raw.glob("*.part"))
    assert all(oct(p.stat().st_mode)[-3:] == "644" for p in raw.glob("*.gz"))
    monkeypatch.setattr(data, "MNIST_FILES", {k: ("md5:" + "0" * 32,) for k in checksums})
    dest2 = tmp_path_factory.mktemp("dest2")
    with pytest.raises(DataNotFoundError) as err:
        data.download_dataset("mnist", dest2, mirrors=(mirror,))
    assert "it was discarded" in str(err.value) and mirror in str(err.value) and ".part" not in str(err.value)


@pytest.mark.parametrize("name", ["mnist", "cifar10"])
def test_subset_before_conversion_gives_the_same_examples(name, real_data_root):
    from gradconf.data import available, load_dataset

    if not available(name, real_data_root):
        pytest.skip(f"{name} is not in GRADCONF_DATA")
    late = load_dataset(name, "test", real_data_root).subset(300, torch.Generator().manual_seed(5))
    early = load_dataset(name, "test", real_data_root, n=300, generator=torch.Generator().manual_seed(5))
    assert torch.equal(late.x, early.x) and torch.equal(late.y, early.y)
    with pytest.raises(ValueError, match="seeded generator"):
        load_dataset(name, "test", real_data_root, n=300)


def test_cifar_batches_pickled_under_numpy_1_load_without_the_numpy_core_alias(tiny_cifar, monkeypatch):
    """The real batches name numpy.core.multiarray (numpy 1.x); numpy 2 keeps that name only as a deprecated
    alias. With the alias gone (as a later numpy may do), the loader still reads them."""
    import sys

    root, checksums, batches = tiny_cifar
    d = root / "cifar-10-batches-py"
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:  # written as numpy 1.x writes them
        raw = (d / name).read_bytes()
        assert b"numpy._core.multiarray" in raw
        (d / name).write_bytes(raw.replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    checksums = {p.name: (_md5(p),) for p in d.iterdir()}
    for alias in [m for m in sys.modules if m == "numpy.core" or m.startswith("numpy.core.")]:
        monkeypatch.delitem(sys.modules, alias)
    monkeypatch.setitem(sys.modules, "numpy.core", None)  # import numpy.core now raises ImportError
    monkeypatch.setitem(sys.modules, "numpy.core.multiarray", None)
    with pytest.raises(ImportError):
        pickle.loads((d / "test_batch").read_bytes(), encoding="bytes")  # the plain loader needs the alias
    data._cifar_arrays.cache_clear()
    ds = data.load_cifar10("train", root, checksums=checksums, normalize=False)
    assert torch.equal(ds.x[:4] * 255, torch.from_numpy(batches["data_batch_1"][0]).float())
