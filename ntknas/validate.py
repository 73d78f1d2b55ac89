"""``ntknas validate``: score K architectures, train each briefly, and measure rank agreement.

Each trained architecture is a trial of the Optuna study ``<name>-validate`` (in the configured
storage), so an interrupted run resumes where it stopped. With ``ground_truth`` (NAS-Bench-201
only) architectures are drawn from the table and the short-training accuracy is also correlated
with the table's accuracy: how good a ground truth the short training is.
"""

from __future__ import annotations

import csv
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

import search_spaces
from ntknas.combined_scores import aggregate, get_score, list_scores
from ntknas.config import Config, uses_default_training, with_protocol
from ntknas.correlate import correlation_row
from ntknas.data import describe, load_dataset
from ntknas.objectives import metric_direction, signal_names
from ntknas.protocols import DEFAULT_PROTOCOL
from ntknas.spectral import list_metrics
from ntknas.study._heartbeat import fail_stale
from ntknas.study._objective import score_row
from ntknas.study._run import build_parts
from ntknas.study._storage import create_storage
from ntknas.study._train import check_trained_copy, enqueue_for_training, make_train_objective
from ntknas.study._workers import alongside_workers, shared_storage

#: Seconds a validation worker waits for the others before checking for a dead one's trials.
WAIT_SECONDS = 2.0


def metric_sign(name: str) -> int:
    """+1 when higher is better for a spectral metric, proxy or combined score."""
    return 1 if metric_direction(name) == "maximize" else -1


def metric_columns(records: list[dict[str, Any]]) -> list[str]:
    """Spectral metrics, the proxies every record has, and the combined scores they allow."""
    have = set.intersection(*(set(r) for r in records)) if records else set()
    names = list_metrics() + [n for n in signal_names() if n in have]
    return names + [n for n in list_scores() if get_score(n).needs() <= have]


def choose_architectures(
    space: search_spaces.SearchSpace, scorer: Any, k: int, strategy: str, seed: int
) -> list[str]:
    """K distinct architectures: a seeded random draw, or stratified over the NTK score (score
    4K random candidates and take K at evenly spaced quantiles)."""
    pool = [s.arch for s in space.sample_distinct(k if strategy == "random" else 4 * k, seed)]
    if strategy == "random":
        return pool[:k]
    results = [scorer.score(space, arch) for arch in pool]
    results = [r for r in results if not r.degenerate]
    if scorer.metric in list_scores():
        values = aggregate([score_row(r) for r in results], scorer.metric)
    else:
        values = [r.metrics[scorer.metric] for r in results]
    scored = sorted(zip(values, (r.arch for r in results)))
    if len(scored) <= k:
        return [a for _, a in scored]
    step = (len(scored) - 1) / (k - 1) if k > 1 else 0
    return [scored[round(i * step)][1] for i in range(k)]


def _scatter(rows: list[dict[str, Any]], folder: Path, names: list[str], target: str) -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    written = []
    for name in names:
        xs = [r[name] for r in rows if r.get(name) is not None]
        ys = [r[target] for r in rows if r.get(name) is not None]
        if not xs:
            continue
        fig, ax = plt.subplots(figsize=(4, 3.2))
        ax.scatter(xs, ys, s=14)
        if name in ("params", "flops", "cond", "lambda_min", "lambda_max", "trace", "frobenius"):
            if min(xs) > 0:
                ax.set_xscale("log")
        ax.set_xlabel(name)
        ax.set_ylabel(f"{target} (%)")
        fig.tight_layout()
        path = folder / f"scatter_{name}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path.name)
    return written


