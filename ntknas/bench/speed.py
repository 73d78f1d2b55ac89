"""``ntknas bench speed``: each NTK implementation against one training step, same model, same
batch, medians of several runs after a warm-up (ratios measured side by side in one run)."""

from __future__ import annotations

import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

import search_spaces
from ntknas.allocator import allocator_state, describe_allocator
from ntknas.bench._memory import peak_memory
from ntknas.data import probe_batch
from ntknas.ntk import empirical_ntk, tf32_disabled
from ntknas.scorer import resolve_device

DEFAULT_ARCHS = {
    "nb201": "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
}

#: name → (implementation, kernel, bn). ``tenas_loop`` is TE-NAS's way (one backward per sample).
METHODS: dict[str, tuple[str, str, str]] = {
    "hooks:sum:frozen": ("hooks", "sum", "frozen"),
    "hooks:sum:eval": ("hooks", "sum", "eval"),
    "func:sum:frozen": ("func", "sum", "frozen"),
    "func:sum:eval": ("func", "sum", "eval"),
    "hooks:trace:frozen": ("hooks", "trace", "frozen"),
    "func:trace:frozen": ("func", "trace", "frozen"),
    "autograd:sum:batch": ("autograd", "sum", "batch"),
    "tenas_loop": ("tenas_loop", "sum", "batch"),
}


def tenas_loop(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """TE-NAS-style reference: train-mode forward of the batch, then one
    ``backward(retain_graph=True)`` per sample, gradients gathered into J, Θ = J Jᵀ (sum kernel,
    bn="batch", all parameters). Run on a copy so the caller's model is untouched."""
    import copy

    net = copy.deepcopy(model)
    net.train()
    for m in net.modules():
        if isinstance(m, nn.Dropout):
            m.eval()
    params = [p for p in net.parameters() if p.requires_grad]
    out = net(x)
    rows = []
    for i in range(x.shape[0]):
        net.zero_grad(set_to_none=True)
        out[i].sum().backward(retain_graph=True)
        rows.append(torch.cat([p.grad.reshape(-1) for p in params]))
    J = torch.stack(rows)
    return J @ J.T


def _timer(device: torch.device) -> Callable[[Callable[[], Any]], float]:
    def run(fn: Callable[[], Any]) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - start

    return run


def run_speed(
    *,
    space: str = "nb201",
    arch: str | None = None,
    batch_size: int = 64,
    device: str = "cpu",
    repeats: int = 5,
    data: str = "synthetic",
    methods: str | None = None,
) -> dict[str, Any]:
    """Time a training step and every selected method; returns the JSON-ready table."""
    dev = resolve_device(device)
    sp = search_spaces.create_search_space(space)
    spec = (
        sp.parse(arch)
        if arch
        else (sp.parse(DEFAULT_ARCHS[space]) if space in DEFAULT_ARCHS else sp.sample(0))
    )
    chosen = (
        list(METHODS) if methods is None else [m.strip() for m in methods.split(",") if m.strip()]
    )
    for name in chosen:
        if name not in METHODS:
            raise ValueError(f"unknown method {name!r}; allowed: {', '.join(METHODS)}")
    torch.manual_seed(0)
    model = sp.build(spec).to(dev)
    x, y = probe_batch(data, batch_size, seed=0)
    x, y = x.to(dev), y.to(dev)
    timer = _timer(dev)

    def train_step() -> None:
        model.train()
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()

    snapshot = {k: v.clone() for k, v in model.state_dict().items()}

    def median(fn: Callable[[], Any], n: int) -> float:
        fn()  # warm-up
        return statistics.median(timer(fn) for _ in range(n))

    with tf32_disabled():
        train_seconds = median(train_step, repeats)
        train_peak = peak_memory(dev, train_step)
        model.load_state_dict(snapshot)
        model.zero_grad(set_to_none=True)
        table: dict[str, Any] = {}
        for name in chosen:
            impl, kernel, bn = METHODS[name]
            if impl == "tenas_loop":
                fn = lambda: tenas_loop(model, x)  # noqa: E731
            else:
                fn = lambda impl=impl, kernel=kernel, bn=bn: empirical_ntk(  # noqa: E731
                    model, x, kernel=kernel, bn=bn, implementation=impl
                )
            n = repeats if impl not in ("tenas_loop", "autograd") else max(1, min(repeats, 3))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                fn()  # warm-up
                # Side by side: each run of the method right after a training step, so a slow
                # stretch of a shared machine slows both; the ratio is the median of the pairs.
                pairs = []
                for _ in range(n):
                    t_train = timer(train_step)
                    pairs.append((t_train, timer(fn)))
                seconds = statistics.median(m for _, m in pairs)
                paired_ratio = statistics.median(m / t for t, m in pairs)
                peak = peak_memory(dev, fn)
            table[name] = {
                "seconds": seconds,
                "ratio_to_train_step": paired_ratio,
                "paired_train_step_seconds": statistics.median(t for t, _ in pairs),
                "kernel": kernel,
                "bn": bn,
                "implementation": impl,
                "peak_memory_bytes": peak,
                "peak_ratio_to_train_step": (peak / train_peak) if peak and train_peak else None,
                "runs": n,
            }
    if "tenas_loop" in table and "autograd:sum:batch" in table:
        table["autograd:sum:batch"]["speedup_over_tenas_loop"] = (
            table["tenas_loop"]["seconds"] / table["autograd:sum:batch"]["seconds"]
        )
    return {
        "space": space,
        "arch": spec.to_string(),
        "params": sum(p.numel() for p in model.parameters()),
        "batch_size": batch_size,
        "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "threads": torch.get_num_threads(),
        "cpu_allocator": allocator_state(),
        "train_step_seconds": train_seconds,
        "train_step_peak_memory_bytes": train_peak,
        "methods": table,
    }


def format_speed(result: dict[str, Any]) -> str:
    lines = [
        f"{result['space']} {result['arch']} ({result['params']:,} params), "
        f"B={result['batch_size']}, {result['device_name']}, {result['threads']} threads, "
        f"CPU allocator: {describe_allocator(result.get('cpu_allocator', 'system'))}",
        f"training step (forward + cross-entropy + backward): {result['train_step_seconds'] * 1e3:.1f} ms (median)",
        "x train step: median over runs of (method time / the training step timed just before it)",
        "",
        f"{'method':<22} {'kernel':<6} {'bn':<7} {'ms':>9} {'x train step':>13} {'peak mem x':>11}",
    ]
    for name, row in result["methods"].items():
        peak = f"{row['peak_ratio_to_train_step']:.2f}" if row["peak_ratio_to_train_step"] else "-"
        lines.append(
            f"{name:<22} {row['kernel']:<6} {row['bn']:<7} {row['seconds'] * 1e3:>9.1f} "
            f"{row['ratio_to_train_step']:>13.2f} {peak:>11}"
        )
    batch = result["methods"].get("autograd:sum:batch", {})
    if "speedup_over_tenas_loop" in batch:
        lines.append(
            f"\nTE-NAS-exact (autograd, bn=batch) is {batch['speedup_over_tenas_loop']:.1f}x faster than the TE-NAS loop"
        )
    return "\n".join(lines)
