"""Datasets and probe batches: CIFAR-10 (torchvision format), class-per-folder images, synthetic.

A data *source* is a string:

* ``"cifar10"``: torchvision's CIFAR-10 files (``cifar-10-batches-py/``) under the data root:
  ``--data-dir``, else ``$NTKNAS_DATA``, else ``~/.cache/ntknas/data``; downloaded when missing
  and the network allows;
* ``"imagefolder:PATH"``: class-per-folder images (``PATH/<class>/*.jpg``). When PATH holds
  ``train/`` and ``test/`` folders, the split picks one; classes are sorted by name (CIFAR-10's
  names sort into its label order);
* ``"synthetic"``: seeded generated images with a learnable class signal (no files).

Everything loads into an :class:`ImageData` of uint8 images; :func:`probe_batch` draws the
deterministic, class-balanced, normalized batch the NTK is computed on.
"""

from __future__ import annotations

import hashlib
import os
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
SPLITS = ("train", "test")
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".webp", ".tif", ".tiff")


class DataError(ValueError):
    """A data source that cannot be read: the message says what is missing and how to fix it."""


@dataclass
class ImageData:
    """Images as uint8 (N, 3, H, W), integer labels, class names, and where they came from."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    source: str

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def subset(self, indices: list[int] | torch.Tensor) -> ImageData:
        idx = torch.as_tensor(indices, dtype=torch.long)
        return ImageData(self.images[idx], self.labels[idx], self.classes, self.source)


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 3, H, W) → float32 normalized with the CIFAR-10 channel mean and std.

    Example:
        >>> normalize(torch.zeros(1, 3, 2, 2, dtype=torch.uint8)).shape
        torch.Size([1, 3, 2, 2])
    """
    x = images.float().div_(255.0)
    mean = torch.tensor(CIFAR10_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR10_STD, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


def data_root(data_dir: str | os.PathLike | None = None) -> Path:
    """Where torchvision-format datasets live: ``data_dir``, ``$NTKNAS_DATA``, or the cache."""
    if data_dir:
        return Path(data_dir).expanduser()
    if os.environ.get("NTKNAS_DATA"):
        return Path(os.environ["NTKNAS_DATA"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ntknas" / "data"


def check_source(source: str) -> str:
    """Validate a data source string (not the files behind it); returns it unchanged."""
    if not isinstance(source, str):
        raise DataError(f"data source must be a string, got {type(source).__name__}")
    if source in ("cifar10", "synthetic") or (
        source.startswith("imagefolder:") and len(source) > len("imagefolder:")
    ):
        return source
    raise DataError(
        f"unknown data source {source!r}; allowed: cifar10, synthetic, imagefolder:PATH"
    )


def synthetic(
    n: int = 512, *, num_classes: int = 10, size: int = 32, seed: int = 0, split: str = "train"
) -> ImageData:
    """Generated images: each class is a fixed smooth colour pattern plus per-image noise and a
    random shift, so short training learns something. Deterministic for ``seed`` and split."""
    g = torch.Generator().manual_seed(seed * 2 + (split == "test"))
    base_g = torch.Generator().manual_seed(12345 + seed)
    coarse = torch.rand(num_classes, 3, 4, 4, generator=base_g)
    patterns = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear")
    labels = torch.arange(n) % num_classes
    labels = labels[torch.randperm(n, generator=g)]
    noise = torch.rand(n, 3, size, size, generator=g) * 0.35
    images = patterns[labels] * 0.8 + noise
    shifts = torch.randint(-3, 4, (n, 2), generator=g)
    for i in range(n):
        images[i] = torch.roll(
            images[i], shifts=(int(shifts[i, 0]), int(shifts[i, 1])), dims=(1, 2)
        )
    data = (images.clamp(0, 1) * 255).round().to(torch.uint8)
    classes = [f"class_{c}" for c in range(num_classes)]
    return ImageData(data, labels, classes, f"synthetic (seed {seed}, {n} images)")


def _cifar10_dataset(root: Path, train: bool, download: bool):
    import torchvision

    class _CIFAR10Files(torchvision.datasets.CIFAR10):
        # torchvision checks the official MD5 sums; files in the same format written elsewhere
        # (a mirror, or the test suite) are accepted when present. Downloads stay verified.
        def _check_integrity(self) -> bool:
            base = Path(self.root) / self.base_folder
            names = [name for name, _ in self.train_list + self.test_list]
            return all((base / name).is_file() for name in names + [self.meta["filename"]])

        def _load_meta(self) -> None:
            import pickle

            with open(Path(self.root) / self.base_folder / self.meta["filename"], "rb") as f:
                data = pickle.load(f, encoding="latin1")
            self.classes = list(data[self.meta["key"]])
            self.class_to_idx = {c: i for i, c in enumerate(self.classes)}

    try:
        return _CIFAR10Files(str(root), train=train, download=False)
    except RuntimeError:
        pass
    if download:
        try:
            return torchvision.datasets.CIFAR10(str(root), train=train, download=True)
        except Exception as error:  # noqa: BLE001 - any network failure means "not available"
            reason = f" (download failed: {str(error).splitlines()[0][:120]})"
    else:
        reason = ""
    raise DataError(
        f"CIFAR-10 not found under {root}/cifar-10-batches-py{reason}; provide it with "
        "--data-dir DIR or NTKNAS_DATA=DIR (torchvision format), or use "
        "--data imagefolder:PATH for class-per-folder images"
    )


def cifar10(
    *, split: str = "train", data_dir: str | os.PathLike | None = None, download: bool = True
) -> ImageData:
    """CIFAR-10 in torchvision's format (downloads when missing and online)."""
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; allowed: {', '.join(SPLITS)}")
    root = data_root(data_dir)
    ds = _cifar10_dataset(root, split == "train", download)
    images = torch.from_numpy(np.asarray(ds.data)).permute(0, 3, 1, 2).contiguous()
    labels = torch.as_tensor(ds.targets, dtype=torch.long)
    return ImageData(images, labels, list(ds.classes), f"cifar10 {split} ({root})")


def _folder_for_split(path: Path, split: str) -> Path:
    if not path.is_dir():
        raise DataError(f"image folder {path} does not exist or is not a directory")
    if (path / "train").is_dir() and (path / "test").is_dir():
        return path / split
    return path


def list_images(folder: Path) -> tuple[list[tuple[str, int]], list[str]]:
    """(path, class index) of every image of a class-per-folder tree, and the class names
    (torchvision's ``ImageFolder`` order); a clear :class:`DataError` for an unusable tree."""
    from torchvision.datasets.folder import find_classes, make_dataset

    try:
        classes, class_to_idx = find_classes(str(folder))
    except (FileNotFoundError, OSError) as error:
        raise DataError(f"image folder {folder}: {error}") from None
    try:
        samples = make_dataset(str(folder), class_to_idx, extensions=_IMAGE_SUFFIXES)
    except (FileNotFoundError, OSError) as error:
        raise DataError(f"image folder {folder}: {str(error).splitlines()[0]}") from None
    if not samples:
        raise DataError(f"image folder {folder} holds no images ({', '.join(_IMAGE_SUFFIXES)})")
    return samples, classes


def _decode(paths: list[str], size: int | None) -> torch.Tensor:
    from PIL import Image

    arrays = []
    for p in paths:
        try:
            with Image.open(p) as im:
                im = im.convert("RGB")
                if size is not None and im.size != (size, size):
                    im = im.resize((size, size), Image.BILINEAR)
                arrays.append(np.asarray(im, dtype=np.uint8))
        except OSError as error:
            raise DataError(f"cannot read image {p}: {error}") from None
    if len({a.shape for a in arrays}) > 1:
        raise DataError("images have different sizes; give image_size to resize them")
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ntknas" / "decoded"


def imagefolder(
    path: str | os.PathLike, *, split: str = "train", size: int | None = 32
) -> ImageData:
    """All images of a class-per-folder tree, decoded once and cached as a tensor file."""
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; allowed: {', '.join(SPLITS)}")
    folder = _folder_for_split(Path(path).expanduser(), split)
    samples, classes = list_images(folder)
    stamp = hashlib.sha256(
        f"{folder.resolve()}|{len(samples)}|{samples[-1][0]}|{os.path.getmtime(samples[-1][0])}|{size}".encode()
    ).hexdigest()[:16]
    cache = _cache_dir() / f"{stamp}.pt"
    if cache.is_file():
        try:
            blob = torch.load(cache, weights_only=True)
            return ImageData(blob["images"], blob["labels"], classes, f"imagefolder {folder}")
        except Exception:  # noqa: BLE001 - a broken cache is rebuilt
            pass
    images = _decode([p for p, _ in samples], size)
    labels = torch.tensor([c for _, c in samples], dtype=torch.long)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        torch.save({"images": images, "labels": labels}, tmp)
        os.replace(tmp, cache)
    except OSError:
        pass
    return ImageData(images, labels, classes, f"imagefolder {folder}")


def load_dataset(
    source: str,
    *,
    split: str = "train",
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    synthetic_size: int = 512,
    seed: int = 0,
) -> ImageData:
    """Load a whole split of a data source (see the module docstring).

    Example:
        >>> data = load_dataset("synthetic", synthetic_size=20)
        >>> data.images.shape, data.num_classes
        (torch.Size([20, 3, 32, 32]), 10)
    """
    check_source(source)
    if source == "synthetic":
        return synthetic(synthetic_size, seed=seed, split=split)
    if source == "cifar10":
        return cifar10(split=split, data_dir=data_dir, download=download)
    return imagefolder(source.split(":", 1)[1], split=split)


def balanced_indices(labels: list[int], batch_size: int, seed: int) -> list[int]:
    """``batch_size`` indices into ``labels``, as class-balanced as possible, deterministic for
    ``seed`` (the probe batch's selection).

    Example:
        >>> sorted(balanced_indices([0, 0, 1, 1, 2, 2], 3, seed=0)) != []
        True
    """
    rng = random.Random(seed)
    by_class: dict[int, list[int]] = {}
    for i, c in enumerate(labels):
        by_class.setdefault(c, []).append(i)
    classes = sorted(by_class)
    order = classes[:]
    rng.shuffle(order)
    quota = {c: batch_size // len(classes) for c in classes}
    for c in order[: batch_size % len(classes)]:
        quota[c] += 1
    chosen: list[int] = []
    for c in classes:
        members = by_class[c]
        if quota[c] > len(members):
            raise DataError(
                f"class {c} has {len(members)} images, fewer than the {quota[c]} a balanced "
                f"batch of {batch_size} needs"
            )
        chosen.extend(rng.sample(members, quota[c]))
    rng.shuffle(chosen)
    return chosen


def probe_batch(
    source: str,
    batch_size: int = 64,
    *,
    seed: int = 0,
    split: str = "train",
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The deterministic, class-balanced, normalized batch that kernels are computed on.

    Each class contributes ``batch_size // classes`` images (the remainder goes to classes chosen
    by the seed); the same seed gives the same images in every process. For an image folder only
    the chosen files are decoded.

    Returns:
        ``(x, y)``: float32 (B, 3, H, W) and int64 (B,).

    Example:
        >>> x, y = probe_batch("synthetic", 20, seed=1)
        >>> torch.bincount(y).tolist()
        [2, 2, 2, 2, 2, 2, 2, 2, 2, 2]
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise DataError(f"batch size must be a positive integer, got {batch_size!r}")
    check_source(source)
    if source.startswith("imagefolder:"):
        folder = _folder_for_split(Path(source.split(":", 1)[1]).expanduser(), split)
        samples, _ = list_images(folder)
        idx = balanced_indices([c for _, c in samples], batch_size, seed)
        images = _decode([samples[i][0] for i in idx], 32)
        labels = torch.tensor([samples[i][1] for i in idx], dtype=torch.long)
        return normalize(images), labels
    n = max(512, 2 * batch_size) if source == "synthetic" else 0
    data = load_dataset(
        source, split=split, data_dir=data_dir, download=download, synthetic_size=n, seed=seed
    )
    idx = balanced_indices(data.labels.tolist(), batch_size, seed)
    return normalize(data.images[idx]), data.labels[idx]


def source_num_classes(source: str, data_dir: str | os.PathLike | None = None) -> int:
    """How many classes a data source has (its class folders for an image tree: 100 for the
    CIFAR-100 tree); networks scored on it get a head of that size.

    Example:
        >>> source_num_classes("synthetic")
        10
    """
    check_source(source)
    if source.startswith("imagefolder:"):
        from torchvision.datasets.folder import find_classes

        folder = _folder_for_split(Path(source.split(":", 1)[1]).expanduser(), "train")
        try:
            classes, _ = find_classes(str(folder))
        except (FileNotFoundError, OSError) as error:
            raise DataError(f"image folder {folder}: {error}") from None
        return len(classes)
    return 10


def describe(source: str, data_dir: str | os.PathLike | None = None) -> str:
    """A one-line description of a data source, for logs and result files."""
    if source == "cifar10":
        return f"cifar10 (torchvision format under {data_root(data_dir)})"
    if source.startswith("imagefolder:"):
        return f"image folder {source.split(':', 1)[1]}"
    return "synthetic images (generated, no files; pass --data for real images)"
