"""Worker processes on one machine that share a study: ``study.workers`` > 1.

``ntknas search`` and ``ntknas validate`` start ``study.workers - 1`` extra processes that run the
same loop as the main process (screening, or training the enqueued networks) on the same
storage and split the CPU threads between them; on a GPU they share the device, so several small
networks are scored or trained at once. An in-memory study has nothing to share, so it becomes a
Journal file in a temporary folder for the run. A worker that dies is survived as any worker on
a storage is: its running trial is failed and retried by the others (``fail_stale``).

Example:
    >>> with shared_storage(None, 1) as url:
    ...     url is None
    True
"""

from __future__ import annotations

import multiprocessing
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import torch

T = TypeVar("T")


@contextmanager
def shared_storage(url: str | None, workers: int) -> Iterator[str | None]:
    """The storage URL ``workers`` processes can share: ``url`` itself, or for an in-memory
    study (``url`` is ``None``) with several workers a Journal file in a temporary folder that
    is removed afterwards (the results are written from it before)."""
    if workers <= 1 or url is not None:
        yield url
        return
    with tempfile.TemporaryDirectory(prefix="ntknas-workers-") as folder:
        yield f"journal:{folder}/study.journal"


def threads_per_worker(workers: int) -> int:
    """This process's intra-op threads split between ``workers`` processes (at least 1)."""
    return max(1, torch.get_num_threads() // max(1, workers))


def _enter(threads: int, target: Callable[..., Any], args: tuple[Any, ...]) -> None:
    """A worker's body: one line on stderr and exit status 1 on an error, no traceback."""
    torch.set_num_threads(threads)
    try:
        target(*args)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as error:  # noqa: BLE001 - reported in one line, survived by the others
        message = str(error).strip().splitlines()[0] if str(error).strip() else ""
        print(f"ntknas worker process: {type(error).__name__}: {message}", file=sys.stderr)
        sys.exit(1)


class Workers:
    """``count`` extra processes running ``target(*args)`` (spawned: safe with CUDA and
    threads), each with ``threads`` intra-op threads; :meth:`join` waits for them and returns
    the exit status of each (non-zero: it raised or was killed; its trial is retried by the
    survivors)."""

    def __init__(
        self, count: int, target: Callable[..., Any], args: tuple[Any, ...], threads: int
    ) -> None:
        context = multiprocessing.get_context("spawn")
        self.processes = [
            context.Process(target=_enter, args=(threads, target, args), daemon=False)
            for _ in range(count)
        ]
        for process in self.processes:
            process.start()

    def join(self) -> list[int]:
        codes = []
        for process in self.processes:
            process.join()
            codes.append(process.exitcode if process.exitcode is not None else -1)
        return codes

    def terminate(self) -> None:
        for process in self.processes:
            if process.is_alive():
                process.terminate()
        for process in self.processes:
            process.join()


def report_exit_codes(codes: list[int], log: Callable[..., Any] = print) -> int:
    """Log each worker that did not exit cleanly; returns how many."""
    bad = [(i + 1, code) for i, code in enumerate(codes) if code != 0]
    for number, code in bad:
        log(
            f"worker process {number} exited with status {code}; its running trial, if any, "
            "is failed and retried"
        )
    return len(bad)


def alongside_workers(
    workers: int,
    target: Callable[..., Any],
    args: tuple[Any, ...],
    here: Callable[[], T],
    retry: Callable[[], Any],
    log: Callable[..., Any] = print,
) -> T:
    """Run ``here()`` in this process while ``workers - 1`` spawned processes run
    ``target(*args)``, the threads split between all of them (just ``here()`` when
    ``workers`` <= 1). On an error here the others are stopped; afterwards they are joined, and
    when one did not exit cleanly it is reported and ``retry()`` runs here (its running trial is
    failed and retried). Returns what ``here()`` returned."""
    if workers <= 1:
        return here()
    threads = threads_per_worker(workers)
    others = Workers(workers - 1, target, args, threads)
    all_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        result = here()
    except BaseException:
        others.terminate()
        raise
    finally:
        torch.set_num_threads(all_threads)
    if report_exit_codes(others.join(), log):
        retry()
    return result
