"""Peak memory of one call: CUDA allocator peak on GPU, the process's peak RSS on Linux CPUs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ntknas.allocator import c_library_function


def _status_bytes(key: str) -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _release_free_memory() -> None:
    """Give the allocator's cached free pages back to the system (glibc ``malloc_trim``), so
    that memory a call reuses from the cache still shows in its peak RSS."""
    malloc_trim = c_library_function("malloc_trim")
    if malloc_trim is not None:
        malloc_trim(0)


def _reset_cpu_peak() -> bool:
    """Reset the kernel's record of this process's peak RSS (Linux ``clear_refs`` 5)."""
    _release_free_memory()
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        return False
    return _status_bytes("VmHWM") is not None


def peak_memory(device: torch.device, fn: Callable[[], Any]) -> int | None:
    """Bytes that ``fn()`` needs at its peak above what is held before it, or None where the
    platform cannot tell.

    CUDA: ``max_memory_allocated`` minus the allocated bytes before the call. CPU (Linux): the
    process's peak resident set (``VmHWM``, reset just before) minus its resident set before the
    call, after returning the allocator's free pages to the system (``malloc_trim``) so that
    reused cached memory is counted.

    Example:
        >>> size = peak_memory(torch.device("cpu"), lambda: torch.ones(2**22).sum())
        >>> size is None or size >= 0
        True
    """
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        fn()
        torch.cuda.synchronize(device)
        return int(torch.cuda.max_memory_allocated(device) - base)
    if not _reset_cpu_peak():
        return None
    base = _status_bytes("VmRSS")
    fn()
    peak = _status_bytes("VmHWM")
    if base is None or peak is None:
        return None
    return max(0, peak - base)
