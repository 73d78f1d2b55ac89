"""Correctness of the NTK engine on an accelerator: every implementation × kernel × bn mode on a
real architecture of each search space, against the float64 reference loop on the CPU.

Run it first on a GPU machine (``scripts/gpu_check.sh`` does), before timing anything::

    python -m ntknas.bench.device_check --device cuda --json

Each row is the relative Frobenius error ‖Θ_device − Θ_ref‖ / ‖Θ_ref‖ of a float32 kernel (TF32
off, the engine's default) against the float64 CPU loop on the same weights and images. Exit
status 1 when a row is above the tolerance.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import warnings
from typing import Any

import torch

import search_spaces
from ntknas.ntk import BN_MODES, KERNELS, empirical_ntk
from ntknas.scorer import resolve_device

#: One architecture per space: every NB201 operation with a connected, well-scaled cell.
ARCHS: dict[str, str | None] = {
    "nb201": (
        "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_3x3~1|"
        "nor_conv_1x1~2|"
    ),
    "resnet": None,
    "vit": None,
    "cnn": None,
}
IMPLEMENTATIONS = ("hooks", "func", "autograd")


def check(
    device: str = "cuda",
    *,
    batch_size: int = 4,
    spaces: tuple[str, ...] = tuple(ARCHS),
    tolerance: float = 1e-4,
) -> dict[str, Any]:
    """Relative error of every implementation × kernel × bn mode on ``device``.

    Example:
        >>> r = check("cpu", spaces=("cnn",), batch_size=2)
        >>> r["passed"]
        True
    """
    dev = resolve_device(device)
    rows = []
    for space_name in spaces:
        space = search_spaces.create_search_space(space_name)
        arch = ARCHS.get(space_name) or space.sample(0).to_string()
        torch.manual_seed(0)
        model = space.build(arch, num_classes=10)
        x = torch.randn(batch_size, *space.input_shape)
        for bn in BN_MODES:
            for kernel in KERNELS:
                ref = empirical_ntk(
                    copy.deepcopy(model).double(),
                    x.double(),
                    kernel=kernel,
                    bn=bn,
                    implementation="reference",
                )
                for impl in IMPLEMENTATIONS:
                    if bn == "batch" and impl != "autograd":
                        continue  # per-sample implementations cannot follow coupled samples
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")  # hooks → func fallbacks are expected
                        got = empirical_ntk(
                            copy.deepcopy(model).to(dev),
                            x.to(dev),
                            kernel=kernel,
                            bn=bn,
                            implementation=impl,
                        )
                    err = float((got.double().cpu() - ref).norm() / ref.norm())
                    rows.append(
                        {
                            "space": space_name,
                            "implementation": impl,
                            "kernel": kernel,
                            "bn": bn,
                            "relative_error": err,
                            "ok": err <= tolerance,
                        }
                    )
    return {
        "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "batch_size": batch_size,
        "tolerance": tolerance,
        "rows": rows,
        "worst": max(r["relative_error"] for r in rows),
        "passed": all(r["ok"] for r in rows),
    }


def format_check(result: dict[str, Any]) -> str:
    lines = [
        f"engine vs float64 CPU reference on {result['device_name']} (torch {result['torch']}), "
        f"B={result['batch_size']}, tolerance {result['tolerance']:g}",
        f"{'space':<8} {'implementation':<10} {'kernel':<6} {'bn':<7} {'rel. error':>11}",
    ]
    for r in result["rows"]:
        flag = "" if r["ok"] else "  FAIL"
        lines.append(
            f"{r['space']:<8} {r['implementation']:<10} {r['kernel']:<6} {r['bn']:<7} "
            f"{r['relative_error']:>11.2e}{flag}"
        )
    lines.append(f"worst {result['worst']:.2e}: {'passed' if result['passed'] else 'FAILED'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--spaces", default=",".join(ARCHS))
    p.add_argument("--tolerance", type=float, default=1e-4)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    try:
        result = check(
            args.device,
            batch_size=args.batch_size,
            spaces=tuple(s for s in args.spaces.split(",") if s),
            tolerance=args.tolerance,
        )
    except ValueError as error:
        print(f"ntknas device check: {error}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2) if args.json else format_check(result))
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
