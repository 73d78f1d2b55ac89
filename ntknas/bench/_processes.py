"""Timing work split over spawned processes: each warms up, waits at a barrier, then works."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any


def timed_in_processes(
    worker: Callable[..., Any], shares: list[tuple[Any, ...]]
) -> tuple[list[Any], float]:
    """Run ``worker(*share, barrier)`` in one spawned process per share. Each worker calls
    ``barrier.wait()`` once it is warm; the clock starts when all are and stops at the last
    result. Returns (the results in share order, wall seconds)."""
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        barrier = manager.Barrier(len(shares) + 1)
        with ProcessPoolExecutor(len(shares), mp_context=context) as pool:
            futures = [pool.submit(worker, *share, barrier) for share in shares]
            barrier.wait()
            started = time.perf_counter()
            results = [f.result() for f in futures]
            return results, time.perf_counter() - started
