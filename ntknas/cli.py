"""The ``ntknas`` command: search | score | validate | bench | worker | report.

Exit status: 0 success, 1 runtime failure, 2 bad usage, config or input (one line on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

USAGE_ERRORS: tuple[type[BaseException], ...] = (ValueError, FileNotFoundError, KeyError)


class UsageError(ValueError):
    """Bad command-line usage."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        raise UsageError(f"{self.prog}: {message}")


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=None, default=_json_default))


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def _space_options(items: Sequence[str]) -> dict[str, Any]:
    from ntknas.config import parse_override

    return dict(parse_override(item) for item in items)


# --------------------------------------------------------------------------- subcommands


def cmd_score(args: argparse.Namespace) -> int:
    import search_spaces
    from ntknas.scorer import NTKScorer

    space = search_spaces.create_search_space(args.space, **_space_options(args.space_option))
    spec = space.parse(args.arch)
    scorer = NTKScorer(
        batch_size=args.batch_size,
        kernel=args.kernel,
        bn=args.bn,
        params=args.params,
        implementation=args.implementation,
        repeats=args.repeats,
        seed=args.seed,
        device=args.device,
        data=args.data,
        data_dir=args.data_dir,
        heldout=args.heldout,
        proxies=args.proxies,
        **({"metric": args.metric} if args.metric else {}),
    )
    _ = scorer.probe  # load data first: a data error is a usage error, not a scoring failure
    _ = scorer.heldout_batch
    start = time.perf_counter()
    result = scorer.score(space, spec)
    seconds = time.perf_counter() - start
    metrics = {k: (v if v == v else None) for k, v in result.metrics.items()}
    if args.json:
        _print_json(
            {
                "arch": spec.to_string(),
                "hash": spec.hash,
                "metrics": metrics,
                "degenerate": result.degenerate,
                "reason": result.reason,
                "score": result.score,
                "score_metric": scorer.metric,
                "params": result.params,
                "flops": result.flops,
                "seconds": round(seconds, 4),
                "settings": scorer.settings(),
            }
        )
        return 0
    print(f"arch      {spec.to_string()}")
    print(f"hash      {spec.hash}")
    print(f"params    {result.params:,}    FLOPs {result.flops:,}")
    print(f"data      {args.data}, batch {args.batch_size}, kernel={args.kernel}, bn={args.bn}")
    for name, value in metrics.items():
        print(f"  {name:<22} {value:.6g}" if value is not None else f"  {name:<22} nan")
    if result.degenerate:
        print(f"degenerate: {result.reason}")
    print(f"seconds   {seconds:.3f}")
    return 0


def _load_config(args: argparse.Namespace):
    from ntknas.config import load_config, validate_config

    config = load_config(args.config, args.overrides)
    validate_config(config, str(args.config or "<built-in quickstart config>"))
    return config


