"""``ntknas bench nb201``: rank correlation of NTK metrics with a NAS-Bench-201 accuracy table.

The NAS-Bench-201 case of :mod:`ntknas.bench.table` (``ntknas bench table --space nb201``),
with the published anchors of that benchmark printed beside the table. Cells with no
input→output path (their logits ignore the image; the benchmark gives them 10%) are counted
and, by default, left out of the correlations.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ntknas.bench.table import (
    ablate,
    available_scores,
    derivable,
    format_table,
    parse_settings,
    read_cache,
    read_ground_truth,
    run_table,
    setting_name,
)

__all__ = [
    "ANCHORS",
    "ablate",
    "available_scores",
    "cached_population",
    "derivable",
    "format_nb201",
    "parse_settings",
    "read_cache",
    "read_ground_truth",
    "run_nb201",
    "setting_name",
]

ANCHORS = {
    "ntk_cond (ZiCo paper)": {"kendall_tau": 0.33},
    "params": {"kendall_tau": 0.577, "spearman_rho": 0.753},
    "naswot": {"spearman_rho": "0.69-0.77"},
    "synflow": {"spearman_rho": 0.74},
    "az-nas": {"kendall_tau": 0.741, "spearman_rho": 0.913},
}


def cached_population(path: str | Path) -> list[tuple[str, dict[str, float]]]:
    """(architecture, its metrics with ``params`` and ``flops``) for every entry of a
    ``bench nb201`` ``--cache`` file, in file order. Keys are the setting fields, then the
    ``|...|`` arch string after the first ``||``."""
    return [
        ("|" + key.split("||", 1)[1], {**e["metrics"], "params": e["params"], "flops": e["flops"]})
        for key, e in read_cache(path).items()
    ]


def run_nb201(*, ground_truth: str, target: str, **options: Any) -> dict[str, Any]:
    """:func:`ntknas.bench.table.run_table` on the ``nb201`` space, with the published anchors."""
    result = run_table(space="nb201", ground_truth=ground_truth, target=target, **options)
    return {**result, "anchors": ANCHORS}


def format_nb201(result: dict[str, Any]) -> str:
    return "\n".join(
        [
            format_table(result),
            "",
            "anchors (published, NAS-Bench-201 CIFAR-10): NTK cond tau 0.33 (ZiCo); #params tau "
            "0.577 rho 0.753; NASWOT rho 0.69-0.77; synflow rho 0.74; AZ-NAS tau 0.741 rho 0.913",
        ]
    )
