"""Correctness of the NTK engine on an accelerator: every implementation × kernel × bn mode on a
real architecture of each search space, against the float64 reference loop on the CPU.

Run it first on a GPU machine (``tools/gpu_check.sh`` does), before timing anything::

    python -m ntknas.bench.device_check --device cuda --json

Each row is the relative Frobenius error ‖Θ_device − Θ_ref‖ / ‖Θ_ref‖ against the float64 CPU
loop on the same weights and images, of the device's float64 kernel (the same arithmetic: must be
≤ 1e-9) and of its float32 kernel (TF32 off, the engine's default). What float32 can reach depends
on the network: BatchNorm on the statistics of 4 images divides by small standard deviations, so
on NB201 even the plain float32 loop on the CPU is 4e-4 off (frozen) and 2e-3 (full kernel) while
eval mode is 5e-8 off. The float32 bound is therefore relative to that loop: at most ``factor``
(10) times the float32 CPU reference loop's own error, or ``tolerance`` (1e-4) where that is more.
Exit status 1 when a row is above its bound.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import warnings
from pathlib import Path
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
    factor: float = 10.0,
    space_options: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Relative error of every implementation × kernel × bn mode on ``device``.

    Example:
        >>> small = {"cnn": {"stages": (2, 2), "depth": (1, 1), "width": (8, 8)}}
        >>> r = check("cpu", spaces=("cnn",), batch_size=2, space_options=small)
        >>> r["passed"]
        True
    """
    dev = resolve_device(device)
    rows = []
    for space_name in spaces:
        space = search_spaces.create_search_space(
            space_name, **(space_options or {}).get(space_name, {})
        )
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
                loop32 = empirical_ntk(
                    copy.deepcopy(model), x, kernel=kernel, bn=bn, implementation="reference"
                )
                floor = float((loop32.double() - ref).norm() / ref.norm())
                bound = max(tolerance, factor * floor)
                for impl in IMPLEMENTATIONS:
                    if bn == "batch" and impl != "autograd":
                        continue  # per-sample implementations cannot follow coupled samples
                    errors = {}
                    for dtype in (torch.float64, torch.float32):
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore")  # hooks → func fallbacks expected
                            got = empirical_ntk(
                                copy.deepcopy(model).to(dev, dtype),
                                x.to(dev, dtype),
                                kernel=kernel,
                                bn=bn,
                                implementation=impl,
                            )
                        errors[dtype] = float((got.double().cpu() - ref).norm() / ref.norm())
                    rows.append(
                        {
                            "space": space_name,
                            "implementation": impl,
                            "kernel": kernel,
                            "bn": bn,
                            "float64_error": errors[torch.float64],
                            "float32_error": errors[torch.float32],
                            "float32_loop_error": floor,
                            "float32_bound": bound,
                            "ok": errors[torch.float64] <= 1e-9 and errors[torch.float32] <= bound,
                        }
                    )
    return {
        "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "batch_size": batch_size,
        "tolerance": tolerance,
        "factor": factor,
        "rows": rows,
        "worst_float64": max(r["float64_error"] for r in rows),
        "worst_float32": max(r["float32_error"] for r in rows),
        "passed": all(r["ok"] for r in rows),
    }


def format_check(result: dict[str, Any]) -> str:
    lines = [
        f"engine on {result['device_name']} (torch {result['torch']}) vs the float64 CPU "
        f"reference loop, B={result['batch_size']}: relative Frobenius error in float64 "
        f"(must be <= 1e-9) and float32 (<= {result['factor']:g}x the float32 CPU loop's error "
        f"'loop32', at least {result['tolerance']:g})",
        f"{'space':<8} {'impl':<9} {'kernel':<6} {'bn':<7} {'float64':>9} {'float32':>9} "
        f"{'loop32':>9}",
    ]
    for r in result["rows"]:
        flag = "" if r["ok"] else "  FAIL"
        lines.append(
            f"{r['space']:<8} {r['implementation']:<9} {r['kernel']:<6} {r['bn']:<7} "
            f"{r['float64_error']:>9.1e} {r['float32_error']:>9.1e} "
            f"{r['float32_loop_error']:>9.1e}{flag}"
        )
    lines.append(
        f"worst float64 {result['worst_float64']:.1e}, worst float32 {result['worst_float32']:.1e}: "
        f"{'passed' if result['passed'] else 'FAILED'}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--spaces", default=",".join(ARCHS))
    p.add_argument("--tolerance", type=float, default=1e-4, help="float32 bound at least")
    p.add_argument(
        "--factor", type=float, default=10.0, help="float32 bound: x the float32 CPU loop's error"
    )
    p.add_argument("--json", action="store_true")
    p.add_argument("--output", help="also write PREFIX.json and PREFIX.md")
    args = p.parse_args(argv)
    try:
        result = check(
            args.device,
            batch_size=args.batch_size,
            spaces=tuple(s for s in args.spaces.split(",") if s),
            tolerance=args.tolerance,
            factor=args.factor,
        )
    except ValueError as error:
        print(f"ntknas device check: {error}", file=sys.stderr)
        return 2
    table = format_check(result)
    if args.output:
        Path(f"{args.output}.json").write_text(json.dumps(result, indent=2) + "\n")
        command = "python -m ntknas.bench.device_check " + " ".join(argv or sys.argv[1:])
        Path(f"{args.output}.md").write_text(f"```\n{command}\n```\n\n```\n{table}\n```\n")
    print(json.dumps(result, indent=2) if args.json else table)
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