def run_validate(
    config: Config,
    *,
    n_archs: int | None = None,
    strategy: str = "random",
    storage: str | None = None,
    output_dir: str | Path | None = None,
    name: str | None = None,
    ground_truth: str | None = None,
    target: str = "cifar10_test_acc",
    log: Any = print,
    kernel_evolution: bool = True,
) -> dict[str, Any]:
    """Score, train and correlate; writes ``results/validate/<name>/``.

    A config that sets no training key trains with :data:`ntknas.protocols.DEFAULT_PROTOCOL`
    (the measured protocol); the log and ``correlations.md`` say how well the protocol used
    agrees with long training, as measured, or that it was not measured.

    Four steps: choose the architectures (:func:`_choose`), score and train those not trained
    yet in the study (:func:`_score_and_train`), read one record per architecture back from the
    study (:func:`_records`), correlate (:func:`_correlate`) and write (:func:`_write`). With
    ``kernel_evolution`` the NTK of each trained network is measured on the probe batch at
    initialization and after every epoch (relative change and label alignment, see
    :mod:`ntknas.theory.evolution`)."""
    if uses_default_training(config):
        config = with_protocol(config, DEFAULT_PROTOCOL)
    parts = build_parts(config)
    space, scorer = parts.space, parts.scorer
    scorer.needs = None  # validation correlates every metric, the kernel's included
    name = name or config.study.name
    archs, table = _choose(
        config, space, scorer, n_archs or config.study.n_trials, strategy, ground_truth, target
    )
    workers = config.study.workers
    data = _training_data(config, space, archs)  # checked before any worker starts
    with shared_storage(storage or config.study.storage, workers) as shared:
        study = _validation_study(name, shared, workers)
        start = time.perf_counter()
        if workers > 1:
            log(f"{workers} worker processes train the networks")
        train = (config, study, space, scorer, archs, name, kernel_evolution, log)
        alongside_workers(
            workers,
            validate_worker,
            (config, shared, name, archs, kernel_evolution),
            lambda: _score_and_train(*train, data=data),
            lambda: _score_and_train(*train, data=data, announce=False),  # a dead worker's
            log,
        )
        records = _records(study, space, scorer, archs, table)
    summary = _correlate(config, scorer, records, name, strategy, table, kernel_evolution)
    summary["n_requested"] = len(archs)
    summary["seconds_this_run"] = round(time.perf_counter() - start, 1)
    folder = Path(output_dir or Path(config.output_dir) / "validate") / name
    _write(folder, records, summary)
    log(format_validate(summary))
    return summary


def _training_data(config: Config, space: Any, archs: list[str]) -> tuple[Any, Any]:
    """The training and test splits, once the trained copy is known to take them
    (``ValueError`` naming the key otherwise, before anything is enqueued or trained)."""
    t = config.train
    train_data = load_dataset(t.data, split="train", data_dir=t.data_dir, synthetic_size=2000)
    test_data = load_dataset(t.data, split="test", data_dir=t.data_dir, synthetic_size=500)
    check_trained_copy(space, archs[0], train_data, t.options())
    return train_data, test_data


def _validation_study(name: str, storage: str | None, workers: int) -> optuna.Study:
    """The study ``<name>-validate``: one enqueued trial per architecture, never pruned."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(
        study_name=f"{name}-validate",
        storage=create_storage(storage, workers=workers),
        direction="maximize",
        pruner=optuna.pruners.NopPruner(),  # every architecture is trained to the end
        load_if_exists=True,
    )


def validate_worker(
    config: Config, storage: str, name: str, archs: list[str], kernel_evolution: bool
) -> None:
    """One extra training process of ``run_validate`` (``study.workers`` > 1); logs to
    stderr."""
    parts = build_parts(config)
    parts.scorer.needs = None
    study = _validation_study(name, storage, config.study.workers)

    def log(*args: Any) -> None:
        print(*args, file=sys.stderr, flush=True)

    _score_and_train(
        config, study, parts.space, parts.scorer, archs, name, kernel_evolution, log, announce=False
    )


def _choose(
    config: Config,
    space: Any,
    scorer: Any,
    k: int,
    strategy: str,
    ground_truth: str | None,
    target: str,
) -> tuple[list[str], dict[str, float]]:
    """The architectures to validate, and the ground-truth table's accuracies (or {})."""
    if ground_truth is None:
        return choose_architectures(space, scorer, k, strategy, config.study.seed), {}
    if config.space.name != "nb201":
        raise ValueError("--ground-truth needs space.name: nb201")
    from ntknas.bench.nb201 import read_ground_truth

    rows = read_ground_truth(ground_truth, target)
    connected = [a for a, _ in rows if not space.is_disconnected(a)]
    archs = random.Random(config.study.seed).sample(connected, min(k, len(connected)))
    return archs, dict(rows)


