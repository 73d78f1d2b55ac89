"""Marks the doctests that take several seconds as ``slow`` (tests mark themselves), so
``pytest -m "not slow"`` is the fast run."""

from __future__ import annotations

import pytest

SLOW_DOCTESTS = {
    "ntknas.bench.device_check.check",
    "ntknas.bench.stability.init_stability",
    "ntknas.scorer.NTKScorer",
    "ntknas.scorer.NTKScorer.score_kernels",
    "ntknas.study",
    "ntknas.study._screen.screen",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if isinstance(item, pytest.DoctestItem) and item.name in SLOW_DOCTESTS:
            item.add_marker(pytest.mark.slow)
