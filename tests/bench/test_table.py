"""``ntknas bench table``: any registered space against a CSV of accuracies."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import search_spaces
from ntknas.bench.table import read_table, run_table
from ntknas.cli import main
from ntknas.combined_scores import DEFAULT_SCORE
from ntknas.data import DataError
from ntknas.objectives import metric_direction
from tests.bench.conftest import TINY_MACRO, write_rows
from tests.helpers import write_imagefolder


@pytest.mark.slow
def test_table_json_contract_and_baselines(macro_table, capsys):
    argv = ["bench", "table", "--space", "nbmacro", "--ground-truth", str(macro_table)]
    argv += ["--target", "acc", "--batch-size", "4", "--proxies", "--json"]
    argv += [f"--space-option={k}={v}" for k, v in TINY_MACRO.items()]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"n", "correlations", "baselines", "default_score"} <= set(out)
    assert out["n"] == 6 and out["space"] == "nbmacro"
    assert out["space_options"] == TINY_MACRO
    assert set(out["baselines"]) == {"params", "flops", "naslib_fake"}
    # the made-up baseline is minus the accuracy: it ranks exactly backwards
    assert out["baselines"]["naslib_fake"]["kendall_tau"] == pytest.approx(-1.0)
    assert out["default_score"] == DEFAULT_SCORE and DEFAULT_SCORE in out["correlations"]
    assert "synflow" in out["correlations"] and "naswot" in out["correlations"]
    assert metric_direction("synflow") == "maximize"


@pytest.mark.slow
def test_table_caches_per_space_and_options(macro_table, tmp_path):
    cache = tmp_path / "c.jsonl"
    kwargs = dict(
        space="nbmacro",
        ground_truth=str(macro_table),
        target="acc",
        batch_size=4,
        progress=False,
        cache=cache,
        space_options=TINY_MACRO,
    )
    first = run_table(**kwargs)
    lines = cache.read_text().splitlines()
    assert len(lines) == 6
    assert all(json.loads(line)["key"].split("|")[-1].startswith("nbmacro{") for line in lines)
    assert all("synflow" in json.loads(line)["metrics"] for line in lines)
    second = run_table(**kwargs)
    assert len(cache.read_text().splitlines()) == 6  # served from the cache
    assert second["correlations"] == first["correlations"]
    # other space options are other networks: not served from that cache
    run_table(**{**kwargs, "space_options": {"init_channels": 8, "head_channels": 16}})
    assert len(cache.read_text().splitlines()) == 12


@pytest.mark.parametrize(
    ("content", "argv_extra", "message"),
    [
        ("arch,acc\n00000000,50\n", ["--target", "top1"], "no column 'top1'"),
        ("arch,acc\n00000000,50\n0120,51\n", ["--target", "acc"], "line 3: nbmacro: '0120' has 4"),
        ("arch,acc\n00000000,\n", ["--target", "acc"], "line 2: acc='' is not a number"),
        ("key,acc\n00000000,50\n", ["--target", "acc"], "no column 'arch'"),
    ],
)
def test_bad_tables_exit_2_with_one_line(tmp_path, capsys, content, argv_extra, message):
    path = tmp_path / "t.csv"
    path.write_text(content)
    argv = ["bench", "table", "--space", "nbmacro", "--ground-truth", str(path), *argv_extra]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err


def test_arch_column_and_unknown_space(tmp_path, capsys):
    path = tmp_path / "t.csv"
    path.write_text("key,acc\n00000000,50\n22222222,90\n")
    assert read_table(path, "acc", space="nbmacro", arch_column="key").archs == [
        "00000000",
        "22222222",
    ]
    assert (
        main(
            ["bench", "table", "--space", "nope", "--ground-truth", str(path)] + ["--target", "acc"]
        )
        == 2
    )
    assert "unknown search space 'nope'" in capsys.readouterr().err


def test_a_row_that_does_not_build_stops_before_scoring(picky, tmp_path, capsys):
    nb201 = search_spaces.create_search_space("nb201")
    path = write_rows(tmp_path / "t.csv", [nb201.sample(0).arch, "BAD"])
    cache = tmp_path / "c.jsonl"
    argv = ["bench", "table", "--space", "picky", "--ground-truth", str(path), "--target", "acc"]
    assert main([*argv, "--cache", str(cache), "--batch-size", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert "architecture 2 (BAD) does not build in picky: ValueError: no such cell" in err
    assert not cache.exists() or cache.read_text() == ""  # nothing was scored


def test_a_network_out_of_memory_is_skipped_and_reported(picky, tmp_path):
    nb201 = search_spaces.create_search_space("nb201")
    archs = [nb201.sample(s).arch for s in range(3)]
    path = write_rows(tmp_path / "t.csv", [archs[0], "HUGE", archs[1], archs[2]])
    r = run_table(space="picky", ground_truth=str(path), target="acc", batch_size=2, progress=False)
    assert r["n"] == 4 and r["n_skipped"] == 1 and list(r["skipped"]) == ["HUGE"]
    assert "out of memory: MemoryError: cannot allocate 1 TiB" in r["skipped"]["HUGE"]
    assert r["n_correlated"] == 3 - r["n_disconnected"]


def test_cifar100_tree_gives_100_class_heads(tmp_path, macro_table):
    names = [f"class_{c:03d}" for c in range(100)]
    root = write_imagefolder(tmp_path / "c100", per_class=1, classes=names)
    r = run_table(
        space="nbmacro",
        space_options=TINY_MACRO,
        ground_truth=str(macro_table),
        target="acc",
        data=f"imagefolder:{root}",
        batch_size=8,
        progress=False,
        n=2,
    )
    assert r["num_classes"] == 100
    # the scorer builds 100-way heads although its 8 probe images hold only 8 classes
    from ntknas.scorer import NTKScorer

    scorer = NTKScorer(data=f"imagefolder:{root}", batch_size=8)
    assert len(set(scorer.probe[1].tolist())) == 8 and scorer.num_classes == 100
    space = search_spaces.create_search_space("nbmacro", **TINY_MACRO)
    assert scorer.build(space, "00000000")(scorer.probe[0]).shape == (8, 100)


@pytest.mark.slow
def test_vit_space_scores_at_its_own_image_size(tmp_path):
    space = search_spaces.create_search_space("pit", image_size=32)
    path = write_rows(tmp_path / "pit.csv", [space.sample(s).arch for s in range(3)])
    r = run_table(
        space="pit",
        space_options={"image_size": 32},
        ground_truth=str(path),
        target="acc",
        batch_size=3,
        progress=False,
        proxies=True,
    )
    assert r["image_size"] == 32 and r["n"] == 3
    assert {"synflow", "naswot", "log_cond"} <= set(r["correlations"])


def test_scorer_resizes_probe_images_to_the_network_input():
    from ntknas.scorer import NTKScorer

    small = NTKScorer(batch_size=4)
    large = NTKScorer(batch_size=4, image_size=48)
    assert large.probe[0].shape == (4, 3, 48, 48)
    expected = nn.functional.interpolate(small.probe[0], size=(48, 48), mode="bilinear")
    torch.testing.assert_close(large.probe[0], expected)
    torch.testing.assert_close(large.probe[1], small.probe[1])


def test_data_errors_are_data_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_table(tmp_path / "missing.csv", "acc", space="nbmacro")


def test_without_flags_the_table_reports_the_package_default_score(macro_table, capsys):
    from ntknas.combined_scores import DEFAULT_SCORE

    argv = ["bench", "table", "--space", "nbmacro", "--ground-truth", str(macro_table)]
    argv += ["--target", "acc", "--batch-size", "4", "--json", "--n", "4"]
    argv += [f"--space-option={k}={v}" for k, v in TINY_MACRO.items()]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["default_score"] == DEFAULT_SCORE and out["proxies"] is True
    assert main([*argv, "--no-proxies"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["default_score"] == "log_cond" and DEFAULT_SCORE not in out["correlations"]


@pytest.mark.parametrize(("count", "n", "skip"), [(5000, 200, 200), (1500, 300, 600), (40, 10, 30)])
def test_skip_gives_rows_the_earlier_sample_never_held(count, n, skip):
    from ntknas.bench.table import sample_positions

    earlier = sample_positions(count, skip, seed=0)
    fresh = sample_positions(count, n, seed=0, skip=skip)
    assert not set(earlier) & set(fresh)
    assert len(fresh) == min(n, count - skip) == len(set(fresh))
    assert sample_positions(count, n, seed=0, skip=skip) == fresh  # deterministic
    assert sample_positions(count, skip, seed=0, skip=0) == earlier  # skip=0: the old sample


def test_skip_without_n_is_a_usage_error(macro_table, capsys):
    argv = ["bench", "table", "--space", "nbmacro", "--ground-truth", str(macro_table)]
    assert main([*argv, "--target", "acc", "--skip", "3"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--skip needs --n" in err and "\n" not in err
