"""Fixtures of the bench tests: made-up accuracy tables and a space with faults."""

from __future__ import annotations

import csv
import random

import pytest
import torch
from torch import nn

import search_spaces

#: NAS-Bench-Macro options that make its networks tiny (fast tests).
TINY_MACRO = {"init_channels": 4, "head_channels": 16}


@pytest.fixture
def macro_table(tmp_path):
    """A made-up NAS-Bench-Macro-style table (not benchmark data): accuracy grows with the number
    of inverted residuals; a made-up NASLib-style baseline column equal to minus the accuracy."""
    rng = random.Random(0)
    path = tmp_path / "macro.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["arch", "params", "acc", "naslib_fake"])
        for _ in range(6):
            key = "".join(rng.choice("012") for _ in range(8))
            acc = 50 + 5 * sum(d != "0" for d in key) + rng.random()
            w.writerow([key, 0, acc, -acc])
    return path


class _Explodes(nn.Module):
    """A network whose forward runs out of memory (a real MemoryError from the forward)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise MemoryError("cannot allocate 1 TiB")


class _PickySpace(search_spaces.SearchSpace):
    """nb201 with two faults: ``BAD`` does not build, ``HUGE`` runs out of memory."""

    name = "picky"

    def __init__(self, **_: object) -> None:
        self.inner = search_spaces.create_search_space("nb201")

    def parse(self, text: str) -> search_spaces.ArchSpec:
        if text in ("BAD", "HUGE"):
            return search_spaces.ArchSpec(self.name, text)
        return search_spaces.ArchSpec(self.name, self.inner.parse(text).arch)

    def build(self, spec, num_classes: int = 10) -> nn.Module:  # noqa: ANN001
        arch = spec if isinstance(spec, str) else spec.arch
        if arch == "BAD":
            raise ValueError("no such cell")
        if arch == "HUGE":
            return _Explodes()
        return self.inner.build(arch, num_classes)

    def sample(self, rng=None):  # noqa: ANN001
        return search_spaces.ArchSpec(self.name, self.inner.sample(rng).arch)

    def suggest(self, trial):  # noqa: ANN001
        return search_spaces.ArchSpec(self.name, self.inner.suggest(trial).arch)

    def trial_params(self, spec):  # noqa: ANN001
        return self.inner.trial_params(spec.arch if hasattr(spec, "arch") else spec)


@pytest.fixture
def picky(monkeypatch):
    monkeypatch.setitem(search_spaces._registry._REGISTRY, "picky", _PickySpace)


def write_rows(path, archs):
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["arch", "acc"])
        for i, a in enumerate(archs):
            w.writerow([a, 50 + i])
    return path
