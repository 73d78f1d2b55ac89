from __future__ import annotations

import csv
import json
import random

import numpy as np
import pytest

import search_spaces
from ntknas.bench.nb201 import read_ground_truth, run_nb201
from ntknas.bench.speed import METHODS, format_speed, run_speed, tenas_loop
from ntknas.bench.throughput import format_throughput, format_throughput_workers, run_throughput
from ntknas.cli import main
from ntknas.combined_scores import DEFAULT_SCORE
from ntknas.data import DataError


@pytest.fixture
def table(tmp_path):
    """A made-up accuracy table (not benchmark data): accuracy grows with the number of convs."""
    space = search_spaces.create_search_space("nb201")
    rng = random.Random(0)
    path = tmp_path / "table.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["index", "arch", "acc"])
        for i in range(7):
            spec = space.sample(rng)
            ops = space.ops(spec)
            acc = (
                10.0
                if space.is_disconnected(spec)
                else 80 + 2 * sum("conv" in o for o in ops) + rng.random()
            )
            w.writerow([i, spec.arch, acc])
        w.writerow([99, "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|", 10.0])
    return path


@pytest.mark.slow
def test_disconnected_cells_counted(table):
    r = run_nb201(ground_truth=str(table), target="acc", batch_size=2, progress=False)
    assert r["n"] == 8 and r["n_disconnected"] >= 1  # the last row is disconnected
    assert r["n_correlated"] == 8 - r["n_disconnected"]
    assert r["settings"]["sum/frozen/all/1"]["degenerate"] >= r["n_disconnected"]


