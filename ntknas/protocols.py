"""Named short-training protocols and their measured agreement with long training.

A protocol is a reduced setting of :func:`ntknas.train.train_short` (fewer images, fewer epochs,
lower resolution) plus, per search space, the options of the trained copy (narrower, shallower).
Its ``agreement`` is what ``experiments/short_training_protocol.py`` measured: Kendall τ between
the protocol's accuracy and a benchmark table's long-training accuracy on dev networks, with a
bootstrap interval, and the CPU minutes one network took. ``ntknas validate`` prints it next to
its correlations, so the reader knows how much the ground truth itself is worth.

Example:
    >>> get_protocol("reduced-30k").train["epochs"]
    3
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: The trained copy of every protocol below, per space: NB201 with 8 channels and one cell per
#: stage (the benchmark: 16 channels, 5 cells), NAS-Bench-Macro at a quarter of its width.
REDUCED_COPY: dict[str, dict[str, Any]] = {
    "nb201": {"channels": 8, "cells": 1},
    "nbmacro": {"init_channels": 8, "head_channels": 320},
}

#: The tables the agreement was measured on (``experiments/short_training_protocol.py``: 40
#: dev networks each, results/validate/protocol/protocol.md).
NB201_TABLE = "NAS-Bench-201 CIFAR-10 (200 epochs)"
MACRO_TABLE = "NAS-Bench-Macro CIFAR-10"

_COMMON: dict[str, Any] = {
    "resolution": 16,
    "batch_size": 128,
    "lr": 0.1,
    "momentum": 0.9,
    "weight_decay": 5e-4,
    "test_subset": 2000,
    "augmentation": True,
}


@dataclass(frozen=True)
class Agreement:
    """Kendall τ (95 % bootstrap interval) of a protocol's accuracy against a table's."""

    table: str
    n: int
    kendall_tau: float
    low: float
    high: float
    cpu_minutes: float  # median per network, one thread

    def describe(self) -> str:
        return (
            f"{self.table}: τ {self.kendall_tau:.2f} [{self.low:.2f}, {self.high:.2f}] "
            f"(n={self.n}, {self.cpu_minutes:.2f} CPU-min/network)"
        )


@dataclass(frozen=True)
class TrainingProtocol:
    """Training settings (``train:`` keys) and per-space options of the trained copy."""

    name: str
    description: str
    train: dict[str, Any]
    space_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    agreement: dict[str, Agreement] = field(default_factory=dict)

    def settings(self, space: str) -> dict[str, Any]:
        """The ``train:`` keys of this protocol for ``space`` (``space_options`` included)."""
        return {**self.train, "space_options": dict(self.space_options.get(space, {}))}


#: The protocols, cheapest first (CPU time per network). Settings fixed before their agreement
#: was measured; ``reduced-32px-30k`` (the resolution's effect at ``reduced-30k``'s images) was
#: added after ``reduced-10k`` and ``reduced-30k`` had been measured, before it was run;
#: ``reduced-180k`` (twice ``reduced-90k``'s images seen, still under the 5 CPU-minutes the issue
#: allows) after the first four had been measured, before it was run; ``reduced-350k`` (the whole
#: training split × 7 epochs, about twice ``reduced-180k``'s images seen) after ``reduced-180k``
#: reached τ 0.6 on NAS-Bench-201 but not on NAS-Bench-Macro, before it was run.
PROTOCOLS: dict[str, TrainingProtocol] = {
    p.name: p
    for p in (
        TrainingProtocol(
            "reduced-10k",
            "reduced copy, 16 px, 5,000 images × 2 epochs (10k images seen)",
            {**_COMMON, "subset": 5000, "epochs": 2},
            REDUCED_COPY,
            {
                "nb201": Agreement(NB201_TABLE, 40, 0.142, -0.1, 0.4, 0.07),
                "nbmacro": Agreement(MACRO_TABLE, 40, -0.166, -0.39, 0.07, 0.14),
            },
        ),
        TrainingProtocol(
            "reduced-30k",
            "reduced copy, 16 px, 10,000 images × 3 epochs (30k images seen)",
            {**_COMMON, "subset": 10000, "epochs": 3},
            REDUCED_COPY,
            {
                "nb201": Agreement(NB201_TABLE, 40, 0.281, 0.07, 0.46, 0.16),
                "nbmacro": Agreement(MACRO_TABLE, 40, 0.03, -0.2, 0.26, 0.49),
            },
        ),
        TrainingProtocol(
            "reduced-90k",
            "reduced copy, 16 px, 15,000 images × 6 epochs (90k images seen)",
            {**_COMMON, "subset": 15000, "epochs": 6},
            REDUCED_COPY,
            {
                "nb201": Agreement(NB201_TABLE, 40, 0.559, 0.36, 0.74, 0.66),
                "nbmacro": Agreement(MACRO_TABLE, 40, 0.328, 0.11, 0.53, 1.35),
            },
        ),
        TrainingProtocol(
            "reduced-32px-30k",
            "reduced copy at full resolution (32 px), 10,000 images × 3 epochs (30k images seen)",
            {**_COMMON, "subset": 10000, "epochs": 3, "resolution": 32},
            REDUCED_COPY,
            {
                "nb201": Agreement(NB201_TABLE, 40, 0.536, 0.42, 0.64, 0.82),
                "nbmacro": Agreement(MACRO_TABLE, 40, 0.195, -0.04, 0.4, 1.53),
            },
        ),
        TrainingProtocol(
            "reduced-180k",
            "reduced copy, 16 px, 30,000 images × 6 epochs (180k images seen)",
            {**_COMMON, "subset": 30000, "epochs": 6},
            REDUCED_COPY,
            {
                "nb201": Agreement(NB201_TABLE, 40, 0.632, 0.47, 0.77, 1.23),
                "nbmacro": Agreement(MACRO_TABLE, 40, 0.529, 0.38, 0.67, 2.92),
            },
        ),
        TrainingProtocol(
            "reduced-350k",
            "reduced copy, 16 px, all 50,000 training images × 7 epochs (350k images seen)",
            {**_COMMON, "subset": 50000, "epochs": 7},
            REDUCED_COPY,
            {
                "nb201": Agreement(NB201_TABLE, 40, 0.701, 0.55, 0.84, 1.87),
                "nbmacro": Agreement(MACRO_TABLE, 40, 0.668, 0.53, 0.79, 2.42),
            },
        ),
    )
}


#: What ``ntknas validate`` trains with when the config sets no training key: chosen by the rule
#: committed with the measurement (experiments/short_training_protocol.py).
DEFAULT_PROTOCOL = "reduced-350k"


def list_protocols() -> list[str]:
    """Protocol names, cheapest first."""
    return list(PROTOCOLS)


def get_protocol(name: str) -> TrainingProtocol:
    """The protocol called ``name``; ``KeyError`` names the allowed ones."""
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise KeyError(
            f"unknown training protocol {name!r}; allowed: {', '.join(PROTOCOLS)}"
        ) from None
