"""``ntknas bench table --score``: only what the named scores read, the same rows and values as
the full run."""

from __future__ import annotations

import json

import pytest

import search_spaces
from ntknas.bench.score_table import run_score_table
from ntknas.bench.table import run_table, table_positions
from ntknas.cli import main
from ntknas.combined_scores import DEFAULT_SCORE, metrics_needed
from tests.bench.conftest import TINY_MACRO, write_rows

COMMON = dict(target="acc", space="nbmacro", batch_size=4, progress=False)


def test_the_default_score_needs_no_kernel_and_agrees_with_the_full_run(macro_table):
    light = run_score_table(
        str(macro_table), scores=[DEFAULT_SCORE], space_options=TINY_MACRO, **COMMON
    )
    assert light["needs_kernel"] is False
    assert set(light["correlations"]) == {DEFAULT_SCORE, *metrics_needed([DEFAULT_SCORE])}
    assert set(light["baselines"]) == {"params", "flops", "naslib_fake"}
    assert light["baselines"]["naslib_fake"]["kendall_tau"] == pytest.approx(-1.0)
    full = run_table(
        ground_truth=str(macro_table), proxies=True, space_options=TINY_MACRO, **COMMON
    )
    # a component ranks by its rule's direction: ntk-agg-v7 maximizes FLOPs (an objective of
    # its own would minimize it)
    assert light["correlations"]["flops"] == light["baselines"]["flops"]
    everything = {**full["correlations"], **full["baselines"]}
    # one ranking, whichever command computed it
    for name, row in light["correlations"].items():
        assert row["kendall_tau"] == pytest.approx(everything[name]["kendall_tau"]), name
    assert light["baselines"]["params"] == pytest.approx(full["baselines"]["params"])


@pytest.mark.slow
def test_a_kernel_metric_runs_the_kernel_and_agrees_with_the_full_run(macro_table):
    light = run_score_table(
        str(macro_table), scores=["log_cond"], space_options=TINY_MACRO, **COMMON
    )
    full = run_table(ground_truth=str(macro_table), space_options=TINY_MACRO, **COMMON)
    assert light["needs_kernel"] is True and list(light["correlations"]) == ["log_cond"]
    assert light["correlations"]["log_cond"]["kendall_tau"] == pytest.approx(
        full["correlations"]["log_cond"]["kendall_tau"]
    )


@pytest.mark.parametrize(
    ("selection", "count"),
    [({"n": 4, "seed": 1}, 4), ({"part": "pilot"}, 2), ({"n": 2, "skip": 3}, 2)],
)
def test_rows_are_the_full_runs_rows(macro_table, selection, count):
    r = run_score_table(
        str(macro_table), scores=["flops"], space_options=TINY_MACRO, **COMMON, **selection
    )
    positions = table_positions(
        6,
        selection.get("n"),
        selection.get("seed", 0),
        selection.get("skip", 0),
        None,
        selection.get("part"),
    )
    assert r["n"] == len(positions) == count
    assert r["part"] == selection.get("part") and r["skip"] == selection.get("skip", 0)


def test_cli_json_and_usage_errors(macro_table, capsys):
    argv = ["bench", "table", "--space", "nbmacro", "--ground-truth", str(macro_table)]
    argv += ["--target", "acc", "--batch-size", "4"]
    argv += [f"--space-option={k}={v}" for k, v in TINY_MACRO.items()]
    assert main([*argv, "--score", "naswot,flops", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out["correlations"]) == ["naswot", "flops"] and out["n_correlated"] == 6
    for extra, message in (
        (["--score", "no-such-score"], "no-such-score"),
        (["--score", "flops", "--cache", "c.jsonl"], "--cache belongs to the full run"),
        (["--score", "flops", "--configs", "sum/64/all/1"], "--configs belongs to the full run"),
    ):
        assert main([*argv, *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err, err


def test_a_network_out_of_memory_is_skipped_and_reported(picky, tmp_path):
    nb201 = search_spaces.create_search_space("nb201")
    archs = [nb201.sample(s).arch for s in range(3)]
    path = write_rows(tmp_path / "t.csv", [archs[0], "HUGE", archs[1], archs[2]])
    r = run_score_table(
        str(path), "acc", [DEFAULT_SCORE], space="picky", batch_size=2, progress=False
    )
    assert r["n"] == 4 and r["n_skipped"] == 1 and list(r["skipped"]) == ["HUGE"]
    assert "out of memory: MemoryError" in r["skipped"]["HUGE"]
    assert r["n_correlated"] == 3 - r["n_disconnected"]
