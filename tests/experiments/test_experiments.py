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
    spec = importlib.util.spec_from_file_location(name, EXPERIMENTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    before = sys.modules.get(name)
    sys.modules[name] = module  # while it runs: dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(EXPERIMENTS))
        if before is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = before
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


def test_the_second_cross_space_round_judges_on_rows_no_rule_was_chosen_on(tmp_path):
    round2 = _experiment("cross_space_round2")
    from ntknas.bench.table import sample_positions
    from ntknas.objectives import KERNEL_PASS, get_objective

    first = round2.tables(tmp_path, "c10", "c100", tmp_path)
    judged = round2.judge_tables(first)
    assert judged.keys() == first.keys()
    for name, spec in judged.items():
        before = first[name]
        if spec["space"] in ("nb201", "nbmacro"):  # fresh rows after round 1's sample
            rows = 5000 if spec["space"] == "nb201" else 1500
            used = set(sample_positions(rows, before["n"], before["seed"]))
            fresh = sample_positions(rows, spec["n"], spec["seed"], spec["skip"])
            assert not used & set(fresh) and len(fresh) == 300
        elif spec["space"] == "nb101":
            assert before["shard"] == (0, 2) and spec["shard"] == (1, 2)
        else:
            assert spec["part"] == "evaluation"
    # the incumbents compete; the default candidates are kernel-free, NTK-only reads no size
    # or forward term
    assert round2.CANDIDATES[round2.INCUMBENT] == {
        "feature_group_decorrelation": "maximize",
        "backward_group_decorrelation": "maximize",
        "flops": "maximize",
    }
    for components in round2.CANDIDATES.values():
        assert not any(get_objective(c).requires & KERNEL_PASS for c in components)
    for components in round2.NTK_ONLY_CANDIDATES.values():
        assert not any(c in ("naswot", "flops", "params", "synflow") for c in components)
        assert not any(c.startswith("feature_") for c in components)
    taus = {"new": {"a": 0.7, "b": 0.6}, "old": {"a": 0.8, "b": 0.55}}
    assert round2.decide(taus, "new", "old") == "new"  # worst table 0.6 > 0.55
    assert round2.decide({**taus, "new": {"a": 0.9, "b": 0.5}}, "new", "old") == "old"
    # runs on parts of the tables combine into one selection over all of them (made-up taus)
    names = [*round2.CANDIDATES, *round2.NTK_ONLY_CANDIDATES]
    parts = []
    for table, tau in (("t1", lambda i: 0.1 * i), ("t2", lambda i: 0.5 - 0.25 * (i == 4))):
        report = {"part": "pilot", "tables": {table: 3}}
        report["kendall_tau"] = {n: {table: tau(i)} for i, n in enumerate(names)}
        report["spearman_rho"] = {n: {table: 0.0} for n in names}
        parts.append(tmp_path / f"{table}.json")
        parts[-1].write_text(json.dumps(report))
    merged = round2.combine(parts)
    assert merged["tables"] == {"t1": 3, "t2": 3}
    assert merged["selected"] == "groups16"  # groups32 is best on t1, worst on t2
    assert "selected default: groups16" in round2.format_report(merged)


def test_short_training_protocol_trains_the_draw_and_applies_the_committed_rule(tmp_path):
    """Made-up dev tables (60 rows each): the draw is seeded and distinct; the summary applies
    the committed default rule to made-up runs (one protocol following the tables, one not)."""
    experiment = _experiment("short_training_protocol")
    from ntknas.protocols import list_protocols

    data = tmp_path / "data"
    (data / "nb201").mkdir(parents=True)
    (data / "nbmacro").mkdir()
    nb201 = search_spaces.create_search_space("nb201")
    rows201 = [s.arch for s in nb201.sample_distinct(120, 0) if not nb201.is_disconnected(s)]
    with (data / "nb201/nb201_cifar10_dev.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["index", "arch", "cifar10_test_acc"])
        for i, arch in enumerate(rows201[:60]):
            w.writerow([i, arch, 50 + i / 2])
    macro = search_spaces.create_search_space("nbmacro")
    keys = sorted({macro.canonical(s).arch for s in macro.sample_distinct(200, 0)})[:60]
    with (data / "nbmacro/nbmacro_cifar10_dev.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["arch", "cifar10_test_acc"])
        for i, key in enumerate(keys):
            w.writerow([key, 80 + i / 4])
    drawn = {s: experiment.networks(data, s) for s in experiment.TABLES}
    assert all(len(v) == experiment.N_NETWORKS == len(set(v)) for v in drawn.values())
    assert drawn == {s: experiment.networks(data, s) for s in experiment.TABLES}  # seeded

    out = tmp_path / "out"
    out.mkdir()
    cheap, second, partial, *_ = list_protocols()
    with (out / "runs.jsonl").open("w") as f:
        for space, rows in drawn.items():
            for arch, acc in rows:
                for protocol, value in ((cheap, acc), (second, -acc)):
                    run = {
                        "space": space,
                        "arch": arch,
                        "protocol": protocol,
                        "accuracy": value,
                        "cpu_seconds": 6.0 if protocol == cheap else 60.0,
                    }
                    f.write(json.dumps(run) + "\n")
        # a partial run, the cheapest and perfect where it ran, but not measured on every network
        partial_runs = [("nb201", r) for r in drawn["nb201"]]
        partial_runs += [("nbmacro", r) for r in drawn["nbmacro"][:7]]
        for space, (arch, acc) in partial_runs:
            run = {
                "space": space,
                "arch": arch,
                "protocol": partial,
                "accuracy": acc,
                "cpu_seconds": 1.0,
            }
            f.write(json.dumps(run) + "\n")
    args = experiment.argparse.Namespace(data=str(data), out=str(out))
    summary = experiment.summarize(args)
    assert summary["protocols"][cheap]["nb201"]["kendall_tau"] == pytest.approx(1.0)
    assert summary["protocols"][second]["nbmacro"]["kendall_tau"] == pytest.approx(-1.0)
    assert summary["protocols"][partial]["nbmacro"]["n"] == 7
    assert summary["default"] == cheap  # the cheapest reaching τ ≥ 0.6 on both
    assert (out / "protocol.md").read_text().count(f"`{cheap}`") == 3  # two rows, the default


def test_the_fifth_cross_space_round_selects_on_the_pilot_and_judges_on_fresh_rows(tmp_path):
    round5 = _experiment("cross_space_round5")
    from ntknas.bench.table import sample_positions
    from ntknas.combined_scores import get_score
    from ntknas.objectives import KERNEL_PASS, get_objective

    # the default candidates are kernel-free; the NTK-only ones read no size, FLOPs or forward
    # term (ZiCo is a gradient signal); both incumbents compete
    assert round5.CANDIDATES[round5.INCUMBENT] == get_score("ntk-agg-v7").components
    assert round5.NTK_ONLY[round5.NTK_INCUMBENT] == get_score("ntk-only-v6").components
    for components in round5.CANDIDATES.values():
        assert not any(get_objective(c).requires & KERNEL_PASS for c in components)
    for components in round5.NTK_ONLY.values():
        assert not {"naswot", "flops", "params", "synflow"} & set(components)
        assert not any(c.startswith("feature_") for c in components)
    # the judge's NB201 / NB-Macro rows are none of rounds 1-4's
    specs = round5.specs_for("judge", tmp_path, "c10", "c100")
    for name, spec in specs.items():
        if spec["space"] in ("nb201", "nbmacro"):
            rows = 5000 if spec["space"] == "nb201" else 1500
            used = set(sample_positions(rows, spec["skip"], spec["seed"]))
            fresh = sample_positions(rows, spec["n"], spec["seed"], spec["skip"])
            assert not spec["seen"] and not used & set(fresh) and len(fresh) == 300, name
        else:
            assert spec["seen"], name
    # selections: the worst table for the default, the worst margin over #params for NTK-only
    names = [*round5.CANDIDATES, *round5.NTK_ONLY, "params"]
    taus = {n: {"t1": 0.5, "t2": 0.5} for n in names}
    taus["groups-all+zico"] = {"t1": 0.9, "t2": 0.503}  # worst table not the best
    taus["feature-all+zico+flops"] = {"t1": 0.52, "t2": 0.52}
    taus["params"] = {"t1": 0.6, "t2": 0.2}
    taus["zico"] = {"t1": 0.55, "t2": 0.3}  # margins -0.05 / 0.1 vs the incumbent's -0.1
    assert round5.select(taus) == ("feature-all+zico+flops", "zico")
    assert round5.margins(taus, ["zico"]) == {"zico": pytest.approx(-0.05)}
    assert round5.decide(taus, ("feature-all+zico+flops", "zico")) == (
        "feature-all+zico+flops",
        "zico",
    )
    worse = {**taus, "zico": {"t1": 0.45, "t2": 0.9}}  # margin -0.15 < the incumbent's -0.1
    assert round5.decide(worse, ("groups-all+flops", "zico")) == (
        "groups-all+flops",
        "backward-groups+trace",
    )
    # round 1's evaluation rows (the spaces × scores table): the pilot's complement
    from ntknas.bench.table import table_positions

    evaluation = round5.round1_specs(tmp_path, "c10", "c100")
    pilot = round5.specs_for("pilot", tmp_path, "c10", "c100")
    assert set(evaluation) == set(pilot)
    for name, spec in evaluation.items():
        assert spec["part"] == "evaluation" and pilot[name]["part"] == "pilot", name
        assert {k: v for k, v in spec.items() if k != "part"} == {
            k: v for k, v in pilot[name].items() if k != "part"
        }, name
    # as many rows as results/README.md's table has (NB201 133, NB-Macro 400 before the
    # disconnected cells are dropped)
    for name, rows, size in (("nb201-c10", 5000, 133), ("nbmacro", 1500, 400)):
        spec = evaluation[name]
        positions = table_positions(rows, spec["n"], spec["seed"], part=spec["part"])
        assert len(positions) == size, name


def test_the_sixth_cross_space_round_selects_on_the_pilot_and_judges_on_fresh_nb201_rows(tmp_path):
    round6 = _experiment("cross_space_round6").ROUND6
    from ntknas.bench.table import sample_positions
    from ntknas.combined_scores import get_score
    from ntknas.objectives import KERNEL_PASS, get_objective

    assert round6.candidates["groups-all+flops"] == get_score("ntk-agg-v7").components
    assert round6.all_ntk_only["backward-groups+trace"] == get_score("ntk-only-v6").components
    for components in round6.candidates.values():
        assert not any(get_objective(c).requires & KERNEL_PASS for c in components)
    for components in round6.all_ntk_only.values():
        assert not {"naswot", "flops", "params", "synflow"} & set(components)
        assert not any(c.startswith("feature_") for c in components)
    assert not any(get_objective(c).requires & KERNEL_PASS for c in round6.needs)
    # the judge's NB201 rows are none of rounds 1-5's; every other table is seen
    specs = round6.judge_specs(tmp_path, "c10", "c100")
    for name, spec in specs.items():
        if spec["space"] == "nb201":
            used = set(sample_positions(5000, 1100, spec["seed"]))
            fresh = sample_positions(5000, spec["n"], spec["seed"], spec["skip"])
            assert not spec["seen"] and not used & set(fresh) and len(fresh) == 300, name
        else:
            assert spec["seen"], name
    assert (specs["nbmacro"]["skip"], specs["nbmacro"]["n"]) == (1200, 300)
    # selections as round 5; the decision also asks for the fresh tables' mean
    names = [*round6.candidates, *round6.all_ntk_only, "params"]
    taus = {n: {"fresh": 0.5, "seen": 0.5} for n in names}
    taus["groups-sum"] = {"fresh": 0.52, "seen": 0.52}
    taus["params"] = {"fresh": 0.3, "seen": 0.3}
    taus["backward-sum"] = {"fresh": 0.9, "seen": 0.9}
    assert round6.select(taus) == ("groups-sum", "backward-sum")
    assert round6.decide(taus, ["fresh"], ("groups-sum", "backward-sum")) == (
        "groups-sum",
        "backward-sum",
    )
    lower_fresh = {**taus, "groups-sum": {"fresh": 0.51, "seen": 0.9}}
    lower_fresh["groups-all+flops"] = {"fresh": 0.52, "seen": 0.5}
    assert round6.decide(lower_fresh, ["fresh"], ("groups-sum", "backward-sum"))[0] == (
        "groups-all+flops"
    )
    # the NTK-only margin is judged where the incumbent was computed (the kernel tables)
    only_fresh = {**taus, "backward-groups+trace": {"fresh": 0.95}}
    assert round6.decide(only_fresh, ["fresh"], ("groups-sum", "backward-sum"))[1] == (
        "backward-groups+trace"
    )


def test_the_seventh_cross_space_round_judges_on_nb201_rows_no_round_has_read():
    round7 = _experiment("cross_space_round7").ROUND7
    from ntknas.bench.table import sample_positions
    from ntknas.combined_scores import get_score
    from ntknas.objectives import KERNEL_PASS, get_objective

    assert round7.candidates["groups-all+flops"] == get_score("ntk-agg-v7").components
    assert round7.all_ntk_only["backward-groups+trace"] == get_score("ntk-only-v6").components
    assert not any(get_objective(c).requires & KERNEL_PASS for c in round7.needs)
    for components in round7.all_ntk_only.values():
        assert not {"naswot", "flops", "params", "synflow"} & set(components)
        assert not any(c.startswith("feature_") for c in components)
    specs = round7.judge_specs(Path("data"), "c10", "c100")
    for name, spec in specs.items():
        if spec["space"] == "nb201":
            used = set(sample_positions(5000, 1400, spec["seed"]))  # rounds 1-6
            fresh = sample_positions(5000, spec["n"], spec["seed"], spec["skip"])
            assert not spec["seen"] and not used & set(fresh) and len(fresh) == 300, name
        else:
            assert spec["seen"], name
    taus = {n: {"t": 0.5} for n in [*round7.candidates, *round7.all_ntk_only, "params"]}
    taus["dimensions"] = {"t": 0.504}  # within 0.005 of the incumbent: the incumbent
    assert round7.select(taus) == ("groups-all+flops", "backward-groups+trace")
