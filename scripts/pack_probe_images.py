"""Carry the probe images of an image folder to another machine without the whole folder.

``ntknas`` decodes only the images its probe batch (train split) and held-out batch (test split)
choose, but it chooses them by position in the folder's sorted listing. ``pack`` copies just the
chosen files of a seed and writes the full listing; ``unpack`` rebuilds the listing on the other
machine with empty files in place of the images that are never read, so the same seed picks the
same images there (used for the GPU runs: 128 images instead of 236 MB)::

    python scripts/pack_probe_images.py pack ~/.cache/ntknas/cifar10-jpeg .gpu/probe \\
        --batch-size 64 --heldout 64 --seed 0
    python scripts/pack_probe_images.py unpack .gpu/probe /tmp/cifar10-probe   # there
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from ntknas.data import balanced_indices, list_images


def pack(source: Path, target: Path, batch_size: int, heldout: int, seed: int) -> None:
    target.mkdir(parents=True, exist_ok=True)
    listing = []
    for split, count in (("train", batch_size), ("test", heldout)):
        samples, _ = list_images(source / split)
        chosen = set(balanced_indices([c for _, c in samples], count, seed)) if count else set()
        for i, (path, _) in enumerate(samples):
            relative = Path(path).relative_to(source)
            listing.append(str(relative))
            if i in chosen:
                (target / "images" / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target / "images" / relative)
    (target / "listing.txt").write_text("\n".join(listing) + "\n")


def unpack(packed: Path, folder: Path) -> None:
    for relative in (packed / "listing.txt").read_text().split():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        real = packed / "images" / relative
        if real.exists():
            shutil.copy2(real, path)
        else:
            path.touch()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pack")
    p.add_argument("source", type=Path)
    p.add_argument("target", type=Path)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--heldout", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    u = sub.add_parser("unpack")
    u.add_argument("packed", type=Path)
    u.add_argument("folder", type=Path)
    args = parser.parse_args()
    if args.command == "pack":
        pack(args.source, args.target, args.batch_size, args.heldout, args.seed)
    else:
        unpack(args.packed, args.folder)


if __name__ == "__main__":
    main()