@pytest.mark.slow
def test_nb201_bench_json_contract(table, capsys):
    code = main(
        [
            "bench",
            "nb201",
            "--ground-truth",
            str(table),
            "--target",
            "acc",
            "--n",
            "6",
            "--seed",
            "1",
            "--batch-size",
            "4",
            "--json",
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert {"n", "correlations", "baselines", "default_score"} <= set(out)
    assert out["n"] == 6 and out["default_score"] in out["correlations"]
    for row in list(out["correlations"].values()) + list(out["baselines"].values()):
        assert set(row) >= {"kendall_tau", "spearman_rho"}
    assert out["baselines"]["params"]["kendall_tau"] > 0.2  # the made-up table rewards convs


@pytest.mark.slow
def test_nb201_bench_counts_disconnected_and_caches(table, tmp_path):
    cache = tmp_path / "cache.jsonl"
    kwargs = dict(
        ground_truth=str(table),
        target="acc",
        batch_size=4,
        progress=False,
        configs="sum/frozen/all/1;sum/batch/weights/2",
        cache=cache,
        n=3,
        seed=3,
    )
    first = run_nb201(**kwargs)
    assert first["n"] == 3
    assert first["n_correlated"] == 3 - first["n_disconnected"]
    assert set(first["settings"]) == {"sum/frozen/all/1", "sum/batch/weights/2"}
    lines = cache.read_text().splitlines()
    assert len(lines) == 6
    second = run_nb201(**kwargs)  # served from the cache
    assert len(cache.read_text().splitlines()) == 6
    assert json.dumps(second["correlations"], sort_keys=True) == json.dumps(
        first["correlations"], sort_keys=True
    )


@pytest.mark.slow
def test_nb201_bench_contracts_sum_and_trace_from_one_full_pass(table, tmp_path):
    kwargs = dict(ground_truth=str(table), target="acc", batch_size=3, progress=False, n=4)
    cache = tmp_path / "cache.jsonl"
    shared = run_nb201(
        **kwargs, configs="sum/frozen/all/1;full/frozen/all/1;trace/frozen/all/1", cache=cache
    )
    assert list(shared["settings"]) == [
        "sum/frozen/all/1",
        "full/frozen/all/1",
        "trace/frozen/all/1",
    ]
    assert shared["settings"]["sum/frozen/all/1"]["derived_from"] == "full/frozen/all/1"
    assert shared["settings"]["full/frozen/all/1"]["derived_from"] is None
    entries = [json.loads(line) for line in cache.read_text().splitlines()]
    assert len(entries) == 12
    assert sum("derived_from" in e for e in entries) == 8
    direct = run_nb201(**kwargs, configs="sum/frozen/all/1;trace/frozen/all/1")
    for setting in ("sum/frozen/all/1", "trace/frozen/all/1"):
        for metric in ("log_cond", "trace", "effective_rank"):
            a = shared["settings"][setting]["correlations"][metric]["kendall_tau"]
            b = direct["settings"][setting]["correlations"][metric]["kendall_tau"]
            assert a == pytest.approx(b, abs=1e-9), (setting, metric)


@pytest.mark.slow
def test_nb201_bench_shards_share_one_cache(table, tmp_path, capsys):
    cache = tmp_path / "cache.jsonl"
    kwargs = dict(ground_truth=str(table), target="acc", batch_size=3, progress=False, n=5)
    parts = [run_nb201(**kwargs, cache=cache, shard=(i, 2)) for i in range(2)]
    assert [p["n"] for p in parts] == [3, 2]
    assert len(cache.read_text().splitlines()) == 5
    whole = run_nb201(**kwargs, cache=cache)  # every architecture from the cache
    assert len(cache.read_text().splitlines()) == 5
    assert whole["correlations"] == run_nb201(**kwargs)["correlations"]
    code = main(["bench", "nb201", "--ground-truth", str(table), "--target", "acc", "--shard", "2"])
    assert code == 2 and "--shard must read I/K" in capsys.readouterr().err


@pytest.mark.parametrize(
    "content, message",
    [
        ("arch,other\n|none~0|+|none~0|none~1|+|none~0|none~1|none~2|,1\n", "no column 'acc'"),
        ("arch,acc\n|bad~0|,1\n", "line 2: nb201"),
        ("arch,acc\n|none~0|+|none~0|none~1|+|none~0|none~1|none~2|,high\n", "is not a number"),
    ],
)
def test_bad_ground_truth(tmp_path, content, message):
    path = tmp_path / "t.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        read_ground_truth(path, "acc")
    assert main(["bench", "nb201", "--ground-truth", str(path), "--target", "acc"]) == 2


@pytest.mark.slow
def test_speed_bench_contract():
    arch = "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|"
    result = run_speed(
        space="nb201",
        arch=arch,
        batch_size=4,
        repeats=1,
        methods="hooks:sum:frozen,func:sum:eval,autograd:sum:batch,tenas_loop",
    )
    assert result["train_step_seconds"] > 0
    assert set(result["methods"]) == {
        "hooks:sum:frozen",
        "func:sum:eval",
        "autograd:sum:batch",
        "tenas_loop",
    }
    for row in result["methods"].values():
        assert {"seconds", "ratio_to_train_step", "kernel", "bn"} <= set(row)
    assert "speedup_over_tenas_loop" in result["methods"]["autograd:sum:batch"]
    assert result["cpu_allocator"] in ("retained", "system")
    assert "CPU allocator: " in format_speed(result)
    with pytest.raises(ValueError, match="unknown method"):
        run_speed(methods="nope")
    assert set(METHODS) >= {"tenas_loop"}


@pytest.mark.slow
def test_nb201_bench_adds_new_forward_proxies_to_an_older_cache(table, tmp_path):
    cache = tmp_path / "cache.jsonl"
    kwargs = dict(
        ground_truth=str(table), target="acc", batch_size=3, progress=False, n=3, proxies=True
    )
    first = run_nb201(**kwargs, cache=cache)
    entries = [json.loads(line) for line in cache.read_text().splitlines()]
    values = {e["key"]: e["metrics"].pop("feature_decorrelation") for e in entries}
    cache.write_text("".join(json.dumps(e) + "\n" for e in entries))  # as written before it existed
    second = run_nb201(**kwargs, cache=cache)
    latest = {}
    for line in cache.read_text().splitlines():
        e = json.loads(line)
        latest[e["key"]] = e
    assert len(cache.read_text().splitlines()) == 6  # one upgraded line per architecture
    for key, value in values.items():
        assert latest[key]["metrics"]["feature_decorrelation"] == pytest.approx(value, rel=1e-9)
    assert second["correlations"] == first["correlations"]


def test_tenas_loop_equals_engine_batch_mode():
    import torch

    from ntknas import empirical_ntk

    space = search_spaces.create_search_space("nb201", cells=1)
    torch.manual_seed(0)
    model = space.build("|nor_conv_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|avg_pool_3x3~2|")
    x = torch.randn(4, 3, 32, 32)
    K = empirical_ntk(model, x, bn="batch")
    assert torch.allclose(tenas_loop(model, x), K, rtol=1e-4, atol=1e-6 * float(K.abs().max()))


@pytest.mark.slow
@pytest.mark.parametrize(
    "score, phases, kernel_pass",
    [
        ("log_cond", {"build", "forward", "backward", "gram", "eigendecomposition"}, True),
        ("ntk-agg-v4", {"build", "naswot", "backward_decorrelation", "input_check"}, False),
        ("zico", {"build", "zico", "input_check", "flops"}, False),  # every pass is named
    ],
)
def test_throughput_contract(score, phases, kernel_pass):
    r = run_throughput(space="nb201", n=2, batch_size=4, score=score)
    assert r["n"] == 2 and r["archs_per_second"] > 0 and r["peak_memory_bytes"] > 0
    assert r["score"] == score and r["kernel_pass"] is kernel_pass
    assert phases <= set(r["phases"])
    assert ("gram" in r["phases"]) is kernel_pass  # the default score runs no kernel pass
    assert "ntk" not in r["phases"]  # the kernel pass is its engine phases, not counted twice
    assert abs(sum(r["phases"].values()) - 1.0) < 0.05
    ref = r["train_reference"]
    assert len(ref["time_ratios"]) == 2 and ref["median_train_step_seconds"] > 0
    assert ref["median_time_ratio"] > 0
    assert r["cpu_allocator"] in ("retained", "system")
    assert "CPU allocator: " in format_throughput(r)


@pytest.mark.usefixtures("legacy_scores")
@pytest.mark.slow
def test_nb201_bench_with_kernel_regression_and_proxies(table, capsys):
    code = main(
        ["bench", "nb201", "--ground-truth", str(table), "--target", "acc", "--batch-size", "6"]
        + ["--heldout", "6", "--proxies", "--json"]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["default_score"] == DEFAULT_SCORE and out["heldout"] == 6
    for name in ("ntk-agg-v4", "ntk-agg-v1", "ntk-only-v1", "krr_loss", "naswot", "log_cond"):
        assert name in out["correlations"], name


def test_theory_bench_contract(tmp_path, capsys):
    prefix = tmp_path / "theory"
    code = main(
        ["bench", "theory", "--widths", "16,256", "--seeds", "2", "--landmarks", "10,100"]
        + ["--features", "64,1024", "--n", "150", "--json", "--output", str(prefix)]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    rows = out["convergence"]["rows"]
    assert rows[1]["median_relative_error"] < rows[0]["median_relative_error"]
    assert out["convergence"]["slope"] < -0.2
    nystrom = out["approximations"]["nystrom"]
    assert nystrom[1]["relative_error"] < nystrom[0]["relative_error"]
    for suffix in (".json", ".md", "_convergence.png", "_approximations.png"):
        assert (tmp_path / f"theory{suffix}").is_file(), suffix
    assert main(["bench", "theory", "--widths", "a,b"]) == 2


@pytest.mark.slow
def test_device_check_on_cpu_passes_and_reports_every_combination():
    from ntknas.bench.device_check import check

    small = {"cnn": {"stages": (2, 2), "depth": (1, 1), "width": (8, 8), "batchnorm": ("on",)}}
    r = check("cpu", spaces=("cnn",), batch_size=2, space_options=small)
    assert r["passed"] and r["worst_float64"] <= 1e-9
    combos = {(row["implementation"], row["kernel"], row["bn"]) for row in r["rows"]}
    assert len(combos) == 3 * 3 * 2 + 3  # per-sample ones for frozen/eval, autograd for batch


def _run_allocator_probe() -> bool:
    """Whether a fresh process here gets freed memory retained (glibc, no user tuning)."""
    import subprocess
    import sys

    code = "from ntknas.allocator import retain_freed_memory; print(retain_freed_memory())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.strip() == "True"


@pytest.mark.slow
def test_throughput_workers_split_the_architectures():
    from ntknas.bench.throughput import run_throughput_workers

    r = run_throughput_workers(workers=2, space="nb201", n=2, batch_size=4)
    assert r["n"] == 2 and r["workers"] == 2 and len(r["worker_seconds"]) == 2
    assert r["archs_per_second"] > 0
    # spawned workers fix glibc's thresholds themselves, as the ntknas command does
    expected = "retained" if _run_allocator_probe() else "system"
    assert r["cpu_allocator"] == expected
    assert "CPU allocator: " in format_throughput_workers(r)
    with pytest.raises(ValueError, match="--workers"):
        run_throughput_workers(workers=3, n=2)


@pytest.mark.slow
def test_init_stability_identical_inits_agree_and_different_ones_are_reported():
    from ntknas.bench.stability import init_stability

    space = search_spaces.create_search_space("nb201", cells=1)
    archs = [a.to_string() for a in space.sample_distinct(5, 0)]
    archs = [a for a in archs if not space.is_disconnected(space.parse(a))][:4]
    accuracy = [float(i) for i in range(len(archs))]
    result = init_stability(
        archs, inits=2, accuracy=accuracy, batch_size=4, space_options={"cells": 1}
    )
    assert {"log_cond", "layer_lambda_min_cosine"} <= set(result)
    for entry in result.values():
        assert -1.0 <= entry["between_inits"] <= 1.0
        assert set(entry) == {"between_inits", "tau_one_init", "tau_mean_over_inits"}
    # one initialization's τ with accuracy is that of the seed-0 scorer, signed (log κ ↓)
    from scipy.stats import kendalltau

    from ntknas.scorer import NTKScorer

    scorer = NTKScorer(batch_size=4, seed=0)
    values = [scorer.score(space, a).metrics["log_cond"] for a in archs]
    expected = -kendalltau(values, accuracy)[0]
    assert result["log_cond"]["tau_one_init"] == pytest.approx(expected)
    with pytest.raises(ValueError, match="inits must be >= 2"):
        init_stability(archs, inits=1, batch_size=4)


@pytest.mark.slow
def test_stability_cli_json_table_and_bad_input(table, tmp_path, capsys):
    args = ["bench", "stability", "--n", "3", "--inits", "2", "--batch-size", "4"]
    code = main([*args, "--ground-truth", str(table), "--target", "acc", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n"] == 3 and out["inits"] == 2
    assert {"between_inits", "tau_one_init"} <= set(out["metrics"]["log_cond"])
    prefix = tmp_path / "stab"
    args[3] = "2"  # --n 2: the table-free sample, written to files
    assert main([*args, "--space", "nb201", "--output", str(prefix)]) == 0
    assert "tau between draws" in capsys.readouterr().out
    assert (tmp_path / "stab.md").is_file() and (tmp_path / "stab.json").is_file()
    code = main(["bench", "stability", "--n", "3", "--inits", "1"])
    captured = capsys.readouterr()
    assert code == 2 and "inits must be >= 2" in captured.err and "Traceback" not in captured.err


@pytest.mark.parametrize("vary", ["init", "probe"])
def test_stability_draws_what_it_varies_and_ranks_combined_scores(vary):
    from ntknas.bench.stability import init_stability
    from ntknas.combined_scores import aggregate
    from ntknas.correlate import kendall_tau
    from ntknas.scorer import NTKScorer

    space = search_spaces.create_search_space("nb201", cells=1)
    archs = [a.to_string() for a in space.sample_distinct(8, 1)]
    archs = [a for a in archs if not space.is_disconnected(space.parse(a))][:5]
    accuracy = [float(i) for i in range(len(archs))]
    asked = ["ntk-agg-v6", "feature_group_decorrelation"]
    result = init_stability(
        archs,
        inits=2,
        accuracy=accuracy,
        vary=vary,
        metrics=asked,
        batch_size=8,
        space_options={"cells": 1},
    )
    assert sorted(result) == sorted(asked)  # only what was asked: no kernel metric
    # the same two draws by hand: seed 1 of the varied part, seed 0 of the other
    draws = []
    for seed in (0, 1):
        probe = NTKScorer(seed=seed if vary == "probe" else 0, batch_size=8).probe
        scorer = NTKScorer(seed=seed if vary == "init" else 0, probe=probe, batch_size=8)
        rows = [scorer.score(space, a) for a in archs]
        draws.append([{**r.metrics, "flops": r.flops} for r in rows])
    for name in asked:
        values = [
            aggregate(d, name).tolist() if name == "ntk-agg-v6" else [r[name] for r in d]
            for d in draws
        ]
        if name == "feature_group_decorrelation":  # the varied part was varied
            assert values[0] != values[1]
        entry = result[name]
        assert entry["between_inits"] == pytest.approx(kendall_tau(values[0], values[1]))
        assert entry["tau_one_init"] == pytest.approx(kendall_tau(values[0], accuracy))
        mean = np.mean(np.asarray(values), axis=0).tolist()
        assert entry["tau_mean_over_inits"] == pytest.approx(kendall_tau(mean, accuracy))
    with pytest.raises(ValueError, match="--vary must be one of init, probe"):
        init_stability(archs, inits=2, vary="batch", batch_size=4)


def test_stability_cli_takes_space_options_metrics_and_rejects_unknown_ones(capsys):
    args = ["bench", "stability", "--n", "3", "--inits", "2", "--batch-size", "4"]
    args += ["--space-option", "cells=1", "--vary", "probe", "--json"]
    assert main([*args, "--metrics", "ntk-agg-v6,naswot"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["vary"] == "probe" and sorted(out["metrics"]) == ["naswot", "ntk-agg-v6"]
    code = main([*args, "--metrics", "ntk-agg-v9"])
    captured = capsys.readouterr()
    assert code == 2 and "unknown objective 'ntk-agg-v9'" in captured.err
    assert "Traceback" not in captured.err


def test_stability_reports_a_metric_that_is_not_finite_instead_of_dropping_it():
    from ntknas.bench.stability import format_stability

    result = {"n": 3, "space": "nb201", "inits": 2, "vary": "probe", "batch_size": 4}
    result |= {"ground_truth": None}
    result["metrics"] = {"naswot": {"not_finite": True}, "ntk-agg-v6": {"between_inits": 0.9}}
    result["metrics"]["feature_decorrelation"] = {"constant": True}
    text = format_stability(result)
    assert "2 probe batches, one initialization" in text
    assert "ntk-agg-v6" in text and "0.900" in text
    assert text.endswith(
        "constant over the architectures (no τ): feature_decorrelation\n"
        "not finite on some architecture (no τ): naswot"
    )


def test_stability_flags_a_signal_constant_over_a_family_instead_of_ranking_it():
    from ntknas.bench.stability import init_stability

    space = search_spaces.create_search_space("vit")
    archs = [a.to_string() for a in space.sample_distinct(3, 0)]
    asked = ["feature_decorrelation", "feature_group_decorrelation"]
    result = init_stability(archs, space="vit", inits=2, batch_size=4, metrics=asked)
    # MeCo's full correlation is 0 on every ViT layer (more features than tokens)
    assert result["feature_decorrelation"] == {"constant": True}
    assert -1.0 <= result["feature_group_decorrelation"]["between_inits"] <= 1.0


def test_stability_leaves_out_disconnected_nb201_cells():
    from ntknas.bench.stability import run_stability

    space = search_spaces.create_search_space("nb201", cells=1)
    first = [a.to_string() for a in space.sample_distinct(12, 1)]
    assert any(space.is_disconnected(a) for a in first)  # seed 1 draws one among 12
    result = run_stability(
        n=12,
        seed=1,
        inits=2,
        batch_size=4,
        metrics=["naswot"],
        progress=False,
        space_options={"cells": 1},
    )
    archs = result["architectures"]
    assert result["n"] == len(archs) == 12 and len(set(archs)) == 12
    assert not any(space.is_disconnected(a) for a in archs)
    assert [a for a in first if not space.is_disconnected(a)] == archs[:11]


_WITHOUT_OPTUNA = """
import sys

class _NoOptuna:
    def find_spec(self, name, path=None, target=None):
        if name == "optuna" or name.startswith("optuna."):
            raise ImportError("optuna is not installed here")

sys.meta_path.insert(0, _NoOptuna())
from ntknas.cli import main
raise SystemExit(main(sys.argv[1:]))
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    "command",
    [
        ["bench", "speed", "--space", "nb201", "--batch-size", "2", "--repeats", "1"]
        + ["--methods", "hooks:sum:frozen"],
        ["bench", "nb201", "--target", "acc", "--batch-size", "2", "--n", "2"],
    ],
    ids=["speed", "nb201"],
)
def test_benchmarks_run_and_write_results_without_optuna(command, table, tmp_path):
    """A GPU machine may have torch but no Optuna: the benchmarks must not need it."""
    import subprocess
    import sys

    if command[1] == "nb201":
        command = [*command, "--ground-truth", str(table)]
    prefix = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_OPTUNA, *command, "--output", str(prefix)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    blob = json.loads(prefix.with_suffix(".json").read_text())
    assert blob["versions"]["optuna"] is not None  # installed here, only hidden from imports
    assert blob["versions"]["torch"]


@pytest.mark.slow
def test_bench_training_formats_and_worker_processes(capsys):
    argv = ["bench", "training", "--n", "2", "--images", "64", "--batch-size", "32"]
    assert main([*argv, "--workers", "2", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert set(r["formats"]) == {"float32 nchw", "float32 channels-last"}  # bfloat16: CUDA only
    assert r["formats"]["float32 nchw"]["median_ratio"] == 1.0
    assert r["trained_copy"] == {"channels": 8, "cells": 1} and r["settings"]["resolution"] == 16
    w = r["workers"]["2"]
    assert len(w["worker_seconds"]) == 2 and w["networks_per_minute"] > 0


def test_bench_training_bad_protocol_is_one_line(capsys):
    assert main(["bench", "training", "--protocol", "nope"]) == 2
    err = capsys.readouterr().err
    assert "reduced-90k" in err and len(err.strip().splitlines()) == 1


def test_memory_format_bench_times_both_layouts_and_agrees(tmp_path, capsys):
    prefix = tmp_path / "mf"
    argv = ["bench", "memory-format", "--n", "2", "--batch-size", "4", "--repeats", "1"]
    assert main([*argv, "--output", str(prefix)]) == 0
    out = json.loads(prefix.with_suffix(".json").read_text())
    assert out["n"] == 2 and len(out["time_ratios"]) == 2
    assert all(len(v) == 2 and min(v) > 0 for v in out["seconds"].values())
    assert out["signals"] and out["max_relative_difference"] < 1e-2  # float32 rounding only
    assert "channels_last / contiguous" in prefix.with_suffix(".md").read_text()
    capsys.readouterr()
    code = main(["bench", "memory-format", "--score", "no-such-score"])
    captured = capsys.readouterr()
    assert code == 2 and "no-such-score" in captured.err and "Traceback" not in captured.err
    assert main(["bench", "memory-format", "--n", "0"]) == 2


def test_stability_reads_the_ground_truth_table_of_any_space(tmp_path, capsys):
    from ntknas.bench.stability import run_stability
    from ntknas.scorer import NTKScorer

    space = search_spaces.create_search_space("nbmacro")
    archs = [a.to_string() for a in space.sample_distinct(5, 0)]
    # made-up "accuracies" (not table data): the first draw's NASWOT itself, so τ with the
    # table is 1 exactly when every row's accuracy is matched to its own architecture
    first = NTKScorer(seed=0, batch_size=4, needs=["naswot"])
    made_up = {a: first.score(space, a).metrics["naswot"] for a in archs}
    path = tmp_path / "macro.csv"
    path.write_text("arch,acc\n" + "".join(f"{a},{acc}\n" for a, acc in made_up.items()))
    result = run_stability(
        space="nbmacro",
        n=4,
        inits=2,
        batch_size=4,
        ground_truth=str(path),
        target="acc",
        metrics=["naswot"],
        progress=False,
    )
    sampled = result["architectures"]
    assert len(sampled) == 4 and set(sampled) <= set(archs)
    naswot = result["metrics"]["naswot"]
    assert naswot["tau_one_init"] == pytest.approx(1.0) and "tau_mean_over_inits" in naswot
    path.write_text("arch,acc\nnot-an-architecture,50\n")
    args = ["bench", "stability", "--space", "nbmacro", "--ground-truth", str(path)]
    assert main([*args, "--target", "acc", "--n", "2"]) == 2
    err = capsys.readouterr().err
    assert f"{path}, line 2" in err and "Traceback" not in err