def cmd_search(args: argparse.Namespace) -> int:
    from ntknas.study import summary_table
    from ntknas.study._run import run_search

    config = _load_config(args)
    log = (lambda *a, **k: print(*a, file=sys.stderr, **k)) if args.json else print
    summary = run_search(
        config,
        storage=args.storage,
        study_name=args.study_name,
        output_dir=args.output_dir,
        progress=not args.no_progress and not args.json,
        log=log,
    )
    if args.json:
        _print_json(summary)
        return 0
    if summary.get("created"):
        return 0
    import csv
    from pathlib import Path

    with (Path(summary["folder"]) / "ranking.csv").open() as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["rank"] = int(r["rank"]) if r["rank"] else None
        r["score"] = float(r["score"]) if r["score"] else None
        r["params"] = int(r["params"]) if r["params"] else None
        r["flops"] = int(r["flops"]) if r["flops"] else None
    print()
    print(summary_table(rows, k=config.study.top_k or 10, metric=config.study.objectives[0]))
    print()
    print(
        f"{summary['complete']} trials complete, {summary['failed']} failed "
        f"(degenerate kernels), {summary['architectures']} distinct architectures, "
        f"{summary['seconds']:.1f} s"
    )
    if "training" in summary:
        for arch, acc in summary["training"]["accuracy"].items():
            print(f"trained  {arch}  {acc:.2f}%")
    print(f"results in {summary['folder']}/ (ranking.csv, config.yaml, versions.json, plots)")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from ntknas.study._run import build_parts, open_study, screen_in_workers

    config = _load_config(args)
    parts = build_parts(config)
    study = open_study(
        config,
        args.storage,
        args.study_name,
        create=not args.join_only,
        workers=max(args.workers, config.study.workers),
    )
    n_trials = args.n_trials or int(study.user_attrs.get("ntknas:n_trials", config.study.n_trials))
    if n_trials < 1:
        raise UsageError(f"--n-trials must be >= 1, got {n_trials}")
    log_file = open(args.log, "a") if args.log else None  # noqa: SIM115

    def on_trial(trial) -> None:
        if log_file is not None:
            log_file.write(
                json.dumps(
                    {
                        "number": trial.number,
                        "state": trial.state.name,
                        "hash": trial.user_attrs.get("ntknas:hash"),
                    }
                )
                + "\n"
            )
            log_file.flush()

    try:
        done = screen_in_workers(
            config,
            study,
            parts,
            args.storage,
            args.study_name,
            n_trials,
            objectives=study.user_attrs.get("ntknas:objectives", parts.objectives),
            on_trial=on_trial,
        )
    finally:
        if log_file is not None:
            log_file.close()
    if args.json:
        _print_json({"study": args.study_name, "finished_here": done})
    else:
        print(f"worker finished {done} trials of study {args.study_name!r}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    import optuna

    from ntknas.study import create_storage, ranking_rows, summary_table, write_results
    from ntknas.study._storage import StorageError

    storage = create_storage(args.storage, must_exist=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.load_study(study_name=args.study_name, storage=storage)
    except KeyError:
        raise StorageError(f"study {args.study_name!r} does not exist in {args.storage}") from None
    from pathlib import Path

    folder = Path(args.output_dir) / args.study_name
    summary = write_results(study, folder)
    rows = ranking_rows(study)
    if args.json:
        summary["folder"] = str(folder)
        _print_json(summary)
    else:
        print(summary_table(rows, k=args.top_k))
        print(f"\n{summary['complete']} complete, {summary['failed']} failed; written to {folder}/")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from ntknas.validate import run_validate

    config = _load_config(args)
    result = run_validate(
        config,
        n_archs=args.n,
        strategy=args.strategy,
        storage=args.storage,
        output_dir=args.output_dir,
        name=args.name,
        ground_truth=args.ground_truth,
        target=args.target,
        log=(lambda *a: print(*a, file=sys.stderr)) if args.json else print,
        kernel_evolution=not args.no_kernel_evolution,
    )
    if args.json:
        _print_json(result)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    if args.bench == "speed":
        from ntknas.bench.speed import format_speed, run_speed

        result = run_speed(
            space=args.space,
            arch=args.arch,
            batch_size=args.batch_size,
            device=args.device,
            repeats=args.repeats,
            data=args.data,
            methods=args.methods,
        )
        return _emit(args, result, format_speed)
    if args.bench == "theory":
        from ntknas.bench.theory import format_theory, run_theory

        for name in ("widths", "landmarks", "features"):
            value = getattr(args, name)
            if value is not None:
                try:
                    setattr(args, name, [int(v) for v in value.split(",")])
                except ValueError:
                    raise UsageError(
                        f"--{name} must be comma-separated integers, got {value!r}"
                    ) from None
        result = run_theory(
            widths=args.widths,
            seeds=args.seeds,
            landmarks=args.landmarks,
            features=args.features,
            n=args.n,
            plot_prefix=args.output,
        )
        return _emit(args, result, format_theory)
    if args.bench == "memory-format":
        from ntknas.bench.memory_format import format_memory_format, run_memory_format
        from ntknas.combined_scores import DEFAULT_SCORE
        from ntknas.objectives import get_objective

        if args.n < 1 or args.repeats < 1:
            raise UsageError(f"--n and --repeats must be >= 1, got {args.n} and {args.repeats}")
        score = args.score or DEFAULT_SCORE
        get_objective(score)  # an unknown name: one line, exit 2, before any scoring
        result = run_memory_format(
            space=args.space,
            n=args.n,
            batch_size=args.batch_size,
            data=args.data,
            seed=args.seed,
            score=score,
            repeats=args.repeats,
            device=args.device,
        )
        return _emit(args, result, format_memory_format)
    if args.bench == "training":
        from ntknas.bench.training import format_training_bench, run_training_bench
        from ntknas.protocols import DEFAULT_PROTOCOL, get_protocol

        protocol = args.protocol or DEFAULT_PROTOCOL
        try:
            get_protocol(protocol)
        except KeyError as error:
            raise UsageError(f"--protocol: {error.args[0]}") from None
        if args.n < 1 or args.images < 1 or any(not 1 <= w <= args.n for w in args.workers):
            raise UsageError(
                f"--n and --images must be >= 1 and each --workers between 1 and --n ({args.n}), "
                f"got --n {args.n} --images {args.images} --workers {args.workers}"
            )
        result = run_training_bench(
            space=args.space,
            n=args.n,
            protocol=protocol,
            images=args.images,
            device=args.device,
            workers=tuple(args.workers),
            batch_size=args.batch_size,
            resolution=args.resolution,
        )
        return _emit(args, result, format_training_bench)
    if args.bench == "stability":
        from ntknas.bench.stability import format_stability, run_stability

        result = run_stability(
            space=args.space,
            n=args.n,
            seed=args.seed,
            inits=args.inits,
            batch_size=args.batch_size,
            data=args.data,
            device=args.device,
            ground_truth=args.ground_truth,
            target=args.target,
            progress=not args.json,
            vary=args.vary,
            metrics=args.metrics.split(",") if args.metrics else None,
            space_options=_space_options(args.space_option),
        )
        return _emit(args, result, format_stability)
    if args.bench in ("nb201", "table"):
        from ntknas.bench.nb201 import format_nb201, run_nb201
        from ntknas.bench.table import format_table, run_table

        shard = None
        if args.shard:
            try:
                index, count = (int(v) for v in args.shard.split("/"))
            except ValueError:
                raise ValueError(f"--shard must read I/K (e.g. 0/2), got {args.shard!r}") from None
            shard = (index, count)
        if args.bench == "table" and args.score:
            return _score_table(args, shard)
        table_options: dict[str, Any] = {}
        if args.bench == "table":
            table_options = dict(
                space=args.space,
                arch_column=args.arch_column,
                space_options=_space_options(args.space_option),
            )
        run, formatter = (
            (run_table, format_table) if args.bench == "table" else (run_nb201, format_nb201)
        )
        result = run(
            **table_options,
            ground_truth=args.ground_truth,
            target=args.target,
            n=args.n,
            skip=args.skip,
            part=args.part,
            seed=args.seed,
            data=args.data,
            data_dir=args.data_dir,
            batch_size=args.batch_size,
            kernel=args.kernel,
            bn=args.bn,
            params=args.params,
            repeats=args.repeats,
            device=args.device,
            progress=not args.json,
            include_disconnected=args.include_disconnected,
            configs=args.configs,
            cache=args.cache,
            heldout=args.heldout,
            proxies=args.proxies,
            shard=shard,
        )
        return _emit(args, result, formatter)
    from ntknas.bench.throughput import (
        format_throughput,
        format_throughput_workers,
        run_throughput,
        run_throughput_workers,
    )
    from ntknas.combined_scores import DEFAULT_SCORE
    from ntknas.objectives import get_objective

    common = dict(
        space=args.space,
        n=args.n,
        batch_size=args.batch_size,
        data=args.data,
        seed=args.seed,
        implementation=args.implementation,
        score=args.score or DEFAULT_SCORE,
    )
    get_objective(common["score"])  # an unknown name: one line, exit 2, before any scoring
    if args.workers > 1:
        if args.device != "cpu":
            raise UsageError("--workers is for CPU throughput (one process per GPU is one worker)")
        result = run_throughput_workers(workers=args.workers, **common)
        return _emit(args, result, format_throughput_workers)
    result = run_throughput(
        device=args.device, train_reference=not args.no_train_reference, **common
    )
    return _emit(args, result, format_throughput)


def _emit(args: argparse.Namespace, result: dict[str, Any], formatter: Any) -> int:
    """Print a benchmark result (JSON or its table) and write ``--output`` files."""
    table = formatter(result)
    _print_json(result) if args.json else print(table)
    if args.output:
        _write_output(args.output, result, table, sys.argv)
    return 0


def _write_output(prefix: str, result: dict[str, Any], table: str, argv: list[str]) -> None:
    """``PREFIX.json`` and ``PREFIX.md`` (the table plus the command that made it)."""
    from pathlib import Path

    from ntknas.versions import versions

    path = Path(prefix)
    path.parent.mkdir(parents=True, exist_ok=True)
    command = "ntknas " + " ".join(argv[1:])
    blob = {"command": command, "versions": versions(), **result}
    path.with_suffix(".json").write_text(json.dumps(blob, indent=2, default=_json_default) + "\n")
    path.with_suffix(".md").write_text(f"```\n{command}\n```\n\n```\n{table}\n```\n")


# --------------------------------------------------------------------------- parser


def _score_table(args: argparse.Namespace, shard: tuple[int, int] | None) -> int:
    """``bench table --score``: only what the named scores read (no kernel pass unless one
    of them reads the kernel)."""
    from ntknas.bench.score_table import format_score_table, run_score_table

    for option, given in (("--configs", args.configs), ("--cache", args.cache)):
        if given:
            raise ValueError(
                f"{option} belongs to the full run of every kernel setting; --score computes "
                "only what the named scores read (drop one of the two)"
            )
    scores = [name.strip() for name in args.score.split(",") if name.strip()]
    result = run_score_table(
        ground_truth=args.ground_truth,
        target=args.target,
        scores=scores,
        space=args.space,
        arch_column=args.arch_column,
        space_options=_space_options(args.space_option),
        n=args.n,
        seed=args.seed,
        skip=args.skip,
        shard=shard,
        part=args.part,
        data=args.data,
        data_dir=args.data_dir,
        batch_size=args.batch_size,
        device=args.device,
        include_disconnected=args.include_disconnected,
        progress=not args.json,
        kernel=args.kernel,
        bn=args.bn,
        params=args.params,
        implementation=args.implementation,
        repeats=args.repeats,
        heldout=args.heldout,
    )
    return _emit(args, result, format_score_table)


def _add_scorer_options(p: argparse.ArgumentParser, *, batch_size: int = 64) -> None:
    from ntknas.ntk import BN_MODES, IMPLEMENTATIONS, KERNELS, PARAM_SETS

    p.add_argument("--data", default="synthetic", help="synthetic | cifar10 | imagefolder:PATH")
    p.add_argument("--data-dir", default=None, help="root of torchvision-format CIFAR-10")
    p.add_argument("--batch-size", type=int, default=batch_size)
    p.add_argument("--kernel", default="sum", choices=KERNELS)
    p.add_argument("--bn", default="frozen", choices=BN_MODES)
    p.add_argument("--params", default="all", choices=PARAM_SETS)
    p.add_argument("--implementation", default="auto", choices=IMPLEMENTATIONS)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N | auto")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ntknas", description=__doc__.splitlines()[0])
    from ntknas import __version__

    parser.add_argument("--version", action="version", version=f"ntknas {__version__}")
    parser.add_argument(
        "--legacy-scores",
        action="store_true",
        help="also register the earlier combined-score rules (ntknas.legacy_scores: ntk-agg-v1..v3, "
        "v5, ntk-only-v1..v3), as objectives and in benchmark tables",
    )
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    p = sub.add_parser("score", help="score one architecture")
    p.add_argument("--space", required=True)
    p.add_argument("--arch", required=True, help="the architecture's text form")
    p.add_argument("--space-option", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument(
        "--metric",
        default=None,
        help="objective reported as the score (default: the package's default score, which "
        "ranks a population and is null for one architecture)",
    )
    p.add_argument(
        "--heldout",
        type=int,
        default=0,
        help="held-out test images for NTK kernel regression (adds krr_accuracy, krr_loss)",
    )
    p.add_argument(
        "--proxies",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the signals beside the spectrum: naswot, the decorrelations, synflow, "
        "kernel_alignment (on by default; --no-proxies for the spectrum alone)",
    )
    _add_scorer_options(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_score)

    def config_args(q: argparse.ArgumentParser) -> None:
        q.add_argument("--config", default=None, help="YAML config (default: the quickstart)")
        q.add_argument("overrides", nargs="*", metavar="SECTION.KEY=VALUE")

    p = sub.add_parser("search", help="screen architectures in an Optuna study and rank them")
    config_args(p)
    p.add_argument("--storage", default=None, help="Optuna storage URL (default: config)")
    p.add_argument("--study-name", default=None)
    p.add_argument("--output-dir", default=None)
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("worker", help="join a shared study and screen until it is complete")
    config_args(p)
    p.add_argument("--storage", required=True)
    p.add_argument("--study-name", required=True)
    p.add_argument("--n-trials", type=int, default=None)
    p.add_argument("--workers", type=int, default=2, help="how many workers share the storage")
    p.add_argument("--join-only", action="store_true", help="fail if the study does not exist")
    p.add_argument("--log", default=None, help="append one JSON line per finished trial")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("report", help="rebuild the ranking of a study from its storage")
    p.add_argument("--storage", required=True)
    p.add_argument("--study-name", required=True)
    p.add_argument("--output-dir", default="results")
    p.add_argument("--top-k", type=int, default=10)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("validate", help="score, train briefly, and correlate")
    config_args(p)
    p.add_argument("--n", type=int, default=None, help="architectures (default: study.n_trials)")
    p.add_argument("--strategy", default="random", choices=("random", "stratified"))
    p.add_argument("--storage", default=None)
    p.add_argument("--name", default=None, help="results/validate/<name>/")
    p.add_argument(
        "--ground-truth",
        default=None,
        help="NAS-Bench-201 table: draw architectures from it and compare accuracies",
    )
    p.add_argument("--target", default="cifar10_test_acc", help="accuracy column of the table")
    p.add_argument(
        "--no-kernel-evolution",
        action="store_true",
        help="skip measuring the NTK at initialization and after each epoch",
    )
    p.add_argument("--output-dir", default=None)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser(
        "bench", help="benchmarks: speed | nb201 | table | throughput | stability | theory"
    )
    bench = p.add_subparsers(dest="bench", parser_class=_Parser)
    b = bench.add_parser("speed", help="NTK implementations vs one training step")
    b.add_argument("--space", default="nb201")
    b.add_argument("--arch", default=None)
    b.add_argument("--batch-size", type=int, default=64)
    b.add_argument("--device", default="cpu")
    b.add_argument("--repeats", type=int, default=5, help="timed runs per method (median)")
    b.add_argument("--data", default="synthetic")
    b.add_argument("--methods", default=None, help="comma-separated subset of methods")
    b.add_argument("--output", default=None, help="write PREFIX.json and PREFIX.md")
    b.add_argument("--json", action="store_true")

    def table_args(b: argparse.ArgumentParser) -> None:
        b.add_argument("--ground-truth", required=True, help="CSV with an arch column")
        b.add_argument("--target", required=True, help="accuracy column")
        b.add_argument("--n", type=int, default=None)
        b.add_argument(
            "--include-disconnected",
            action="store_true",
            help="keep cells with no input-output path in the correlations",
        )
        b.add_argument(
            "--configs",
            default=None,
            help="semicolon-separated kernel/bn/params/repeats settings, e.g. "
            "'sum/frozen/all/1;sum/batch/weights/3' (default: the single --kernel/--bn one)",
        )
        b.add_argument(
            "--shard",
            help="I/K: score every K-th architecture from the I-th (parallel processes, one cache)",
        )
        b.add_argument(
            "--skip",
            type=int,
            default=0,
            help="drop the first SKIP architectures of the seeded sample (rows a seeded --n SKIP "
            "run used): fresh rows for a rule chosen after that run",
        )
        b.add_argument(
            "--part",
            choices=("pilot", "evaluation"),
            default=None,
            help="pilot: every third architecture of the sample (positions 0, 3, 6, ...), where "
            "a rule is chosen; evaluation: the other two thirds, where it is judged",
        )
        b.add_argument(
            "--cache", default=None, help="JSON-lines file of scores (resumes a long run)"
        )
        b.add_argument(
            "--heldout",
            type=int,
            default=0,
            help="held-out test-split images for NTK kernel regression (krr_accuracy, krr_loss)",
        )
        b.add_argument(
            "--proxies",
            action=argparse.BooleanOptionalAction,
            default=True,
            help="compute the probe signals (naswot, the feature and backward decorrelations), "
            "synflow and kernel_alignment (on by default: the default score reads them; "
            "--no-proxies for the kernel metrics alone; the legacy rules with kernel "
            "regression, `ntknas --legacy-scores`, also need --heldout)",
        )
        _add_scorer_options(b)
        b.add_argument("--output", default=None, help="write PREFIX.json and PREFIX.md")
        b.add_argument("--json", action="store_true")

    table_args(bench.add_parser("nb201", help="rank correlation on a NAS-Bench-201 accuracy table"))
    b = bench.add_parser(
        "table", help="rank correlation on any space's accuracy table (CSV of arch, accuracy)"
    )
    b.add_argument("--space", required=True, help="registered search space of the arch column")
    b.add_argument("--arch-column", default="arch", help="column holding the architectures")
    b.add_argument("--space-option", action="append", default=[], metavar="KEY=VALUE")
    b.add_argument(
        "--score",
        default=None,
        help="comma-separated scores (e.g. ntk-agg-v7,naswot): compute only what they read "
        "(the default score needs no kernel pass) and report them, their components, #params, "
        "FLOPs and the table's naslib_* columns",
    )
    table_args(b)
    b = bench.add_parser("throughput", help="architectures scored per second, end to end")
    b.add_argument("--space", default="nb201")
    b.add_argument("--n", type=int, default=50)
    b.add_argument("--batch-size", type=int, default=64)
    b.add_argument("--device", default="cpu")
    b.add_argument("--data", default="synthetic")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--implementation", default="auto")
    b.add_argument(
        "--score",
        default=None,
        help="the score timed (default: the package's default score, no kernel pass; "
        "log_cond or any spectral metric times the kernel pass; tables made before this "
        "option existed timed log_cond)",
    )
    b.add_argument(
        "--no-train-reference",
        action="store_true",
        help="skip the per-architecture training step (time and memory) next to scoring",
    )
    b.add_argument(
        "--workers",
        type=int,
        default=1,
        help="CPU: N worker processes splitting the cores and the architectures",
    )
    b.add_argument("--output", default=None, help="write PREFIX.json and PREFIX.md")
    b.add_argument("--json", action="store_true")
    b = bench.add_parser(
        "memory-format", help="the probe passes in NCHW and channels-last, side by side"
    )
    b.add_argument("--space", default="nb201")
    b.add_argument("--n", type=int, default=20)
    b.add_argument("--batch-size", type=int, default=64)
    b.add_argument("--device", default="cpu")
    b.add_argument("--data", default="synthetic")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--score", default=None, help="default: the package's default score")
    b.add_argument("--repeats", type=int, default=2, help="runs per layout; the best counts")
    b.add_argument("--output", default=None, help="write PREFIX.json and PREFIX.md")
    b.add_argument("--json", action="store_true")
    b = bench.add_parser(
        "training", help="short training per network by format, and by worker processes"
    )
    b.add_argument("--space", default="nb201", help="registered search space")
    b.add_argument(
        "--protocol", default=None, help="whose trained copy and settings (default: the default)"
    )
    b.add_argument("--n", type=int, default=8, help="networks")
    b.add_argument("--images", type=int, default=2048, help="generated images, one epoch")
    b.add_argument("--batch-size", type=int, default=None, help="default: the protocol's")
    b.add_argument("--resolution", type=int, default=None, help="default: the protocol's")
    b.add_argument("--device", default="cpu")
    b.add_argument("--workers", type=int, nargs="*", default=[1, 2], help="process counts")
    b.add_argument("--output", default=None, help="write PREFIX.json and PREFIX.md")
    b.add_argument("--json", action="store_true")
    b = bench.add_parser(
        "stability", help="how much of each metric's ranking is initialization noise"
    )
    b.add_argument("--space", default="nb201")
    b.add_argument("--n", type=int, default=100)
    b.add_argument("--seed", type=int, default=0, help="seed of the architecture sample")
    b.add_argument("--inits", type=int, default=3, help="seeded draws (>= 2)")
    b.add_argument(
        "--vary", default="init", help="what a draw changes: init (default) or probe (batch)"
    )
    b.add_argument(
        "--metrics", default=None, help="comma-separated metrics / scores (default: all)"
    )
    b.add_argument("--space-option", action="append", default=[], metavar="KEY=VALUE")
    b.add_argument("--batch-size", type=int, default=64)
    b.add_argument("--data", default="synthetic")
    b.add_argument("--device", default="cpu")
    b.add_argument(
        "--ground-truth", default=None, help="a table of the space (CSV): τ with accuracy"
    )
    b.add_argument("--target", default="cifar10_test_acc", help="accuracy column")
    b.add_argument("--output", default=None, help="write PREFIX.json and PREFIX.md")
    b.add_argument("--json", action="store_true")
    b = bench.add_parser(
        "theory", help="empirical vs analytic NTK convergence; Nystrom / random-features errors"
    )
    b.add_argument("--widths", default=None, help="comma-separated MLP widths")
    b.add_argument("--seeds", type=int, default=5)
    b.add_argument("--landmarks", default=None, help="comma-separated Nystrom landmark counts")
    b.add_argument("--features", default=None, help="comma-separated random-feature counts")
    b.add_argument("--n", type=int, default=2000, help="training points of the regression")
    b.add_argument("--output", default=None, help="write PREFIX.json, PREFIX.md and PREFIX_*.png")
    b.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ntknas`` command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        argv = ["search"]  # the quickstart job
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        from ntknas.allocator import retain_freed_memory

        retain_freed_memory()
        if args.legacy_scores:
            from ntknas.legacy_scores import register_legacy_scores

            register_legacy_scores()
        if args.command is None:
            parser.print_help()
            return 2
        if args.command == "bench" and args.bench is None:
            raise UsageError(
                "ntknas bench: choose one of speed, nb201, table, throughput, stability, theory"
            )
        return int(args.func(args) or 0)
    except SystemExit as exit_:  # --help / --version
        return int(exit_.code or 0)
    except KeyboardInterrupt:
        print("ntknas: interrupted", file=sys.stderr)
        return 130
    except USAGE_ERRORS as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        if isinstance(error, KeyError):
            message = f"not found: {message}"
        print(f"ntknas: error: {message}", file=sys.stderr)
        return 2
    except Exception as error:  # noqa: BLE001 - one line, no traceback
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        print(f"ntknas: failed: {type(error).__name__}: {first}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
