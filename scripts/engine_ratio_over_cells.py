"""The engine against one training step over many NAS-Bench-201 cells, not only the heavy one.

``ntknas bench speed`` times one architecture (by default a heavy cell: three 3×3 convolutions).
This script draws ``--n`` connected cells and, for each, times one training step (forward +
cross-entropy + backward, train mode) and the per-layer kernel the scorer computes
(``layerwise_ntk``, sum kernel, ``bn="frozen"``, hooks) side by side ``--repeats`` times; it
prints each cell's median ratio and the median over cells. Synthetic images (timing only).
Like the ``ntknas`` command, it keeps freed memory in the process
(:func:`ntknas.allocator.retain_freed_memory`) unless ``--system-allocator`` is given::

    python scripts/engine_ratio_over_cells.py --n 12 --batch-size 64 --repeats 5
    python scripts/engine_ratio_over_cells.py --n 12 --batch-size 64 --repeats 5 --system-allocator
    python scripts/engine_ratio_over_cells.py --n 12 --batch-size 64 --repeats 10 --device cuda
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import torch
import torch.nn.functional as F

import search_spaces
from ntknas import layerwise_ntk
from ntknas.allocator import retain_freed_memory
from ntknas.data import probe_batch
from ntknas.ntk import tf32_disabled


def paired_ratio(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, repeats: int):
    """Median of (kernel time / training-step time) over ``repeats`` side-by-side pairs, and the
    median training step in seconds (on a GPU each timing waits for the device)."""

    def wait() -> None:
        if x.is_cuda:
            torch.cuda.synchronize(x.device)

    def train_step() -> None:
        model.train()
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()

    def kernel() -> None:
        layerwise_ntk(model, x, kernel="sum", bn="frozen", implementation="hooks")

    train_step()  # warm-up
    kernel()
    pairs = []
    for _ in range(repeats):
        wait()
        started = time.perf_counter()
        train_step()
        wait()
        middle = time.perf_counter()
        kernel()
        wait()
        pairs.append(((time.perf_counter() - middle) / (middle - started), middle - started))
    return statistics.median(r for r, _ in pairs), statistics.median(t for _, t in pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--device", default="cpu", help="cpu | cuda (TF32 off for both timings)")
    parser.add_argument(
        "--arch", action="append", default=[], help="time these cells (repeatable) instead"
    )
    parser.add_argument(
        "--system-allocator",
        action="store_true",
        help="leave glibc's malloc thresholds as they are (the ntknas command fixes them)",
    )
    args = parser.parse_args()
    retained = False if args.system_allocator else retain_freed_memory()
    space = search_spaces.create_search_space("nb201")
    device = torch.device(args.device)
    x, y = probe_batch("synthetic", args.batch_size, seed=0)
    x, y = x.to(device), y.to(device)
    rng = random.Random(args.seed)
    given = [space.parse(arch) for arch in args.arch]
    ratios = []
    print(
        f"{device}, {torch.get_num_threads()} threads, B={args.batch_size}, "
        f"allocator: {'freed memory retained' if retained else 'system default'}"
    )
    while len(ratios) < (len(given) or args.n):
        spec = given[len(ratios)] if given else space.sample(rng.randrange(10**6))
        if space.is_disconnected(spec.arch):
            continue
        torch.manual_seed(0)
        with tf32_disabled():
            ratio, step = paired_ratio(space.build(spec).to(device), x, y, args.repeats)
        ratios.append(ratio)
        print(f"{ratio:5.2f}x  training step {1e3 * step:5.0f} ms  {spec.arch}", flush=True)
    print(
        f"median over {len(ratios)} cells: {statistics.median(ratios):.2f}x "
        f"(min {min(ratios):.2f}, max {max(ratios):.2f})"
    )


if __name__ == "__main__":
    main()
