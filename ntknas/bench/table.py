"""``ntknas bench table``: rank correlation of training-free metrics with any space's accuracy table.

The table (a CSV read from a path given on the command line, never bundled) names each
network in an architecture column (``--arch-column``, default ``arch``) in the text form of a
registered search space, and its accuracy in ``--target``. Every row is parsed and built (on
PyTorch's ``meta`` device: no memory, no arithmetic) before anything is scored; a row that does
not parse or build stops the run with one line naming it. Correlations are signed by each
metric's declared direction (positive = agrees with accuracy); #params and FLOPs (counted by
ntknas on the built networks) and every ``naslib_*`` column of the table are baselines on the
same networks; ``synflow`` is computed for every network and sits with the other metrics. A
network that does not fit in memory is reported and skipped; the run goes on with the next.
Cells with no input→output path (a space's ``is_disconnected``; NAS-Bench-201's score 10%)
are counted and, by default, left out of the correlations.

Several kernels with the same bn/params/repeats cost one pass: when the settings include a
``full`` kernel (and no held-out images), the ``sum`` and ``trace`` settings beside it are
contracted exactly from it (:func:`ntknas.ntk.contract_full`); their cache entries say
``derived_from``. ``ntknas bench nb201`` is this benchmark for the ``nb201`` space.
"""

from __future__ import annotations

import csv
import json
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

import search_spaces
from ntknas.combined_scores import DEFAULT_SCORE, aggregate, get_score, list_scores
from ntknas.correlate import correlation_row
from ntknas.data import DataError, describe
from ntknas.objectives import metric_direction, probe_signal_names, signal_names
from ntknas.proxies import synflow
from ntknas.scorer import NTKScorer
from ntknas.spectral import get_metric, list_metrics

#: Prefix of the table columns that are published baselines (NASLib's zero-cost proxies).
BASELINE_PREFIX = "naslib_"


@dataclass
class Table:
    """The rows of a ground-truth table: architectures (canonical text), accuracies and the
    table's own baseline columns."""

    path: str
    space: str
    target: str
    archs: list[str]
    accuracies: list[float]
    baselines: dict[str, list[float]] = field(default_factory=dict)

    def rows(self) -> list[tuple[str, float]]:
        return list(zip(self.archs, self.accuracies))

    def take(self, positions: list[int]) -> Table:
        """The rows at ``positions`` (e.g. :func:`table_positions`), baselines alike."""
        return Table(
            self.path,
            self.space,
            self.target,
            [self.archs[i] for i in positions],
            [self.accuracies[i] for i in positions],
            {c: [v[i] for i in positions] for c, v in self.baselines.items()},
        )


def read_table(
    path: str | Path,
    target: str,
    *,
    space: str | search_spaces.SearchSpace = "nb201",
    arch_column: str = "arch",
) -> Table:
    """Read a CSV of architectures of ``space`` and their accuracy in column ``target``.

    Every ``naslib_*`` column is kept as a baseline (blank cells become NaN). Raises
    :class:`~ntknas.data.DataError` (one line naming the file, line and reason) for a missing
    file or column, an architecture the space does not parse, or an accuracy that is not a
    number.

    Example:
        >>> import tempfile, os
        >>> f = os.path.join(tempfile.mkdtemp(), "t.csv")
        >>> _ = open(f, "w").write("arch,acc\\n00000000,45.3\\n22222222,93.1\\n")
        >>> read_table(f, "acc", space="nbmacro").rows()
        [('00000000', 45.3), ('22222222', 93.1)]
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"ground-truth table {p} does not exist")
    space_obj = search_spaces.create_search_space(space) if isinstance(space, str) else space
    with p.open(newline="") as f:
        reader = csv.DictReader(f)
        columns = reader.fieldnames or []
        for needed in (arch_column, target):
            if needed not in columns:
                raise DataError(
                    f"{p}: no column {needed!r}; columns: {', '.join(columns) or '(none)'}"
                )
        extra = [c for c in columns if c.startswith(BASELINE_PREFIX) and c != target]
        table = Table(str(p), space_obj.name, target, [], [], {c: [] for c in extra})
        for line, row in enumerate(reader, start=2):
            try:
                arch = space_obj.parse(row[arch_column]).arch
            except ValueError as error:
                raise DataError(f"{p}, line {line}: {error}") from None
            try:
                acc = float(row[target])
            except (TypeError, ValueError):
                raise DataError(
                    f"{p}, line {line}: {target}={row[target]!r} is not a number"
                ) from None
            table.archs.append(arch)
            table.accuracies.append(acc)
            for c in extra:
                try:
                    table.baselines[c].append(float(row[c]))
                except (TypeError, ValueError):
                    table.baselines[c].append(float("nan"))
    if not table.archs:
        raise DataError(f"{p} holds no rows")
    return table


def read_ground_truth(
    path: str | Path, target: str, *, space: str = "nb201", arch_column: str = "arch"
) -> list[tuple[str, float]]:
    """(arch, accuracy) rows of a CSV (see :func:`read_table`)."""
    return read_table(path, target, space=space, arch_column=arch_column).rows()


def check_builds(space: search_spaces.SearchSpace, table: Table, num_classes: int = 10) -> None:
    """Build every architecture of ``table`` on the ``meta`` device (shapes only, no memory)
    and raise :class:`~ntknas.data.DataError` naming the first that fails to build."""
    for index, arch in enumerate(table.archs):
        try:
            with torch.device("meta"):
                space.build(arch, num_classes=num_classes)
        except Exception as error:  # noqa: BLE001 - any builder failure names its row
            reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise DataError(
                f"{table.path}: architecture {index + 1} ({arch}) does not build in "
                f"{space.name}: {type(error).__name__}: {reason}"
            ) from None


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` says the device or the host ran out of memory."""
    if isinstance(error, (MemoryError, torch.OutOfMemoryError)):
        return True
    text = str(error).lower()
    return isinstance(error, RuntimeError) and (
        "out of memory" in text or "can't allocate memory" in text or "not enough memory" in text
    )


