from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ntknas.cli import main

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


def test_score_json(capsys):
    code = main(
        [
            "score",
            "--space",
            "nb201",
            "--arch",
            ARCH,
            "--batch-size",
            "8",
            "--space-option",
            "cells=1",
            "--json",
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert {"arch", "metrics", "degenerate", "seconds"} <= set(out)
    assert out["arch"] == ARCH and out["degenerate"] is False
    assert out["metrics"]["cond"] > 1 and out["params"] > 0


def test_score_with_kernel_regression_and_proxies(capsys):
    argv = ["score", "--space", "nb201", "--arch", ARCH, "--space-option", "cells=1"]
    assert main(argv + ["--batch-size", "8", "--heldout", "8", "--proxies", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"krr_accuracy", "krr_loss", "naswot", "kernel_alignment"} <= set(out["metrics"])
    assert main(argv + ["--kernel", "full", "--heldout", "4"]) == 2
    assert "kernel regression" in capsys.readouterr().err


def test_score_text_and_degenerate(capsys):
    disconnected = "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|"
    assert (
        main(
            [
                "score",
                "--space",
                "nb201",
                "--arch",
                disconnected,
                "--batch-size",
                "4",
                "--space-option",
                "cells=1",
            ]
        )
        == 0
    )
    assert "degenerate: lambda_min" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["score", "--space", "nb201", "--arch", "|conv~0|"], "nb201: "),
        (["score", "--space", "nope", "--arch", "x"], "unknown search space 'nope'"),
        (
            ["score", "--space", "nb201", "--arch", ARCH, "--kernel", "diag"],
            "invalid choice: 'diag'",
        ),
        (["score", "--space", "nb201", "--arch", ARCH, "--data", "mnist"], "unknown data source"),
        (
            ["score", "--space", "nb201", "--arch", ARCH, "--data", "imagefolder:/nonexistent"],
            "does not exist",
        ),
        (["score", "--space", "nb201", "--arch", ARCH, "--device", "cuda:0"], "cuda"),
        (
            ["search", "--config", "/nonexistent.yaml"],
            "config file /nonexistent.yaml does not exist",
        ),
        (["search", "scorer.batch_sise=3"], "unknown key 'scorer.batch_sise'"),
        (
            ["search", "study.objectives=[ntk-agg-v2]"],
            "names the earlier rule 'ntk-agg-v2': run `ntknas --legacy-scores ...`",
        ),
        (
            ["search", "study.objectives=[nope]"],
            "key 'study.objectives[0]' has unknown value 'nope'; allowed: ntk-only-v4, ntk-agg-v4",
        ),
        (
            ["score", "--space", "nb201", "--arch", ARCH, "--metric", "nope"],
            "unknown objective 'nope'; known: ntk-only-v4, ntk-agg-v4",
        ),
        (
            ["report", "--storage", "sqlite:///:memory:", "--study-name", "nope"],
            "study 'nope' does not exist",
        ),
        (["bench"], "choose one of speed, nb201, table, throughput"),
        (["frobnicate"], "invalid choice"),
        (["validate", "train.protocol=fast"], "'train.protocol' unknown training protocol 'fast'"),
        (["validate", "train.resolution=0"], "key 'train.resolution' must be >= 1"),
        (["validate", "train.space_options={width: 2}"], "key 'train.space_options'"),
        (["validate", "train.subset=0"], "key 'train.subset' must be >= 1"),
        (
            ["validate", "space.name=vit", "scorer.batch_size=4", "train.resolution=8"],
            "key 'train.resolution': resolution 8 is not a size this network takes",
        ),
        (
            ["search", "space.name=vit", "scorer.batch_size=4", "study.n_trials=2"]
            + ["train.top_k=1", "train.resolution=8"],
            "key 'train.resolution': resolution 8 is not a size this network takes",
        ),
    ],
)
def test_bad_usage_exits_2_with_one_line(capsys, argv, message):
    if "cuda:0" in argv:
        import torch

        if torch.cuda.is_available():
            pytest.skip("CUDA is available here")
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err and "Traceback" not in err


