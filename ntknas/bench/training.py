"""``ntknas bench training``: what short training costs per network, by memory format and
precision, and how many networks per minute several processes train at once on one device.

Both parts run :func:`ntknas.train.train_short` itself (the code path of ``ntknas validate``) on
the trained copy of a named protocol (:mod:`ntknas.protocols`), with generated images so nothing
is read from disk:

* **formats**: each network is trained once per format (float32 or bfloat16 autocast on CUDA,
  NCHW or channels-last), in rotating order; the table gives the median seconds per network and
  the median paired ratio to float32 NCHW. A warm-up run of every format comes first.
* **workers**: W processes (spawned; on CPU they split the threads, on a GPU they share it)
  train their share of the networks; timing starts when every worker has finished its warm-up
  and stops when the last one ends, so networks per minute = N / (slowest worker's time).

Example:
    >>> r = run_training_bench(space="nb201", n=1, images=64, workers=(), batch_size=32)
    >>> sorted(r["formats"])
    ['float32 channels-last', 'float32 nchw']
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import torch

import search_spaces
from ntknas.bench._processes import timed_in_processes
from ntknas.data import synthetic
from ntknas.protocols import DEFAULT_PROTOCOL, get_protocol
from ntknas.study import build_trained_model
from ntknas.train import train_short

#: (name, amp, channels_last); the bfloat16 rows run on CUDA only (``amp`` is CUDA autocast).
FORMATS = (
    ("float32 nchw", False, False),
    ("float32 channels-last", False, True),
    ("bfloat16 nchw", True, False),
    ("bfloat16 channels-last", True, True),
)


def _settings(
    protocol: str, space: str, batch_size: int | None, resolution: int | None
) -> tuple[dict, dict]:
    settings = get_protocol(protocol).settings(space)
    if resolution is not None:
        settings["resolution"] = resolution
    copy = settings.pop("space_options")
    for key in ("subset", "epochs", "test_subset"):
        settings.pop(key)
    if batch_size is not None:
        settings["batch_size"] = batch_size
    return settings, copy


def _train_once(
    space: str,
    arch: str,
    data: Any,
    test: Any,
    settings: dict[str, Any],
    copy: dict[str, Any],
    device: str,
    amp: bool,
    channels_last: bool,
) -> float:
    sp = search_spaces.create_search_space(space)
    model = build_trained_model(sp, arch, data.num_classes, space_options=copy)
    result = train_short(
        model,
        data,
        test,
        epochs=1,
        device=device,
        amp=amp,
        channels_last=channels_last,
        **settings,
    )
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return result.seconds


def run_training_bench(
    *,
    space: str = "nb201",
    n: int = 8,
    protocol: str = DEFAULT_PROTOCOL,
    images: int = 2048,
    device: str = "cpu",
    workers: tuple[int, ...] = (1, 2),
    batch_size: int | None = None,
    resolution: int | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Seconds per network by format, and networks per minute by number of worker processes.

    Args:
        n: networks (a seeded draw of distinct architectures).
        protocol: whose trained copy, resolution, batch size and learning rate are used; each
            network trains one epoch of ``images`` generated images.
        workers: the process counts of the second part (empty: skip it).
        batch_size, resolution: instead of the protocol's (a ViT takes only its own size).
    """
    settings, copy = _settings(protocol, space, batch_size, resolution)
    sp = search_spaces.create_search_space(space)
    archs = [s.arch for s in sp.sample_distinct(n + 1, seed)]
    warmup, archs = archs[0], archs[1:]
    data, test = synthetic(images, seed=seed), synthetic(256, seed=seed, split="test")
    cuda = device.startswith("cuda")
    formats = [f for f in FORMATS if cuda or not f[1]]
    common = (data, test, settings, copy, device)
    for _, amp, last in formats:
        _train_once(space, warmup, *common, amp, last)
    seconds: dict[str, list[float]] = {name: [] for name, _, _ in formats}
    for i, arch in enumerate(archs):
        order = formats[i % len(formats) :] + formats[: i % len(formats)]  # rotate: no drift bias
        for name, amp, last in order:
            seconds[name].append(_train_once(space, arch, *common, amp, last))
    base = seconds[formats[0][0]]
    result: dict[str, Any] = {
        "space": space,
        "protocol": protocol,
        "n": len(archs),
        "images": images,
        "settings": settings,
        "trained_copy": copy,
        "device": device,
        "device_name": torch.cuda.get_device_name(device) if cuda else "cpu",
        "threads": torch.get_num_threads(),
        "formats": {
            name: {
                "median_seconds": statistics.median(values),
                "median_ratio": statistics.median(v / b for v, b in zip(values, base, strict=True)),
                "images_per_second": images / statistics.median(values),
            }
            for name, values in seconds.items()
        },
        "workers": {},
    }
    for count in workers:
        result["workers"][str(count)] = _run_workers(count, space, archs, warmup, common)
    return result


def _worker(
    space: str, archs: list[str], warmup: str, common: tuple, threads: int, barrier: Any
) -> float:
    torch.set_num_threads(threads)
    _train_once(space, warmup, *common, False, False)
    barrier.wait()
    start = time.perf_counter()
    for arch in archs:
        _train_once(space, arch, *common, False, False)
    return time.perf_counter() - start


def _run_workers(
    count: int, space: str, archs: list[str], warmup: str, common: tuple
) -> dict[str, Any]:
    threads = max(1, torch.get_num_threads() // count) if common[-1] == "cpu" else 1
    shares = [(space, archs[w::count], warmup, common, threads) for w in range(count)]
    per_worker, wall = timed_in_processes(_worker, shares)
    return {
        "threads_per_worker": threads,
        "seconds": wall,
        "networks_per_minute": 60 * len(archs) / wall,
        "worker_seconds": [round(s, 2) for s in per_worker],
    }


def format_training_bench(r: dict[str, Any]) -> str:
    lines = [
        f"short training, {r['space']} trained copy {r['trained_copy']} of protocol "
        f"{r['protocol']!r} ({r['settings'].get('resolution')} px, batch "
        f"{r['settings']['batch_size']}), one epoch of {r['images']} generated images, "
        f"{r['n']} networks, {r['device_name']}, {r['threads']} threads",
        "",
        "| format | s/network (median) | × float32 NCHW (median, paired) | images/s |",
        "|---|---:|---:|---:|",
    ]
    for name, f in r["formats"].items():
        lines.append(
            f"| {name} | {f['median_seconds']:.2f} | {f['median_ratio']:.2f} | "
            f"{f['images_per_second']:.0f} |"
        )
    if r["workers"]:
        lines += [
            "",
            "| worker processes | threads each | networks/min | × one process |",
            "|---:|---:|---:|---:|",
        ]
        one = r["workers"].get("1", {}).get("networks_per_minute")
        for count, w in r["workers"].items():
            gain = f"{w['networks_per_minute'] / one:.2f}" if one else ""
            lines.append(
                f"| {count} | {w['threads_per_worker']} | {w['networks_per_minute']:.1f} | {gain} |"
            )
    return "\n".join(lines)
