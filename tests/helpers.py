"""Small on-disk datasets generated for the tests (never downloaded)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _images(n: int, seed: int, classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % classes
    base = rng.integers(0, 255, size=(classes, 1, 1, 3))
    noise = rng.integers(0, 60, size=(n, 32, 32, 3))
    images = np.clip(base[labels] * 0.7 + noise, 0, 255).astype(np.uint8)
    return images, labels


def write_cifar10(root: Path, n_train: int = 100, n_test: int = 40) -> Path:
    """CIFAR-10 in torchvision's format (cifar-10-batches-py/ pickles)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    images, labels = _images(n_train, 0)
    per = n_train // 5
    for b in range(5):
        chunk = slice(b * per, (b + 1) * per)
        data = images[chunk].transpose(0, 3, 1, 2).reshape(-1, 3072)
        with open(folder / f"data_batch_{b + 1}", "wb") as f:
            pickle.dump({"data": data, "labels": labels[chunk].tolist()}, f)
    images, labels = _images(n_test, 1)
    with open(folder / "test_batch", "wb") as f:
        pickle.dump(
            {"data": images.transpose(0, 3, 1, 2).reshape(-1, 3072), "labels": labels.tolist()}, f
        )
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": CLASSES}, f)
    return root


def write_imagefolder(
    root: Path, per_class: int = 6, suffix: str = ".png", classes: list[str] | None = None
) -> Path:
    """Class-per-folder images in train/ and test/ (``classes``: folder names, default
    CIFAR-10's ten)."""
    from PIL import Image

    names = classes or CLASSES
    for split, seed in (("train", 0), ("test", 1)):
        images, labels = _images(per_class * len(names), seed, len(names))
        counters = [0] * len(names)
        for img, label in zip(images, labels):
            folder = root / split / names[label]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(folder / f"{counters[label]:04d}{suffix}")
            counters[label] += 1
    return root