def skip_out_of_memory(arch: str, error: Exception, skipped: dict[str, str]) -> None:
    """Record ``arch`` in ``skipped`` (and on stderr) if ``error`` is an out-of-memory fault,
    freeing the device's cache; re-raise any other error."""
    if not is_out_of_memory(error):
        raise error
    reason = str(error).strip().splitlines()[0][:200] if str(error) else ""
    skipped[arch] = f"out of memory: {type(error).__name__}: {reason}"
    print(f"ntknas: skipped {arch}: {skipped[arch]}", file=sys.stderr)
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def parse_settings(
    text: str | None, kernel: str, bn: str, params: str, repeats: int
) -> list[dict[str, Any]]:
    """``"sum/frozen/all/1;sum/batch/weights/3"`` → a list of scorer settings."""
    if not text:
        return [{"kernel": kernel, "bn": bn, "params": params, "repeats": repeats}]
    out = []
    for item in text.split(";"):
        parts = item.strip().split("/")
        if len(parts) != 4:
            raise ValueError(f"setting {item!r} must read kernel/bn/params/repeats")
        k, b, p, r = parts
        out.append({"kernel": k, "bn": b, "params": p, "repeats": int(r)})
    return out


def derivable(settings: list[dict[str, Any]], heldout: int) -> dict[str, list[dict[str, Any]]]:
    """For each ``full`` setting, the sum/trace settings that can be contracted from its pass."""
    if heldout:
        return {}
    out: dict[str, list[dict[str, Any]]] = {}
    for s in settings:
        if s["kernel"] != "full":
            continue
        out[setting_name(s)] = [
            t
            for t in settings
            if t["kernel"] != "full" and all(t[k] == s[k] for k in ("bn", "params", "repeats"))
        ]
    return out


def available_scores(population: list[dict[str, Any]]) -> list[str]:
    """The registered combined scores whose components every row of ``population`` has."""
    have = set.intersection(*(set(m) for m in population)) if population else set()
    return [name for name in list_scores() if get_score(name).needs() <= have]


def ablate(population: list[dict[str, Any]], acc: list[float], rule_name: str) -> dict[str, Any]:
    """τ/ρ of the rule without each component, and of each component alone (same aggregation)."""
    from ntknas.combined_scores import ScoreRule

    rule = get_score(rule_name)
    out: dict[str, Any] = {"without": {}, "alone": {}}
    for name in rule.components:
        rest = {k: v for k, v in rule.components.items() if k != name}
        if rest:
            r = correlation_row(list(aggregate(population, ScoreRule("-", rest))), acc)
            out["without"][name] = {k: r[k] for k in ("kendall_tau", "spearman_rho")}
        alone = correlation_row(
            list(aggregate(population, ScoreRule("-", {name: rule.components[name]}))), acc
        )
        out["alone"][name] = {k: alone[k] for k in ("kendall_tau", "spearman_rho")}
    return out


