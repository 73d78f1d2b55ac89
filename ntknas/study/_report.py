"""Rankings from a study in any storage, and the files of ``results/<study>/``."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from ntknas.combined_scores import aggregate, list_scores
from ntknas.objectives import metric_direction, signal_names
from ntknas.spectral import list_metrics
from ntknas.study._objective import ATTR_PREFIX
from ntknas.versions import versions

#: Study user attribute: the NTK spectrum of the finalists (hash -> {metric: value}), computed
#: after a screening whose score did not need the kernel.
FINALISTS_ATTR = "ntknas:finalists"


def ranking_rows(study: optuna.Study, metric: str | None = None) -> list[dict[str, Any]]:
    """One row per architecture: completed trials ranked by ``metric`` (default: the study's
    first objective; a combined score ranks the final population), the Pareto front first in a
    multi-objective study, then failed trials (no rank) with their reason. The one ranking of a
    study: ``ranking.csv``, :func:`~ntknas.study.top_trials` and the reports use it.

    Example:
        >>> rows = ranking_rows(optuna.create_study())
        >>> rows
        []
    """
    objectives = study.user_attrs.get("ntknas:objectives") or ["log_cond"]
    metric = metric or objectives[0]
    sign = 1.0 if metric_direction(metric) == "minimize" else -1.0
    pareto: set[int] = set()
    if len(study.directions) > 1:
        pareto = {t.number for t in study.best_trials}
    rows, failed, seen = [], [], set()
    finalists = json.loads(study.user_attrs.get(FINALISTS_ATTR, "{}"))
    for t in study.get_trials(deepcopy=False):
        attrs = t.user_attrs
        h = attrs.get(ATTR_PREFIX + "hash")
        if h is None or h in seen:
            continue
        if t.state == TrialState.COMPLETE:
            seen.add(h)
            row: dict[str, Any] = {
                "rank": None,
                "arch": attrs[ATTR_PREFIX + "arch"],
                "hash": h,
                "trial": t.number,
                "score": attrs.get(ATTR_PREFIX + metric),
                "params": attrs.get(ATTR_PREFIX + "params"),
                "flops": attrs.get(ATTR_PREFIX + "flops"),
            }
            for name in list_metrics() + signal_names():
                row[name] = attrs.get(ATTR_PREFIX + name)
                if row[name] is None and name in finalists.get(h, {}):
                    row[name] = finalists[h][name]
            if pareto:
                row["pareto"] = t.number in pareto
            row["status"] = "COMPLETE"
            row["reason"] = ""
            rows.append(row)
        elif t.state == TrialState.FAIL:
            failed.append((h, t))
    if metric in list_scores() and rows:
        # A combined score ranks the final population of completed architectures.
        for row, value in zip(rows, aggregate(rows, metric)):
            row["score"] = float(value)
    rows.sort(
        key=lambda r: (
            not r.get("pareto", False) if pareto else False,  # the Pareto front first
            sign * r["score"] if r["score"] is not None else float("inf"),
            r["trial"],
        )
    )
    for i, row in enumerate(rows, start=1):
        row["rank"] = i
    for h, t in failed:
        if h in seen:
            continue
        seen.add(h)
        attrs = t.user_attrs
        row = {
            "rank": None,
            "arch": attrs[ATTR_PREFIX + "arch"],
            "hash": h,
            "trial": t.number,
            "score": None,
            "params": attrs.get(ATTR_PREFIX + "params"),
            "flops": attrs.get(ATTR_PREFIX + "flops"),
        }
        for name in list_metrics() + signal_names():
            row[name] = attrs.get(ATTR_PREFIX + name)
        if pareto:
            row["pareto"] = False
        row["status"] = "FAIL"
        row["reason"] = attrs.get(ATTR_PREFIX + "fail_reason", "")
        rows.append(row)
    return rows


def write_ranking_csv(rows: list[dict[str, Any]], path: Path) -> None:
    """Write ranking rows as CSV (empty file with a header when there are none)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fields = (
        list(rows[0]) if rows else ["rank", "arch", "hash", "trial", "score", "params", "flops"]
    )
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if v is None else v) for k, v in row.items()})