def _score_and_train(
    config: Config,
    study: optuna.Study,
    space: Any,
    scorer: Any,
    archs: list[str],
    name: str,
    kernel_evolution: bool,
    log: Any,
    *,
    data: tuple[Any, Any] | None = None,
    announce: bool = True,
) -> None:
    """Score and briefly train every architecture the study has not trained yet, through the
    study's training objective (:func:`ntknas.study.make_train_objective`): each architecture
    is an enqueued trial, so several processes running the same validation on one storage
    share the work, and a killed process's architecture is failed and retrained by the others
    (:func:`~ntknas.study.fail_stale`), none twice. Returns when no architecture is waiting or
    being trained by a live worker."""
    t = config.train
    train_data, test_data = data if data is not None else _training_data(config, space, archs)
    options = t.options()
    enqueue_for_training(study, space, archs, validate=name)
    trained = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    if announce:
        log(
            f"validate {name!r}: {len(archs)} architectures from {space!r}; "
            f"probe {describe(config.scorer.data, config.scorer.data_dir)}; "
            f"training on {describe(t.data, t.data_dir)}: {describe_training(config)}; "
            f"{trained} already trained"
        )
        log(protocol_line(config))
    objective = make_train_objective(
        space,
        train_data,
        test_data,
        scorer=scorer,
        kernel_evolution=kernel_evolution,
        **options,
    )

    def progress(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if trial.state == TrialState.COMPLETE:
            done = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
            seconds = trial.user_attrs.get("ntknas:train_seconds", float("nan"))
            log(
                f"[{done}/{len(archs)}] {trial.user_attrs['ntknas:arch']}  "
                f"acc {trial.value:.2f}%  ({seconds:.0f} s)"
            )
        elif trial.state == TrialState.FAIL:
            log(f"{trial.user_attrs.get('ntknas:arch')}: training failed (recorded in the study)")

    while True:
        fail_stale(study)
        waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
        if waiting:
            study.optimize(
                objective,
                n_trials=1,
                catch=(RuntimeError, ValueError, FloatingPointError),
                callbacks=[progress],
            )
            continue
        if not study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            return
        time.sleep(WAIT_SECONDS)  # another worker trains the rest; wait to retry a dead one's


def _median(values: Any) -> float | None:
    present = [v for v in values if v is not None]
    return float(statistics.median(present)) if present else None


def describe_training(config: Config) -> str:
    """The training settings in one line (protocol, epochs, images, resolution, copy)."""
    t = config.train
    parts = [f"{t.epochs} epochs", f"subset {t.subset}", f"batch {t.batch_size}", f"lr {t.lr}"]
    if t.resolution:
        parts.append(f"{t.resolution} px")
    if t.space_options:
        parts.append(f"trained copy {t.space_options}")
    return (f"protocol {t.protocol!r}, " if t.protocol else "") + ", ".join(parts)


def protocol_line(config: Config) -> str:
    """How well the training protocol agrees with long training, as measured (or that it was
    not measured)."""
    from ntknas.config import protocol_differences
    from ntknas.protocols import get_protocol

    t = config.train
    if t.protocol is None:
        return (
            "training protocol: custom settings, agreement with long training not measured "
            "(train.protocol names measured ones: see ntknas.protocols)"
        )
    differences = protocol_differences(config)
    if differences:
        return (
            f"training protocol {t.protocol!r} with changed settings "
            f"({'; '.join(differences)}): its measured agreement does not apply"
        )
    agreement = get_protocol(t.protocol).agreement
    if not agreement:
        return f"training protocol {t.protocol!r}: agreement with long training not measured yet"
    measured = "; ".join(a.describe() for a in agreement.values())
    return f"training protocol {t.protocol!r}, measured agreement with long training: {measured}"


def _records(
    study: optuna.Study, space: Any, scorer: Any, archs: list[str], table: dict[str, float]
) -> list[dict[str, Any]]:
    """One row per architecture from the study's trials: accuracy, costs, every metric, the
    kernel's evolution and (in memory only) the table's accuracy."""
    trials = {
        tr.user_attrs["ntknas:arch"]: tr
        for tr in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    }
    records = []
    current_settings = json.dumps(scorer.settings(), sort_keys=True)
    for arch in archs:
        tr = trials.get(arch)
        if tr is None:
            continue  # its training failed (the study keeps the failed trial and its reason)
        metrics = json.loads(tr.user_attrs["ntknas:metrics"])
        if tr.user_attrs.get("ntknas:scorer_settings") != current_settings:
            # Trained under other scorer settings (a resumed study): the training stands, the
            # training-free metrics are recomputed with the current scorer (not stored).
            fresh = scorer.score(space, arch)
            metrics = {k: (v if v == v else None) for k, v in fresh.metrics.items()}
        row: dict[str, Any] = {
            "arch": arch,
            "accuracy": tr.value,
            "params": tr.user_attrs["ntknas:params"],
            "flops": tr.user_attrs["ntknas:flops"],
            "degenerate": tr.user_attrs["ntknas:degenerate"],
        }
        row.update(metrics)
        changes = tr.user_attrs.get("ntknas:kernel_change")
        if changes:
            alignments = tr.user_attrs["ntknas:kernel_alignment_epochs"]
            row["kernel_change_final"] = changes[-1]
            row["alignment_init"] = alignments[0]
            row["alignment_final"] = alignments[-1]
            row["kernel_change_epochs"] = changes
            row["alignment_epochs"] = alignments
        row["epoch_accuracies"] = tr.user_attrs["ntknas:epoch_accuracies"]
        row["train_cpu_seconds"] = tr.user_attrs.get("ntknas:train_cpu_seconds")
        if table:
            row["table_accuracy"] = table[arch]
        records.append(row)
    return records


def _correlate(
    config: Config,
    scorer: Any,
    records: list[dict[str, Any]],
    name: str,
    strategy: str,
    table: dict[str, float],
    kernel_evolution: bool,
) -> dict[str, Any]:
    """Every metric's (and combined score's) correlation with the short-training accuracy,
    with bootstrap intervals, the cost baselines, and against the table when there is one."""
    t = config.train
    accuracy = [r["accuracy"] for r in records]
    top = max(1, len(records) // 5)
    columns = metric_columns(records)
    for rule in list_scores():
        if rule in columns:
            for r, value in zip(records, aggregate(records, rule)):
                r[rule] = float(value)
    correlations = {}
    for metric in columns:
        values = [r.get(metric) if r.get(metric) is not None else float("nan") for r in records]
        correlations[metric] = correlation_row(
            values, accuracy, sign=metric_sign(metric), k=top, bootstrap=1000, seed=0
        )
    baselines = {
        cost: correlation_row([r[cost] for r in records], accuracy, k=top, bootstrap=1000, seed=0)
        for cost in ("params", "flops")
    }
    summary: dict[str, Any] = {
        "name": name,
        "space": config.space.name,
        "n": len(records),
        "strategy": "ground-truth table" if table else strategy,
        "probe": describe(config.scorer.data, config.scorer.data_dir),
        "scorer": scorer.settings(),
        "training": {
            "data": describe(t.data, t.data_dir),
            "epochs": t.epochs,
            "subset": t.subset,
            "test_subset": t.test_subset,
            "batch_size": t.batch_size,
            "lr": t.lr,
            "resolution": t.resolution,
            "augmentation": t.augmentation,
            "space_options": t.space_options,
            "protocol": t.protocol,
            "cpu_seconds_median": _median(r.get("train_cpu_seconds") for r in records),
        },
        "protocol_agreement": protocol_line(config),
        "top_k": top,
        "correlations": correlations,
        "baselines": baselines,
        "accuracy_range": [min(accuracy), max(accuracy)] if accuracy else None,
        "kernel_evolution": kernel_evolution_summary(records, accuracy, top),
    }
    if table:
        table_acc = [r["table_accuracy"] for r in records]
        summary["short_vs_table"] = correlation_row(accuracy, table_acc, k=top, bootstrap=1000)
        summary["table_correlations"] = {
            metric: correlation_row(
                [r.get(metric) if r.get(metric) is not None else float("nan") for r in records],
                table_acc,
                sign=metric_sign(metric),
                k=top,
            )
            for metric in columns
        }
        summary["table_baselines"] = {
            cost: correlation_row([r[cost] for r in records], table_acc, k=top)
            for cost in ("params", "flops")
        }
    return summary


def _write(folder: Path, records: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    """``architectures.csv`` (without the table's accuracies), the scatter plots,
    ``correlations.json`` and ``correlations.md`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    columns = list(summary["correlations"])
    # The table's accuracies stay out of the written files (only aggregates are kept): the
    # benchmark's per-architecture numbers are not ours to copy.
    written = [{k: v for k, v in r.items() if k != "table_accuracy"} for r in records]
    with (folder / "architectures.csv").open("w", newline="") as f:
        fields = (
            [key for key in written[0] if not key.endswith("_epochs") and key != "epoch_accuracies"]
            + [key for key in written[0] if key.endswith("_epochs")]
            + ["epoch_accuracies"]
            if written
            else ["arch"]
        )
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for r in written:
            writer.writerow(
                {
                    **r,
                    **{
                        key: " ".join(f"{a:.4g}" for a in r[key])
                        for key in r
                        if key.endswith("_epochs")
                    },
                    "epoch_accuracies": " ".join(f"{a:.2f}" for a in r["epoch_accuracies"]),
                }
            )
    extra = [
        c
        for c in ("kernel_change_final", "alignment_final")
        if c in (records[0] if records else {})
    ]
    summary["plots"] = _scatter(records, folder, columns + ["params", "flops"] + extra, "accuracy")
    (folder / "correlations.json").write_text(json.dumps(summary, indent=2) + "\n")
    (folder / "correlations.md").write_text(format_validate(summary) + "\n")


def kernel_evolution_summary(
    records: list[dict[str, Any]], accuracy: list[float], top: int
) -> dict[str, Any] | None:
    """Medians per epoch of the kernel's relative change and label alignment, and how the
    final change / alignment correlate with the trained accuracy."""
    rows = [r for r in records if "kernel_change_epochs" in r]
    if not rows:
        return None
    import numpy as np

    epochs = min(len(r["kernel_change_epochs"]) for r in rows)
    acc = [a for r, a in zip(records, accuracy) if "kernel_change_epochs" in r]
    return {
        "n": len(rows),
        "median_change_per_epoch": [
            float(np.median([r["kernel_change_epochs"][e] for r in rows])) for e in range(epochs)
        ],
        "median_alignment_per_epoch": [
            float(np.median([r["alignment_epochs"][e] for r in rows])) for e in range(epochs)
        ],
        "final_change_range": [
            float(min(r["kernel_change_final"] for r in rows)),
            float(max(r["kernel_change_final"] for r in rows)),
        ],
        "correlations": {
            name: correlation_row([r[name] for r in rows], acc, k=top)
            for name in ("kernel_change_final", "alignment_init", "alignment_final")
        },
    }


def format_validate(summary: dict[str, Any]) -> str:
    lines = [
        f"validate {summary['name']}: {summary['n']} architectures ({summary['space']}), "
        f"short training: {summary['training']}",
        f"probe: {summary['probe']}; accuracy range {summary['accuracy_range']}",
        summary.get("protocol_agreement", ""),
        "signed correlations with short-training accuracy (95% bootstrap intervals)",
        "",
        f"{'metric':<22} {'tau':>7} {'tau 95% CI':>16} {'rho':>7} {'rho 95% CI':>16} {'top-k':>6} {'regret':>7}",
    ]

    def fmt(name: str, row: dict[str, float]) -> str:
        top = next(v for key, v in row.items() if key.startswith("top"))
        return (
            f"{name:<22} {row['kendall_tau']:>7.3f} [{row['kendall_tau_lo']:>6.3f},{row['kendall_tau_hi']:>6.3f}] "
            f"{row['spearman_rho']:>7.3f} [{row['spearman_rho_lo']:>6.3f},{row['spearman_rho_hi']:>6.3f}] "
            f"{top:>6.2f} {row['regret']:>7.2f}"
        )

    for name, row in summary["correlations"].items():
        lines.append(fmt(name, row))
    for name, row in summary["baselines"].items():
        lines.append(fmt(f"baseline {name}", row))
    evolution = summary.get("kernel_evolution")
    if evolution:
        lines.append("")
        lines.append(
            f"NTK during training ({evolution['n']} architectures, probe batch; epoch 0 = init): "
            "relative change ||K_t - K_0||/||K_0|| and kernel-target alignment, medians per epoch"
        )
        lines.append(
            "  change:    " + " ".join(f"{v:.3f}" for v in evolution["median_change_per_epoch"])
        )
        lines.append(
            "  alignment: " + " ".join(f"{v:.3f}" for v in evolution["median_alignment_per_epoch"])
        )
        lo, hi = evolution["final_change_range"]
        lines.append(f"  final change ranges {lo:.3f} .. {hi:.3f} across architectures")
        for name, row in evolution["correlations"].items():
            lines.append(
                f"  {name:<22} vs accuracy: tau {row['kendall_tau']:>7.3f}  rho {row['spearman_rho']:>7.3f}"
            )
    if "short_vs_table" in summary:
        row = summary["short_vs_table"]
        lines.append("")
        lines.append(
            f"short-training accuracy vs the table's 200-epoch accuracy: tau {row['kendall_tau']:.3f} "
            f"[{row['kendall_tau_lo']:.3f}, {row['kendall_tau_hi']:.3f}], rho {row['spearman_rho']:.3f}"
        )
        lines.append("NTK metrics vs the table's accuracy on the same architectures:")
        for name, row in summary["table_correlations"].items():
            lines.append(
                f"  {name:<22} tau {row['kendall_tau']:>7.3f}  rho {row['spearman_rho']:>7.3f}"
            )
        for name, row in summary["table_baselines"].items():
            lines.append(
                f"  baseline {name:<13} tau {row['kendall_tau']:>7.3f}  rho {row['spearman_rho']:>7.3f}"
            )
    return "\n".join(lines)
