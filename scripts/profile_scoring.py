"""Where the time of scoring goes: cProfile over the scorer on ``--n`` NAS-Bench-201 cells.

Scores the cells with the settings of ``ntknas bench nb201`` (kernel, probe signals, held-out
kernel regression) after one warm-up cell, and prints the scorer's own phase medians and the
functions with the most time of their own. On a GPU, time waiting for the device shows up where
the host first reads a result (``.item()``, ``.cpu()``, eigendecompositions on the host)::

    python scripts/profile_scoring.py --n 16 --device cuda --proxies --heldout 64
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import random
import statistics
import time

import search_spaces
from ntknas.scorer import NTKScorer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--heldout", type=int, default=0)
    parser.add_argument("--proxies", action="store_true")
    parser.add_argument("--data", default="synthetic")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    space = search_spaces.create_search_space("nb201")
    scorer = NTKScorer(
        batch_size=args.batch_size,
        device=args.device,
        data=args.data,
        heldout=args.heldout,
        proxies=args.proxies,
    )
    rng = random.Random(0)
    cells = []
    while len(cells) < args.n + 1:
        spec = space.sample(rng.randrange(10**6))
        if not space.is_disconnected(spec.arch):
            cells.append(spec.arch)
    scorer.score(space, cells[0])  # warm-up: data, CUDA context, kernels
    profile = cProfile.Profile()
    phases: dict[str, list[float]] = {}
    started = time.perf_counter()
    profile.enable()
    for arch in cells[1:]:
        result = scorer.score(space, arch)
        for name, seconds in result.phases.items():
            phases.setdefault(name, []).append(seconds)
    profile.disable()
    wall = time.perf_counter() - started
    print(f"{args.n} cells on {args.device} in {wall:.1f} s ({wall / args.n:.3f} s per cell)")
    for name, values in sorted(phases.items(), key=lambda t: -statistics.median(t[1])):
        print(f"  phase {name:<26} median {statistics.median(values):.4f} s")
    text = io.StringIO()
    pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(args.top)
    print(text.getvalue())


if __name__ == "__main__":
    main()