def setting_name(s: dict[str, Any]) -> str:
    return f"{s['kernel']}/{s['bn']}/{s['params']}/{s['repeats']}"


def read_cache(path: str | Path) -> dict[str, dict[str, Any]]:
    """The entries of a ``--cache`` file by key; a key written again (a proxy added to an older
    cache) takes its last entry and keeps its first place. A missing file has none."""
    path = Path(path).expanduser()
    entries: dict[str, dict[str, Any]] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            entry = json.loads(line)
            entries[entry["key"]] = entry
    return entries


def _space_prefix(space: search_spaces.SearchSpace) -> str:
    """What a cache key holds of the space: nothing for NAS-Bench-201 with its defaults (the
    keys of earlier ``bench nb201`` caches), else its name and options."""
    if space.name == "nb201" and space.options() == {"channels": 16, "cells": 5}:
        return ""
    return f"{space.name}{json.dumps(space.options(), sort_keys=True)}#"


def sample_positions(count: int, n: int | None, seed: int, skip: int = 0) -> list[int]:
    """The rows (positions) of a seeded sample of ``n`` of ``count``; None: all, in order.

    ``skip``: the rows a seeded ``n=skip`` sample holds are left out of a sample drawn
    ``skip + n`` long, so a later round gets rows an earlier one never saw.

    Example:
        >>> first = sample_positions(100, 10, seed=0)
        >>> fresh = sample_positions(100, 10, seed=0, skip=10)
        >>> len(fresh), set(first) & set(fresh)
        (10, set())
    """
    if skip and n is None:
        raise ValueError("--skip needs --n (the size of the sample after the skipped rows)")
    if n is None:
        return list(range(count))
    if n < 1 or skip < 0:
        raise ValueError(f"--n must be >= 1 and --skip >= 0, got {n} and {skip}")
    drawn = random.Random(seed).sample(range(count), min(skip + n, count))
    used = set(random.Random(seed).sample(range(count), min(skip, count)))
    return [i for i in drawn if i not in used][:n]


def table_positions(
    count: int,
    n: int | None,
    seed: int,
    skip: int = 0,
    shard: tuple[int, int] | None = None,
    part: str | None = None,
) -> list[int]:
    """The rows :func:`run_table` scores: the seeded sample (:func:`sample_positions`), then
    every k-th of it from the i-th (``shard=(i, k)``), then its ``part`` (``"pilot"``:
    positions 0, 3, 6, ...; ``"evaluation"``: the others; None: all).

    Example:
        >>> sample = table_positions(30, 9, seed=0)
        >>> table_positions(30, 9, seed=0, part="pilot") == sample[::3]
        True
    """
    order = sample_positions(count, n, seed, skip)
    if shard is not None:
        index, shards = shard
        if not (isinstance(shards, int) and shards >= 1 and 0 <= index < shards):
            raise ValueError(f"--shard must read I/K with 0 <= I < K, got {index}/{shards}")
        order = order[index::shards]
    if part is not None:
        order = [o for k, o in enumerate(order) if (k % 3 == 0) == (part == "pilot")]
    return order


