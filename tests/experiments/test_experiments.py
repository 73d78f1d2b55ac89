"""The experiments' own checks: each script is loaded from ``experiments/`` by path."""

from __future__ import annotations

import csv
import importlib.util
import json
import random
import sys
from pathlib import Path
from types import ModuleType

import pytest

import search_spaces

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


def _experiment(name: str) -> ModuleType:
    sys.path.insert(0, str(EXPERIMENTS))  # experiments import their siblings (``_pilot``)
    try:
        spec = importlib.util.spec_from_file_location(name, EXPERIMENTS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(EXPERIMENTS))
    return module


@pytest.mark.usefixtures("legacy_scores")  # the script registers them; the fixture removes them
def test_score_selection_splits_and_reports_fixed_and_selected_rules(tmp_path, capsys):
    """A made-up cache where one NTK metric follows accuracy: the selection finds it."""
    selection = _experiment("score_selection").main

    rng = random.Random(1)
    table, cache = tmp_path / "t.csv", tmp_path / "c.jsonl"
    with table.open("w", newline="") as f, cache.open("w") as c:
        w = csv.writer(f)
        w.writerow(["arch", "acc"])
        space = search_spaces.create_search_space("nb201")
        specs = [s for s in space.sample_distinct(60, 0) if not space.is_disconnected(s)][:40]
        for i, spec in enumerate(specs):
            arch = spec.arch
            acc = 50.0 + i
            w.writerow([arch, acc])
            metrics = {
                "log_cond": rng.random(),
                "trace": rng.random(),
                "krr_loss": rng.random(),
                "layer_lambda_min_cosine": acc + rng.random(),
                "naswot": rng.random(),
                "feature_decorrelation": rng.random(),
            }
            entry = {"key": f"s|64|{arch}", "metrics": metrics, "params": i, "flops": -i}
            c.write(json.dumps(entry) + "\n")
    selection([str(cache), str(table), "--target", "acc"])
    out = capsys.readouterr().out
    assert "40 connected architectures" in out
    assert "ntk-only-v2 (fixed a priori)" in out
    best_ntk = next(line for line in out.splitlines() if line.startswith("NTK-only selected"))
    assert best_ntk.split()[4] == "layer_lambda_min_cosine"
    assert float(best_ntk.split()[-2]) > 0.9  # tau on half B


def test_the_cross_space_protocol_selects_by_the_worst_table():
    protocol = _experiment("cross_space_rule")
    taus = {"a": {"t1": 0.9, "t2": 0.1}, "b": {"t1": 0.5, "t2": 0.4}, "c": {"t1": 0.45, "t2": 0.41}}
    candidates = {
        "a": {"x": "maximize"},
        "b": {"x": "maximize", "y": "maximize"},
        "c": {"x": "maximize"},
    }
    # b and c are within 0.01 of the best minimum; b has the higher mean
    assert protocol.select(taus, candidates) == "b"
    # the committed candidates: kernel-free defaults, NTK-only without size or forward terms
    from ntknas.objectives import KERNEL_PASS, get_objective

    for components in protocol.CANDIDATES.values():
        assert not any(get_objective(c).requires & KERNEL_PASS for c in components)
    forbidden = {"naswot", "flops", "params", "synflow", "feature_group_decorrelation"}
    for components in protocol.NTK_ONLY_CANDIDATES.values():
        assert not forbidden & set(components)
