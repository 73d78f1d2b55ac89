"""``ntknas bench nb201``: rank correlation of NTK metrics with a NAS-Bench-201 accuracy table.

The table is read from a path given on the command line (never bundled). Correlations are signed
by each metric's declared direction (positive = agrees with accuracy); #params and FLOPs are
baselines on the same architectures. Cells with no input→output path (their logits ignore the
image; the benchmark gives them 10%) are counted and, by default, left out of the correlations.

Several kernels with the same bn/params/repeats cost one pass: when the settings include a
``full`` kernel (and no held-out images), the ``sum`` and ``trace`` settings beside it are
contracted exactly from it (:func:`ntknas.ntk.contract_full`); their cache entries say
``derived_from``.
"""

from __future__ import annotations

import csv
import json
import random
import statistics
import time
from pathlib import Path
from typing import Any

import torch

import search_spaces
from ntknas.correlate import correlation_row
from ntknas.data import DataError, describe
from ntknas.proxies import PROXY_METRICS
from ntknas.score import DEFAULT_SCORE, aggregate, get_score, list_scores
from ntknas.scorer import FORWARD_PROXIES, NTKScorer
from ntknas.spectrum import get_metric, list_metrics, metric_direction

ANCHORS = {
    "ntk_cond (ZiCo paper)": {"kendall_tau": 0.33},
    "params": {"kendall_tau": 0.577, "spearman_rho": 0.753},
    "naswot": {"spearman_rho": "0.69-0.77"},
    "synflow": {"spearman_rho": 0.74},
    "az-nas": {"kendall_tau": 0.741, "spearman_rho": 0.913},
}