def run_table(
    *,
    space: str,
    ground_truth: str,
    target: str,
    arch_column: str = "arch",
    space_options: dict[str, Any] | None = None,
    n: int | None = None,
    seed: int = 0,
    data: str = "synthetic",
    data_dir: str | None = None,
    batch_size: int = 64,
    kernel: str = "sum",
    bn: str = "frozen",
    params: str = "all",
    repeats: int = 1,
    device: str = "cpu",
    progress: bool = True,
    include_disconnected: bool = False,
    configs: str | None = None,
    cache: str | Path | None = None,
    heldout: int = 0,
    proxies: bool = False,
    shard: tuple[int, int] | None = None,
    part: str | None = None,
    per_architecture: bool = False,
    skip: int = 0,
) -> dict[str, Any]:
    """Score a seeded sample of the table and correlate; see the module docstring.

    ``shard=(i, k)`` scores every k-th architecture of the sample from the i-th: k processes
    sharing one ``cache`` file split a long run; a last run without ``shard`` reads them all.
    ``part``: ``"pilot"`` keeps every third architecture of the (sharded) sample, positions
    0, 3, 6, ... (where a rule is chosen), ``"evaluation"`` the other two thirds (where it is
    judged); None keeps all. ``per_architecture``: the result also holds each architecture's
    accuracy and signals (``"architectures"``), for analyses in memory; the command line never
    writes it (results must not copy a benchmark table's rows). ``skip``: the seeded sample is
    drawn ``skip + n`` long and its first ``skip`` dropped: the rows a seeded ``n=skip`` run
    used are never among them (fresh rows for a rule chosen after that run; needs ``n``).
    """
    if part not in (None, "pilot", "evaluation"):
        raise ValueError(f"--part must be pilot or evaluation, got {part!r}")
    space_obj = search_spaces.create_search_space(space, **(space_options or {}))
    table = read_table(ground_truth, target, space=space_obj, arch_column=arch_column)
    settings = parse_settings(configs, kernel, bn, params, repeats)
    order = table_positions(len(table.archs), n, seed, skip, shard, part)
    sample = table.take(order)
    rows = sample.rows()
    image_size = space_obj.input_shape[-1]
    probe_scorer = NTKScorer(
        batch_size=batch_size, data=data, data_dir=data_dir, seed=seed, image_size=image_size
    )
    check_builds(space_obj, sample, num_classes=probe_scorer.num_classes)
    is_disconnected = getattr(space_obj, "is_disconnected", None)
    disconnected = [bool(is_disconnected(a)) if is_disconnected else False for a, _ in rows]
    cache_lines = read_cache(cache) if cache is not None else {}
    cache_file = open(cache, "a") if cache is not None else None  # noqa: SIM115
    results: dict[str, Any] = {}
    costs: dict[str, tuple[int, int]] = {}
    skipped: dict[str, str] = {}
    per_arch: dict[str, dict[str, dict[str, float]]] = {}
    siblings = derivable(settings, heldout)
    extra = f"h{heldout}|p{int(proxies)}|" if heldout or proxies else ""
    prefix = _space_prefix(space_obj)

    def key_of(s: dict[str, Any], arch: str) -> str:
        return f"{setting_name(s)}|{batch_size}|{data}|{seed}|{extra}{prefix}{arch}"

    def remember(entry: dict[str, Any]) -> None:
        cache_lines[entry["key"]] = entry
        if cache_file is not None:
            cache_file.write(json.dumps(entry) + "\n")
            cache_file.flush()

    start_all = time.perf_counter()
    try:
        # full kernels first: the sum/trace settings beside them are then cache hits
        for s in sorted(settings, key=lambda t: t["kernel"] != "full"):
            scorer = NTKScorer(
                batch_size=batch_size,
                device=device,
                data=data,
                data_dir=data_dir,
                seed=seed,
                heldout=heldout,
                proxies=proxies,
                image_size=image_size,
                **s,
            )
            _ = scorer.probe
            _ = scorer.heldout_batch
            input_shape = tuple(scorer.probe[0].shape[1:])
            metrics: dict[str, dict[str, float]] = {}
            degenerate: dict[str, bool] = {}
            iterator = rows
            if progress:
                from tqdm.auto import tqdm

                iterator = tqdm(rows, desc=setting_name(s), unit="arch")
            start = time.perf_counter()
            scoring_seconds = 0.0
            phase_times: dict[str, list[float]] = {}
            for arch, _ in iterator:
                if arch in skipped:
                    continue
                key = key_of(s, arch)
                try:
                    if key not in cache_lines:
                        others = siblings.get(setting_name(s), [])
                        if others:
                            kernels = ["full"] + [t["kernel"] for t in others]
                            scored = scorer.score_kernels(space_obj, arch, kernels)
                        else:
                            scored = {s["kernel"]: scorer.score(space_obj, arch)}
                        first = scored[s["kernel"]]
                        if "synflow" not in first.metrics:  # a scorer without the proxies
                            t0 = time.perf_counter()
                            flow = synflow(scorer.build(space_obj, arch), input_shape)
                            flow_seconds = time.perf_counter() - t0
                            for t in [s, *others]:
                                r = scored[t["kernel"]]
                                r.metrics["synflow"] = flow
                                r.phases["synflow"] = flow_seconds
                                r.seconds += flow_seconds
                        for t in [s, *others]:
                            r = scored[t["kernel"]]
                            entry = {
                                "key": key_of(t, arch),
                                "metrics": r.metrics,
                                "degenerate": r.degenerate,
                                "params": r.params,
                                "flops": r.flops,
                                "seconds": r.seconds,
                                "phases": r.phases,
                            }
                            if t is not s:
                                entry["derived_from"] = setting_name(s)
                            remember(entry)
                    entry = cache_lines[key]
                    missing = [
                        m for m in probe_signal_names() if proxies and m not in entry["metrics"]
                    ]
                    if missing:  # a cache from before a proxy existed: add it, keep the kernel
                        timings: dict[str, float] = {}
                        extra_metrics = scorer.forward_proxies(
                            scorer.build(space_obj, arch), timings
                        )
                        entry = {**entry, "metrics": {**entry["metrics"], **extra_metrics}}
                        entry["phases"] = {**entry.get("phases", {}), **timings}
                        # the recomputed forward replaces the cached one; the backward is new
                        entry["seconds"] = float(entry.get("seconds", 0.0)) + timings.get(
                            "backward_decorrelation", 0.0
                        )
                        remember(entry)
                    if "synflow" not in entry["metrics"]:  # a cache from before synflow
                        t0 = time.perf_counter()
                        value = synflow(scorer.build(space_obj, arch), input_shape)
                        took = time.perf_counter() - t0
                        entry = {**entry, "metrics": {**entry["metrics"], "synflow": value}}
                        entry["phases"] = {**entry.get("phases", {}), "synflow": took}
                        entry["seconds"] = float(entry.get("seconds", 0.0)) + took
                        remember(entry)
                except Exception as error:  # noqa: BLE001 - only memory faults are survived
                    skip_out_of_memory(arch, error, skipped)
                    continue
                scoring_seconds += float(entry.get("seconds", 0.0))
                for phase, value in entry.get("phases", {}).items():
                    phase_times.setdefault(phase, []).append(float(value))
                metrics[arch] = entry["metrics"]
                degenerate[arch] = entry["degenerate"]
                costs[arch] = (entry["params"], entry["flops"])
            seconds = time.perf_counter() - start
            keep = [
                (include_disconnected or not d) and a in metrics
                for (a, _), d in zip(rows, disconnected)
            ]
            acc = [a for (_, a), k in zip(rows, keep) if k]
            kept = [a for (a, _), k in zip(rows, keep) if k]
            correlations = {}
            for name in list_metrics():
                values = [metrics[a].get(name, float("nan")) for a in kept]
                values = [v if v is not None else float("nan") for v in values]
                correlations[name] = correlation_row(values, acc, sign=get_metric(name).sign)
            population = [{**metrics[a], "params": costs[a][0], "flops": costs[a][1]} for a in kept]
            for name in signal_names():
                if any(name in m for m in population):
                    values = [m.get(name, float("nan")) for m in population]
                    sign = 1 if metric_direction(name) == "maximize" else -1
                    correlations[name] = correlation_row(values, acc, sign=sign)
            ablation = {}
            for name in available_scores(population):
                correlations[name] = correlation_row(list(aggregate(population, name)), acc)
                ablation[name] = ablate(population, acc, name)
            scored = len(metrics)
            per_arch[setting_name(s)] = metrics
            results[setting_name(s)] = {
                "settings": s,
                "correlations": correlations,
                "degenerate": sum(degenerate.values()),
                "degenerate_connected": sum(
                    degenerate.get(a, False) and not d for (a, _), d in zip(rows, disconnected)
                ),
                "wall_seconds": seconds,
                "scoring_seconds": scoring_seconds,
                "archs_per_second": scored / scoring_seconds if scoring_seconds > 0 else None,
                "median_seconds_per_arch": (scoring_seconds / scored if scored else None),
                "median_phase_seconds": {
                    k: float(statistics.median(v)) for k, v in phase_times.items()
                },
                "ablation": ablation,
                "derived_from": next(
                    (f for f, ts in siblings.items() if any(t is s for t in ts)), None
                ),
            }
    finally:
        if cache_file is not None:
            cache_file.close()
    results = {setting_name(s): results[setting_name(s)] for s in settings}
    keep = [
        (include_disconnected or not d) and a not in skipped
        for (a, _), d in zip(rows, disconnected)
    ]
    acc = [a for (_, a), k in zip(rows, keep) if k]
    kept = [a for (a, _), k in zip(rows, keep) if k]
    baselines = {
        "params": correlation_row([costs[a][0] for a in kept], acc),
        "flops": correlation_row([costs[a][1] for a in kept], acc),
    }
    for column, values in sample.baselines.items():
        by_arch = dict(zip(sample.archs, values))
        baselines[column] = correlation_row([by_arch[a] for a in kept], acc)
    primary = results[setting_name(settings[0])]
    default = DEFAULT_SCORE if DEFAULT_SCORE in primary["correlations"] else "log_cond"
    result: dict[str, Any] = {
        "space": space_obj.name,
        "space_options": space_obj.options(),
        "ground_truth": str(ground_truth),
        "n": len(rows),
        "part": part,
        "skip": skip,
        "n_correlated": len(acc),
        "n_disconnected": sum(disconnected),
        "n_skipped": len(skipped),
        "skipped": skipped,
        "disconnected_policy": "included" if include_disconnected else "excluded from correlations",
        "target": target,
        "data": describe(data, data_dir),
        "num_classes": probe_scorer.num_classes,
        "image_size": image_size,
        "batch_size": batch_size,
        "seed": seed,
        "device": device,
        "default_score": default,
        "heldout": heldout,
        "proxies": proxies,
        "correlations": {
            k: {"kendall_tau": v["kendall_tau"], "spearman_rho": v["spearman_rho"]}
            for k, v in primary["correlations"].items()
        },
        "baselines": baselines,
        "settings": results,
    }
    if per_architecture:  # in memory only: the outputs never hold copies of a table's rows
        result["architectures"] = [
            {
                "arch": a,
                "accuracy": acc_of,
                "correlated": k,
                "params": costs[a][0],
                "flops": costs[a][1],
                "metrics": per_arch[setting_name(settings[0])][a],
            }
            for (a, acc_of), k in zip(rows, keep)
            if a in per_arch[setting_name(settings[0])]
        ]
    result["torch_threads"] = torch.get_num_threads()
    result["seconds"] = time.perf_counter() - start_all
    return result


