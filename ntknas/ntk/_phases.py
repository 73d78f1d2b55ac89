"""Optional wall-clock accounting of the engine's phases (for ``ntknas bench throughput``).

Off by default (no cost); inside ``record_phases()`` each phase adds its seconds to a dict. On
CUDA the device is synchronized at phase boundaries, which is what makes the split meaningful
(and why it is only on in benchmarks).
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Iterator

import torch

_RECORD: contextvars.ContextVar[dict[str, float] | None] = contextvars.ContextVar(
    "ntknas_phases", default=None
)


@contextlib.contextmanager
def record_phases() -> Iterator[dict[str, float]]:
    """Collect phase timings of every kernel computed inside the block.

    Example:
        >>> with record_phases() as phases:
        ...     pass
        >>> phases
        {}
    """
    phases: dict[str, float] = {}
    token = _RECORD.set(phases)
    try:
        yield phases
    finally:
        _RECORD.reset(token)


def recording() -> bool:
    return _RECORD.get() is not None


def _sync() -> None:
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


@contextlib.contextmanager
def phase(name: str) -> Iterator[None]:
    """Add the block's wall time to phase ``name`` when recording."""
    phases = _RECORD.get()
    if phases is None:
        yield
        return
    _sync()
    start = time.perf_counter()
    try:
        yield
    finally:
        _sync()
        phases[name] = phases.get(name, 0.0) + time.perf_counter() - start


def add(name: str, seconds: float) -> None:
    phases = _RECORD.get()
    if phases is not None:
        phases[name] = phases.get(name, 0.0) + seconds
