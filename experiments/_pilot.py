"""What the pilot scripts share: their command line and the resumable, shardable scoring loop
over the first cells of the benchmark's seeded sample (``ntknas bench nb201 --n 1000 --seed 0``).

Not part of the package; imported by ``scripts/pilot_*.py`` (run as ``python scripts/...``, so
this folder is on the import path).
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import search_spaces
from ntknas.bench.nb201 import read_ground_truth
from ntknas.scorer import NTKScorer

#: Scores one architecture: (scorer, space, arch string) → the record's values.
PilotScore = Callable[[NTKScorer, search_spaces.SearchSpace, str], dict[str, Any]]


def pilot_arguments(description: str) -> argparse.ArgumentParser:
    """The options every pilot takes (a script may add its own)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--ground-truth", required=True)
    parser.add_argument("--target", default="cifar10_test_acc")
    parser.add_argument("--data", default="synthetic")
    parser.add_argument("--first", type=int, default=300)
    parser.add_argument("--shard", default="0/1")
    parser.add_argument("--output")
    parser.add_argument("--report", nargs="+", help="JSONL files to correlate (no scoring)")
    return parser


def score_pilot_cells(args: argparse.Namespace, score: PilotScore) -> None:
    """Score this shard of the first ``args.first`` cells of the seeded sample (connected ones
    only) with B = 64 probe images and seed 0, appending one JSON line per cell to
    ``args.output`` and skipping the cells already there (a run resumes)."""
    table = read_ground_truth(args.ground_truth, args.target)
    index, count = (int(v) for v in args.shard.split("/"))
    rows = random.Random(0).sample(table, 1000)  # the benchmark's --n 1000 --seed 0 sample
    space = search_spaces.create_search_space("nb201")
    scorer = NTKScorer(batch_size=64, data=args.data, seed=0)
    output = Path(args.output)
    done = set()
    if output.is_file():
        done = {json.loads(line)["arch"] for line in output.read_text().splitlines()}
    with open(output, "a") as f:
        for arch, _ in rows[: args.first][index::count]:
            if arch in done or space.is_disconnected(arch):
                continue
            f.write(json.dumps({"arch": arch, **score(scorer, space, arch)}) + "\n")
            f.flush()
