"""The examples/ scripts run (small settings, synthetic images)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parents[1] / "examples"


def run(script: str, *args: str) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(EXAMPLES.parent)}
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.mark.slow
def test_prescreen_own_builder():
    out = run("prescreen_own_builder.py", "--trials", "2", "--steps", "2")
    assert out.count("trial ") == 2 and "best:" in out


@pytest.mark.slow
def test_prescreened_median_pruner():
    out = run("prescreened_median_pruner.py", "--trials", "6", "--keep", "0.5")
    assert "PRUNED" in out or "COMPLETE" in out


@pytest.mark.slow
def test_journal_workers(tmp_path):
    out = run(
        "journal_workers.py", "--workers", "2", "--trials", "2", "--journal", str(tmp_path / "j")
    )
    assert out.count("scored") == 2 and "4 trials" in out
