"""Keep freed CPU memory in the process instead of handing it back to the system after each pass.

glibc's ``malloc`` serves blocks above a moving threshold (128 KiB at start, raised to the size
of the largest block freed so far, at most 32 MiB) with fresh ``mmap`` pages, and returns free
memory at the top of the heap to the system once it exceeds twice that threshold. A kernel pass
allocates and frees tens of megabytes in blocks of many sizes (recorded layer inputs, per-sample
gradients, oneDNN buffers of the grouped convolution), so on Linux every pass pays for the same
pages again: ~80,000 page faults per NAS-Bench-201 kernel at B=64, ~10 % of its time on two
cores, while the training step it is compared with reuses its memory and faults none.

:func:`retain_freed_memory` fixes both thresholds (serve blocks up to 32 MiB from the heap,
return memory only when 1 GiB lies free at its top), so a loop that scores architecture after
architecture reuses the same pages. The resident set then stays near the peak of one pass
instead of shrinking between passes. The ``ntknas`` command calls it at start; a program that
imports the library decides for itself.

Nothing changes where the user has already tuned the allocator (``MALLOC_MMAP_THRESHOLD_``,
``MALLOC_TRIM_THRESHOLD_``, ``MALLOC_TOP_PAD_`` or ``GLIBC_TUNABLES`` in the environment), where
``NTKNAS_ALLOCATOR=system`` is set, or where the C library has no ``mallopt`` (macOS, musl).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os

MMAP_THRESHOLD_BYTES = 32 << 20
TRIM_THRESHOLD_BYTES = 1 << 30

_M_TRIM_THRESHOLD = -1  # glibc <malloc.h>
_M_MMAP_THRESHOLD = -3
_USER_SETTINGS = (
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_TRIM_THRESHOLD_",
    "MALLOC_TOP_PAD_",
    "GLIBC_TUNABLES",
)
_applied: bool | None = None


def retain_freed_memory() -> bool:
    """Make glibc keep freed memory for reuse (see the module docstring); True when applied.

    Safe to call more than once and on any platform: it does nothing (and returns False) without
    glibc's ``mallopt``, when ``NTKNAS_ALLOCATOR=system`` or when the environment already tunes
    the allocator.

    Example:
        >>> isinstance(retain_freed_memory(), bool)
        True
    """
    global _applied
    if _applied is not None:
        return _applied
    _applied = False
    if os.environ.get("NTKNAS_ALLOCATOR", "").lower() == "system":
        return False
    if any(key in os.environ for key in _USER_SETTINGS):
        return False
    mallopt = _mallopt()
    if mallopt is None:
        return False
    # The mmap threshold first: a refused value leaves glibc as it was, whereas a trim threshold
    # set alone would switch off the moving mmap threshold and leave it at 128 KiB (every
    # larger block a fresh mapping: ~10x the page faults).
    _applied = bool(
        mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
        and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    )
    return _applied


def c_library_function(name: str):
    """The C library's function ``name`` through ctypes, or None where there is none (no C
    library found, or a C library without it: ``mallopt``/``malloc_trim`` outside glibc).

    Example:
        >>> c_library_function("no_such_function_anywhere") is None
        True
    """
    library = _c_library()
    return getattr(library, name, None) if library is not None else None


@functools.cache
def _c_library() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return ctypes.CDLL(name)
    except OSError:
        return None


def _mallopt():
    function = c_library_function("mallopt")
    if function is not None:
        function.argtypes = (ctypes.c_int, ctypes.c_int)
        function.restype = ctypes.c_int
    return function


def allocator_state() -> str:
    """``"retained"`` once :func:`retain_freed_memory` has fixed glibc's thresholds in this
    process, else ``"system"`` (what benchmarks record next to their timings).

    Example:
        >>> allocator_state() in ("retained", "system")
        True
    """
    return "retained" if _applied else "system"


def describe_allocator(state: str) -> str:
    """Words for an :func:`allocator_state` (several, comma-separated, from worker processes).

    Example:
        >>> describe_allocator("retained")
        'freed memory retained'
    """
    words = {"retained": "freed memory retained", "system": "system default"}
    return ", ".join(words.get(part, part) for part in state.split(","))