@pytest.mark.parametrize("url", ["sqlite:///{}/typo.db", "journal:{}/typo.log"])
def test_report_on_a_missing_storage_file_creates_nothing(tmp_path, capsys, url):
    url = url.format(tmp_path)
    assert main(["report", "--storage", url, "--study-name", "s"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "typo" in err and "does not exist" in err
    assert list(tmp_path.iterdir()) == []


def test_bad_config_key_from_a_file(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("scorer:\n  kernal: sum\n")
    assert main(["search", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "c.yaml" in err and "'scorer.kernal'" in err


@pytest.mark.slow
def test_subprocess_exit_status_and_no_traceback():
    out = subprocess.run(
        [sys.executable, "-m", "ntknas.cli", "score", "--space", "nb201", "--arch", "|bad~0|"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr


def test_search_writes_results(tmp_path, capsys):
    code = main(
        [
            "search",
            "--output-dir",
            str(tmp_path),
            "--no-progress",
            "study.n_trials=6",
            "study.name=t",
            "space.options={cells: 1}",
            "scorer.batch_size=8",
            "study.objectives=[log_cond, params]",
            "study.sampler=nsga2",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "rank" in out and "synthetic" in out
    folder = tmp_path / "t"
    for name in (
        "ranking.csv",
        "config.yaml",
        "versions.json",
        "summary.json",
        "score_vs_params.png",
        "score_distribution.png",
        "pareto_front.png",
    ):
        assert (folder / name).is_file(), name
    header = (folder / "ranking.csv").read_text().splitlines()[0].split(",")
    for column in (
        "rank",
        "arch",
        "hash",
        "score",
        "params",
        "flops",
        "cond",
        "log_cond",
        "pareto",
    ):
        assert column in header
    versions = json.loads((folder / "versions.json").read_text())
    assert {"torch", "optuna", "cuda"} <= set(versions)


@pytest.mark.slow
def test_search_with_enqueue_and_screen_to_train(tmp_path, capsys, monkeypatch):
    import ntknas.data

    loaded = []
    real_load = ntknas.data.load_dataset

    def counting_load(source, *args, **kwargs):  # the real loader, counted (training sets only)
        if kwargs.get("synthetic_size") == 2000:  # the training split's size (probes: 512)
            loaded.append(kwargs.get("split"))
        return real_load(source, *args, **kwargs)

    monkeypatch.setattr(ntknas.data, "load_dataset", counting_load)
    known = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
    code = main(
        [
            "search",
            "--output-dir",
            str(tmp_path),
            "--no-progress",
            "--json",
            "--storage",
            f"sqlite:///{tmp_path / 's.db'}",
            "study.n_trials=4",
            "study.name=st",
            "space.options={cells: 1}",
            "scorer.batch_size=8",
            f"study.enqueue=['{known}']",
            "train.top_k=2",
            "train.epochs=1",
            "train.subset=100",
            "train.batch_size=50",
        ]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["trials"] == 4
    assert len(summary["training"]["accuracy"]) == 2
    assert loaded.count("train") == 1  # checked before scoring, then trained on: loaded once
    import csv

    rows = list(csv.DictReader((tmp_path / "st" / "ranking.csv").open()))
    assert known in {r["arch"] for r in rows}  # the enqueued architecture was scored
    import optuna

    train = optuna.load_study(study_name="st-train", storage=f"sqlite:///{tmp_path / 's.db'}")
    assert all("ntknas:screen_trial" in t.user_attrs for t in train.trials)


def test_readme_creates_a_study_for_workers_with_n_trials_0(tmp_path, capsys):
    """The README's multi-worker recipe: `search ... study.n_trials=0`, then workers."""
    import optuna

    storage = f"sqlite:///{tmp_path / 'w.db'}"
    common = ["space.options={cells: 1}", "scorer.batch_size=4"]
    argv = ["search", "--storage", storage, "--study-name", "shared", "study.n_trials=0"]
    assert main([*argv, *common]) == 0
    assert "created" in capsys.readouterr().out
    study = optuna.load_study(study_name="shared", storage=storage)
    assert len(study.trials) == 0 and "ntknas:n_trials" not in study.user_attrs
    worker = ["worker", "--storage", storage, "--study-name", "shared", "--n-trials", "3"]
    assert main([*worker, "--join-only", "--workers", "1", *common]) == 0
    complete = optuna.load_study(study_name="shared", storage=storage).get_trials(
        states=(optuna.trial.TrialState.COMPLETE,)
    )
    assert len(complete) == 3
    assert main(["search", "study.n_trials=-1"]) == 2


@pytest.mark.slow
def test_default_search_skips_the_kernel_and_reports_the_finalists_spectrum(tmp_path, capsys):
    import csv

    import optuna

    storage = f"sqlite:///{tmp_path / 'f.db'}"
    argv = ["search", "--output-dir", str(tmp_path), "--no-progress", "--storage", storage]
    argv += ["--study-name", "f", "study.n_trials=6", "space.options={cells: 1}"]
    argv += ["scorer.batch_size=8", "study.top_k=3", "study.objectives=[ntk-agg-v4]"]
    assert main(argv) == 0
    assert "NTK spectrum of the top 3 finalists" in capsys.readouterr().out
    study = optuna.load_study(study_name="f", storage=storage)
    for t in study.trials:  # screening computed the probe signals only
        if t.state.name == "COMPLETE":
            assert "ntknas:backward_decorrelation" in t.user_attrs
            assert t.user_attrs.get("ntknas:log_cond") is None
    with (tmp_path / "f" / "ranking.csv").open() as f:
        rows = [r for r in csv.DictReader(f) if r["rank"]]
    with_kernel = [r for r in rows if r["log_cond"]]
    assert [r["rank"] for r in with_kernel] == [r["rank"] for r in rows[:3]]
    assert all(float(r["effective_rank"]) > 0 for r in with_kernel)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["validate_nb201", "validate_resnet", "validate_vit"])
def test_readme_validate_configs_run_with_their_protocol(tmp_path, capsys, name):
    """The README's ``ntknas validate --config configs/validate_*.yaml`` does work (synthetic
    data, 2 networks, a shortened run of the config's protocol) and prints the protocol line."""
    config = Path(__file__).resolve().parents[1] / "configs" / f"{name}.yaml"
    argv = ["validate", "--config", str(config), "--n", "2", "--no-kernel-evolution"]
    argv += ["--output-dir", str(tmp_path), "scorer.data=synthetic", "train.data=synthetic"]
    argv += ["scorer.batch_size=8", "train.epochs=1", "train.subset=64", "train.test_subset=32"]
    if name == "validate_nb201":
        argv += ["space.options={cells: 1}"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "training protocol 'reduced-350k' with changed settings" in out
    assert json.loads((tmp_path / name / "correlations.json").read_text())["n"] == 2