def format_table(result: dict[str, Any]) -> str:
    """The text table of a :func:`run_table` result."""
    skipped = f", {result['n_skipped']} skipped (out of memory)" if result.get("n_skipped") else ""
    lines = [
        f"{result['space']}: {result['n']} architectures ({result['n_disconnected']} "
        f"disconnected, {result['disconnected_policy']}{skipped}), target {result['target']}, "
        f"probe: {result['data']}, B={result['batch_size']}, "
        f"{result.get('num_classes', 10)} classes, {result.get('image_size', 32)} px",
        "signed correlations (positive = ranks like accuracy)",
        "",
        f"{'setting':<22} {'metric':<26} {'tau':>7} {'rho':>7} {'top10':>6} {'regret':>7}",
    ]
    for name, block in result["settings"].items():
        for metric, row in block["correlations"].items():
            lines.append(
                f"{name:<22} {metric:<26} {row['kendall_tau']:>7.3f} {row['spearman_rho']:>7.3f} "
                f"{row['top10_overlap']:>6.2f} {row['regret']:>7.2f}"
            )
        shared = (
            f", contracted from the {block['derived_from']} pass"
            if block.get("derived_from")
            else ""
        )
        rate = block["archs_per_second"]
        lines.append(
            f"{'':<22} ({block['degenerate']} degenerate kernels, "
            f"{rate if rate is None else f'{rate:.2f}'} arch/s{shared})"
        )
    for name, block in result["settings"].items():
        if block.get("median_phase_seconds"):
            phases = ", ".join(f"{k} {v:.3f}" for k, v in block["median_phase_seconds"].items())
            lines.append(f"{name}: median seconds per architecture: {phases}")
        for rule, ab in block.get("ablation", {}).items():
            lines.append(f"ablation of {rule} ({name}): tau / rho")
            for comp, r in ab["alone"].items():
                without = ab["without"].get(comp)
                rest = (
                    f"without it {without['kendall_tau']:.3f} / {without['spearman_rho']:.3f}"
                    if without
                    else ""
                )
                lines.append(
                    f"  {comp:<20} alone {r['kendall_tau']:.3f} / {r['spearman_rho']:.3f}   {rest}"
                )
    for name, row in result["baselines"].items():
        lines.append(
            f"{'baseline':<22} {name:<26} {row['kendall_tau']:>7.3f} {row['spearman_rho']:>7.3f} "
            f"{row['top10_overlap']:>6.2f} {row['regret']:>7.2f}"
        )
    for arch, reason in result.get("skipped", {}).items():
        lines.append(f"skipped {arch}: {reason}")
    return "\n".join(lines)
