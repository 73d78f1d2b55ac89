"""Short training runs: SGD with Nesterov momentum, cosine learning rate, crop + flip augmentation.

Data stay uint8 tensors (:class:`ntknas.data.ImageData`); augmentation and normalization run on
whole batches on the training device, so a CPU run is not bound by image decoding. On CPU a run is
deterministic for its seed; on GPU, mixed precision (bfloat16 autocast) is used when ``amp``.

A reduced setting (the literature's cheap proxies for long training: fewer images, fewer epochs,
lower resolution, a narrower or shallower copy of the network; the full cosine schedule
compressed into the steps there are) is a set of :func:`train_short` arguments plus the trained
copy's search-space options; :mod:`ntknas.protocols` names the settings whose agreement with
long training was measured.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ntknas.data import ImageData, normalize


@dataclass
class TrainResult:
    """Per-epoch test accuracy (percent), the final accuracy, and timing (wall seconds and the
    process's CPU seconds, all threads)."""

    epoch_accuracies: list[float]
    seconds: float
    train_images: int
    test_images: int
    losses: list[float] = field(default_factory=list)
    cpu_seconds: float = float("nan")

    @property
    def final_accuracy(self) -> float:
        return self.epoch_accuracies[-1] if self.epoch_accuracies else float("nan")


def resize(data: ImageData, resolution: int) -> ImageData:
    """The images at ``resolution`` × ``resolution`` (antialiased bilinear, still uint8).

    Example:
        >>> from ntknas.data import synthetic
        >>> resize(synthetic(2), 16).images.shape
        torch.Size([2, 3, 16, 16])
    """
    if resolution < 1:
        raise ValueError(f"resolution must be >= 1, got {resolution}")
    if tuple(data.images.shape[-2:]) == (resolution, resolution):
        return data
    small = F.interpolate(
        data.images.float(), size=(resolution, resolution), mode="bilinear", antialias=True
    )
    images = small.round().clamp(0, 255).to(torch.uint8)
    return ImageData(images, data.labels, data.classes, data.source)


def check_resolution(model: nn.Module, resolution: int, num_channels: int = 3) -> None:
    """``ValueError`` naming the resolution when ``model`` cannot take images of that size (below
    its minimum, or not the size its position embedding was built for), before training starts.

    Example:
        >>> check_resolution(torch.nn.Conv2d(3, 4, 3), 2)
        Traceback (most recent call last):
        ...
        ValueError: resolution 2 is not a size this network takes (...)
    """
    x = torch.zeros(2, num_channels, resolution, resolution, device=_device_of(model))
    was_training = model.training
    try:
        with torch.no_grad():
            model.eval()
            model(x)
    except (RuntimeError, ValueError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(
            f"resolution {resolution} is not a size this network takes ({first})"
        ) from None
    finally:
        model.train(was_training)


def _device_of(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def augment(images: torch.Tensor, generator: torch.Generator, padding: int = 4) -> torch.Tensor:
    """Random crop with zero padding and random horizontal flip, per image, on uint8 batches.

    Example:
        >>> augment(torch.zeros(2, 3, 32, 32, dtype=torch.uint8), torch.Generator()).shape
        torch.Size([2, 3, 32, 32])
    """
    n, _, h, w = images.shape
    padded = F.pad(images, (padding, padding, padding, padding))
    dx = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
    dy = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
    flip = torch.rand(n, generator=generator) < 0.5
    rows = (dy.view(n, 1) + torch.arange(h).view(1, h)).to(images.device)
    cols = (dx.view(n, 1) + torch.arange(w).view(1, w)).to(images.device)
    cols = torch.where(flip.view(n, 1).to(images.device), cols.flip(1), cols)
    idx_n = torch.arange(n, device=images.device).view(n, 1, 1, 1)
    idx_c = torch.arange(images.shape[1], device=images.device).view(1, -1, 1, 1)
    return padded[idx_n, idx_c, rows.view(n, 1, h, 1), cols.view(n, 1, 1, w)]


@torch.no_grad()
def evaluate(
    model: nn.Module, data: ImageData, *, batch_size: int = 500, device: torch.device | str = "cpu"
) -> float:
    """Top-1 accuracy (percent) of ``model`` on ``data``."""
    model.eval()
    correct = 0
    for start in range(0, len(data), batch_size):
        x = normalize(data.images[start : start + batch_size].to(device))
        y = data.labels[start : start + batch_size].to(device)
        correct += int((model(x).argmax(1) == y).sum())
    return 100.0 * correct / max(1, len(data))


def train_short(
    model: nn.Module,
    train_data: ImageData,
    test_data: ImageData,
    *,
    epochs: int = 2,
    batch_size: int = 128,
    lr: float = 0.1,
    momentum: float = 0.9,
    weight_decay: float = 5e-4,
    subset: int | None = None,
    test_subset: int | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    amp: bool = True,
    resolution: int | None = None,
    augmentation: bool = True,
    channels_last: bool = True,
    on_epoch: Callable[[int, float], None] | None = None,
) -> TrainResult:
    """Train ``model`` briefly and return the test accuracy after every epoch.

    Args:
        subset: train on this many images (a seeded, class-balanced-in-expectation draw).
        test_subset: evaluate on N test images, a fixed random subset (None: all).
        amp: bfloat16 autocast on CUDA (ignored on CPU, which stays in float32).
        resolution: train and test at this many pixels a side (None: the data's own). The
            network must take that size (checked before training, ``ValueError``).
        augmentation: random crop (padding an eighth of the side) and horizontal flip.
        channels_last: the network's weights and the images in channels-last (NHWC) memory
            format; the values are the same up to float rounding. On CPU it trained the
            protocols' NB201, NAS-Bench-Macro, ResNet and CNN networks 1.1-2.2x faster
            (``ntknas bench training``, results/speed/README.md).
        on_epoch: called with ``(epoch, accuracy)`` after each epoch, e.g. to report to an Optuna
            trial (it may raise ``optuna.TrialPruned``).

    Example:
        >>> from ntknas.data import synthetic
        >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 10))
        >>> r = train_short(net, synthetic(64), synthetic(32, split="test"), epochs=1)
        >>> len(r.epoch_accuracies)
        1
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if subset is not None and subset < 1:
        raise ValueError(f"subset must be >= 1 images, got {subset}")
    if len(train_data) == 0:
        raise ValueError("the training data hold no images")
    device = torch.device(device)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    if subset is not None and subset < len(train_data):
        idx = torch.randperm(len(train_data), generator=generator)[:subset]
        train_data = train_data.subset(idx)
    if test_subset is not None and test_subset < len(test_data):
        # A fixed random subset (the same for every run and seed): class-per-folder data are
        # sorted by class, so the first N images would be a single class.
        fixed = torch.Generator().manual_seed(0)
        test_data = test_data.subset(torch.randperm(len(test_data), generator=fixed)[:test_subset])
    if resolution is not None:
        train_data, test_data = resize(train_data, resolution), resize(test_data, resolution)
    model = model.to(device)
    check_resolution(model, train_data.images.shape[-1], train_data.images.shape[1])
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    padding = max(1, train_data.images.shape[-1] // 8)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=True
    )
    steps_per_epoch = math.ceil(len(train_data) / batch_size)
    total = epochs * steps_per_epoch
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, total) / total))
    )
    use_amp = amp and device.type == "cuda"
    images = train_data.images.to(device)
    labels = train_data.labels.to(device)
    start, cpu_start = time.perf_counter(), time.process_time()
    accuracies: list[float] = []
    losses: list[float] = []
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(train_data), generator=generator).to(device)
        running = 0.0
        for s in range(steps_per_epoch):
            idx = order[s * batch_size : (s + 1) * batch_size]
            batch = augment(images[idx], generator, padding) if augmentation else images[idx]
            x = normalize(batch).contiguous(memory_format=memory_format)
            y = labels[idx]
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            running += float(loss.detach())
        losses.append(running / steps_per_epoch)
        acc = evaluate(model, test_data, device=device)
        accuracies.append(acc)
        if on_epoch is not None:
            # The callback (e.g. the NTK's evolution) sees the usual layout: the kernel engine's
            # frozen-BatchNorm pass on channels-last weights was 2e-4 off float64 (NCHW: 2e-7).
            model.to(memory_format=torch.contiguous_format)
            on_epoch(epoch, acc)
            model.to(memory_format=memory_format)
    model.to(memory_format=torch.contiguous_format)  # handed back in the usual layout
    return TrainResult(
        accuracies,
        time.perf_counter() - start,
        len(train_data),
        len(test_data),
        losses,
        cpu_seconds=time.process_time() - cpu_start,
    )
