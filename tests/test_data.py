from __future__ import annotations

import pytest
import torch

from ntknas.data import (
    DataError,
    check_source,
    load_dataset,
    normalize,
    probe_batch,
)
from tests.helpers import write_cifar10, write_imagefolder


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("NTKNAS_DATA", raising=False)


def test_cifar10_torchvision_format(tmp_path):
    root = write_cifar10(tmp_path / "c10")
    train = load_dataset("cifar10", split="train", data_dir=root, download=False)
    test = load_dataset("cifar10", split="test", data_dir=root, download=False)
    assert train.images.shape == (100, 3, 32, 32) and train.images.dtype == torch.uint8
    assert len(test) == 40 and train.classes[0] == "airplane"


def test_cifar10_root_from_environment(tmp_path, monkeypatch):
    root = write_cifar10(tmp_path / "env")
    monkeypatch.setenv("NTKNAS_DATA", str(root))
    assert len(load_dataset("cifar10", download=False)) == 100


def test_cifar10_missing_gives_instructions(tmp_path):
    with pytest.raises(DataError, match="CIFAR-10 not found under .*--data-dir.*imagefolder"):
        load_dataset("cifar10", data_dir=tmp_path / "empty", download=False)


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_imagefolder(tmp_path, suffix):
    root = write_imagefolder(tmp_path / "imgs", suffix=suffix)
    train = load_dataset(f"imagefolder:{root}", split="train")
    assert len(train) == 60 and train.classes[-1] == "truck"
    assert torch.bincount(train.labels).tolist() == [6] * 10
    again = load_dataset(f"imagefolder:{root}/train")  # explicit split folder, cached tensor
    assert torch.equal(again.images, train.images)


def test_imagefolder_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_dataset(f"imagefolder:{tmp_path / 'nope'}")
    (tmp_path / "empty" / "cat").mkdir(parents=True)
    with pytest.raises(DataError, match="no images|Couldn't find any|cat"):
        load_dataset(f"imagefolder:{tmp_path / 'empty'}")


def test_unknown_source():
    with pytest.raises(DataError, match="unknown data source 'mnist'; allowed"):
        check_source("mnist")


@pytest.mark.parametrize("source", ["synthetic", "cifar10", "imagefolder"])
def test_probe_batch_is_balanced_and_deterministic(tmp_path, source):
    if source == "cifar10":
        spec, kw = "cifar10", {"data_dir": write_cifar10(tmp_path / "c"), "download": False}
    elif source == "imagefolder":
        spec, kw = f"imagefolder:{write_imagefolder(tmp_path / 'f')}", {}
    else:
        spec, kw = "synthetic", {}
    x, y = probe_batch(spec, 23, seed=3, **kw)
    assert x.shape == (23, 3, 32, 32) and x.dtype == torch.float32
    counts = torch.bincount(y, minlength=10)
    assert counts.max() - counts.min() <= 1
    x2, y2 = probe_batch(spec, 23, seed=3, **kw)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    x3, _ = probe_batch(spec, 23, seed=4, **kw)
    assert not torch.equal(x, x3)
    assert abs(float(x.mean())) < 3  # normalized


def test_probe_batch_too_large_for_a_class(tmp_path):
    root = write_imagefolder(tmp_path / "f", per_class=2)
    with pytest.raises(DataError, match="fewer than"):
        probe_batch(f"imagefolder:{root}", 40)


def test_normalize_uses_cifar_statistics():
    white = torch.full((1, 3, 1, 1), 255, dtype=torch.uint8)
    assert normalize(white)[0, 0, 0, 0] == pytest.approx((1 - 0.4914) / 0.2470, rel=1e-4)