def summary_table(rows: list[dict[str, Any]], k: int = 10, metric: str = "score") -> str:
    """A plain-text top-k table."""
    top = [r for r in rows if r.get("rank") is not None][:k]
    if not top:
        return "no completed trials"
    width = max(len(r["arch"]) for r in top)
    lines = [f"{'rank':>4}  {'arch':<{width}}  {metric:>12}  {'params':>10}  {'MFLOPs':>9}"]
    for r in top:
        score = f"{r['score']:.4g}" if r["score"] is not None else "-"
        mflops = f"{r['flops'] / 1e6:.1f}" if r["flops"] is not None else "-"
        lines.append(
            f"{r['rank']:>4}  {r['arch']:<{width}}  {score:>12}  {r['params'] or 0:>10,}  {mflops:>9}"
        )
    return "\n".join(lines)


def write_plots(rows: list[dict[str, Any]], folder: Path, objectives: list[str]) -> list[Path]:
    """PNG plots (needs matplotlib, the ``plots`` extra): score vs params, score distribution,
    and the Pareto front of the first two objectives for multi-objective studies."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    done = [r for r in rows if r.get("rank") is not None and r["score"] is not None]
    if not done:
        return []
    metric = objectives[0]
    written = []
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.scatter([r["params"] for r in done], [r["score"] for r in done], s=10, alpha=0.7)
    ax.set_xscale("log")
    ax.set_xlabel("parameters")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} vs parameters ({len(done)} architectures)")
    fig.tight_layout()
    fig.savefig(folder / "score_vs_params.png", dpi=120)
    plt.close(fig)
    written.append(folder / "score_vs_params.png")
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.hist([r["score"] for r in done], bins=30)
    ax.set_xlabel(metric)
    ax.set_ylabel("architectures")
    ax.set_title(f"distribution of {metric}")
    fig.tight_layout()
    fig.savefig(folder / "score_distribution.png", dpi=120)
    plt.close(fig)
    written.append(folder / "score_distribution.png")
    if len(objectives) > 1:
        second = objectives[1]

        def value(r: dict[str, Any]) -> float:
            return r[second]

        fig, ax = plt.subplots(figsize=(5, 4))
        front = [r for r in done if r.get("pareto")]
        ax.scatter(
            [value(r) for r in done], [r["score"] for r in done], s=8, alpha=0.4, label="all"
        )
        front.sort(key=value)
        ax.plot([value(r) for r in front], [r["score"] for r in front], "r.-", label="Pareto front")
        ax.set_xlabel(second)
        ax.set_ylabel(metric)
        ax.legend()
        fig.tight_layout()
        fig.savefig(folder / "pareto_front.png", dpi=120)
        plt.close(fig)
        written.append(folder / "pareto_front.png")
    return written


def write_results(
    study: optuna.Study,
    folder: Path,
    *,
    config: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``ranking.csv``, ``config.yaml``, ``versions.json``, ``summary.json`` and plots."""
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    objectives = study.user_attrs.get("ntknas:objectives") or ["log_cond"]
    rows = ranking_rows(study)
    write_ranking_csv(rows, folder / "ranking.csv")
    if config is not None:
        (folder / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (folder / "versions.json").write_text(json.dumps(versions(), indent=2) + "\n")
    plots = write_plots(rows, folder, objectives)
    states = [t.state.name for t in study.get_trials(deepcopy=False)]
    summary = {
        "study": study.study_name,
        "objectives": objectives,
        "trials": len(states),
        "complete": states.count("COMPLETE"),
        "failed": states.count("FAIL"),
        "architectures": sum(1 for r in rows if r["status"] == "COMPLETE"),
        "top": [
            {k: r[k] for k in ("rank", "arch", "hash", "score", "params", "flops")}
            for r in rows[:10]
            if r["rank"] is not None
        ],
        "plots": [p.name for p in plots],
        **(extra or {}),
    }
    (folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