def read_ground_truth(path: str | Path, target: str) -> list[tuple[str, float]]:
    """(arch, accuracy) rows of a CSV with an ``arch`` column and the ``target`` column."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"ground-truth table {p} does not exist")
    with p.open(newline="") as f:
        reader = csv.DictReader(f)
        columns = reader.fieldnames or []
        for needed in ("arch", target):
            if needed not in columns:
                raise DataError(
                    f"{p}: no column {needed!r}; columns: {', '.join(columns) or '(none)'}"
                )
        rows = []
        space = search_spaces.create_search_space("nb201")
        for line, row in enumerate(reader, start=2):
            try:
                arch = space.parse(row["arch"]).arch
            except ValueError as error:
                raise DataError(f"{p}, line {line}: {error}") from None
            try:
                acc = float(row[target])
            except (TypeError, ValueError):
                raise DataError(
                    f"{p}, line {line}: {target}={row[target]!r} is not a number"
                ) from None
            rows.append((arch, acc))
    if not rows:
        raise DataError(f"{p} holds no rows")
    return rows


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
    from ntknas.score import ScoreRule

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


def cached_population(path: str | Path) -> list[tuple[str, dict[str, float]]]:
    """(architecture, its metrics with ``params`` and ``flops``) for every entry of a
    ``--cache`` file, in file order. Keys are the setting fields, then the ``|...|`` arch
    string after the first ``||``."""
    return [
        ("|" + key.split("||", 1)[1], {**e["metrics"], "params": e["params"], "flops": e["flops"]})
        for key, e in read_cache(path).items()
    ]


def run_nb201(
    *,
    ground_truth: str,
    target: str,
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
) -> dict[str, Any]:
    """Score a seeded sample of the table and correlate; see the module docstring.

    ``shard=(i, k)`` scores every k-th architecture of the sample from the i-th: k processes
    sharing one ``cache`` file split a long run; a last run without ``shard`` reads them all.
    """
    rows = read_ground_truth(ground_truth, target)
    settings = parse_settings(configs, kernel, bn, params, repeats)
    if n is not None:
        if n < 1:
            raise ValueError(f"--n must be >= 1, got {n}")
        rows = random.Random(seed).sample(rows, min(n, len(rows)))
    if shard is not None:
        index, count = shard
        if not (isinstance(count, int) and count >= 1 and 0 <= index < count):
            raise ValueError(f"--shard must read I/K with 0 <= I < K, got {index}/{count}")
        rows = rows[index::count]
    space = search_spaces.create_search_space("nb201")
    disconnected = [space.is_disconnected(a) for a, _ in rows]
    cache_lines = read_cache(cache) if cache is not None else {}
    cache_file = open(cache, "a") if cache is not None else None  # noqa: SIM115
    results: dict[str, Any] = {}
    costs: dict[str, tuple[int, int]] = {}
    siblings = derivable(settings, heldout)
    extra = f"h{heldout}|p{int(proxies)}|" if heldout or proxies else ""

    def key_of(s: dict[str, Any], arch: str) -> str:
        return f"{setting_name(s)}|{batch_size}|{data}|{seed}|{extra}{arch}"

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
                **s,
            )
            _ = scorer.probe
            _ = scorer.heldout_batch
            metrics: list[dict[str, float]] = []
            degenerate = []
            iterator = rows
            if progress:
                from tqdm.auto import tqdm

                iterator = tqdm(rows, desc=setting_name(s), unit="arch")
            start = time.perf_counter()
            scoring_seconds = 0.0
            phase_times: dict[str, list[float]] = {}
            for arch, _ in iterator:
                key = key_of(s, arch)
                if key not in cache_lines:
                    others = siblings.get(setting_name(s), [])
                    if others:
                        kernels = ["full"] + [t["kernel"] for t in others]
                        scored = scorer.score_kernels(space, arch, kernels)
                    else:
                        scored = {s["kernel"]: scorer.score(space, arch)}
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
                missing = [m for m in FORWARD_PROXIES if proxies and m not in entry["metrics"]]
                if missing:  # a cache from before a proxy existed: add it, keep the kernel
                    timings: dict[str, float] = {}
                    extra_metrics = scorer.forward_proxies(scorer.build(space, arch), timings)
                    entry = {**entry, "metrics": {**entry["metrics"], **extra_metrics}}
                    entry["phases"] = {**entry.get("phases", {}), **timings}
                    # the recomputed forward replaces the cached one; the backward is new work
                    entry["seconds"] = float(entry.get("seconds", 0.0)) + timings.get(
                        "backward_decorrelation", 0.0
                    )
                    remember(entry)
                scoring_seconds += float(entry.get("seconds", 0.0))
                for phase, value in entry.get("phases", {}).items():
                    phase_times.setdefault(phase, []).append(float(value))
                metrics.append(entry["metrics"])
                degenerate.append(entry["degenerate"])
                costs[arch] = (entry["params"], entry["flops"])
            seconds = time.perf_counter() - start
            keep = [include_disconnected or not d for d in disconnected]
            acc = [a for (_, a), k in zip(rows, keep) if k]
            table = {}
            for name in list_metrics():
                values = [m.get(name, float("nan")) for m, k in zip(metrics, keep) if k]
                values = [v if v is not None else float("nan") for v in values]
                table[name] = correlation_row(values, acc, sign=get_metric(name).sign)
            population = [
                {**m, "params": costs[a][0], "flops": costs[a][1]}
                for m, (a, _), k in zip(metrics, rows, keep)
                if k
            ]
            for name in PROXY_METRICS:
                if any(name in m for m in population):
                    values = [m.get(name, float("nan")) for m in population]
                    sign = 1 if metric_direction(name) == "maximize" else -1
                    table[name] = correlation_row(values, acc, sign=sign)
            ablation = {}
            for name in available_scores(population):
                table[name] = correlation_row(list(aggregate(population, name)), acc)
                ablation[name] = ablate(population, acc, name)
            results[setting_name(s)] = {
                "settings": s,
                "correlations": table,
                "degenerate": sum(degenerate),
                "degenerate_connected": sum(d and not c for d, c in zip(degenerate, disconnected)),
                "wall_seconds": seconds,
                "scoring_seconds": scoring_seconds,
                "archs_per_second": len(rows) / scoring_seconds if scoring_seconds > 0 else None,
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
    keep = [include_disconnected or not d for d in disconnected]
    acc = [a for (_, a), k in zip(rows, keep) if k]
    baselines = {
        "params": correlation_row([costs[a][0] for (a, _), k in zip(rows, keep) if k], acc),
        "flops": correlation_row([costs[a][1] for (a, _), k in zip(rows, keep) if k], acc),
    }
    primary = results[setting_name(settings[0])]
    default = DEFAULT_SCORE if DEFAULT_SCORE in primary["correlations"] else "log_cond"
    return {
        "n": len(rows),
        "n_correlated": len(acc),
        "n_disconnected": sum(disconnected),
        "disconnected_policy": "included" if include_disconnected else "excluded from correlations",
        "target": target,
        "data": describe(data, data_dir),
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
        "anchors": ANCHORS,
        "torch_threads": torch.get_num_threads(),
        "seconds": time.perf_counter() - start_all,
    }


def format_nb201(result: dict[str, Any]) -> str:
    lines = [
        f"NAS-Bench-201: {result['n']} architectures ({result['n_disconnected']} disconnected, "
        f"{result['disconnected_policy']}), target {result['target']}, probe: {result['data']}, "
        f"B={result['batch_size']}",
        "signed correlations (positive = ranks like accuracy)",
        "",
        f"{'setting':<22} {'metric':<22} {'tau':>7} {'rho':>7} {'top10':>6} {'regret':>7}",
    ]
    for name, block in result["settings"].items():
        for metric, row in block["correlations"].items():
            lines.append(
                f"{name:<22} {metric:<22} {row['kendall_tau']:>7.3f} {row['spearman_rho']:>7.3f} "
                f"{row['top10_overlap']:>6.2f} {row['regret']:>7.2f}"
            )
        shared = (
            f", contracted from the {block['derived_from']} pass"
            if block.get("derived_from")
            else ""
        )
        lines.append(
            f"{'':<22} ({block['degenerate']} degenerate kernels, "
            f"{block['archs_per_second']:.2f} arch/s{shared})"
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
            f"{'baseline':<22} {name:<22} {row['kendall_tau']:>7.3f} {row['spearman_rho']:>7.3f} "
            f"{row['top10_overlap']:>6.2f} {row['regret']:>7.2f}"
        )
    lines.append("")
    lines.append(
        "anchors (published, NAS-Bench-201 CIFAR-10): NTK cond tau 0.33 (ZiCo); #params tau 0.577 "
        "rho 0.753; NASWOT rho 0.69-0.77; synflow rho 0.74; AZ-NAS tau 0.741 rho 0.913"
    )
    return "\n".join(lines)
