"""``ntknas bench throughput``: end-to-end scoring of N distinct architectures through the same
code path as ``ntknas search`` (``NTKScorer.score`` computing what the named score needs: build,
initialize, then the kernel pass and its metrics or the probe signals alone)."""

from __future__ import annotations

import resource
import statistics
import time
from typing import Any

import torch
import torch.nn.functional as F

import search_spaces
from ntknas.allocator import allocator_state, describe_allocator, retain_freed_memory
from ntknas.bench._memory import peak_memory
from ntknas.bench._processes import timed_in_processes
from ntknas.combined_scores import DEFAULT_SCORE
from ntknas.ntk import tf32_disabled
from ntknas.ntk._phases import record_phases
from ntknas.scorer import NTKScorer

PHASE_ORDER = (
    "build",
    "setup",
    "forward",
    "backward",
    "per_sample_gradients",
    "gram",
    "eigendecomposition",
    "naswot",
    "backward_decorrelation",
    "input_check",
    "flops",
)


def run_throughput(
    *,
    space: str = "nb201",
    n: int = 50,
    batch_size: int = 64,
    device: str = "cpu",
    data: str = "synthetic",
    seed: int = 0,
    implementation: str = "auto",
    kernel: str = "sum",
    bn: str = "frozen",
    train_reference: bool = True,
    score: str = DEFAULT_SCORE,
) -> dict[str, Any]:
    """Architectures per second, peak memory, and the share of time per phase, scoring
    ``score`` (the scorer computes what it needs: the package's default score runs no kernel
    pass; ``log_cond`` or any spectral metric does).

    With ``train_reference``, every architecture is also given one training step (forward +
    cross-entropy + backward on the same batch, its own fresh model) after the timed loop, so
    the table says what scoring costs next to training: the median per-architecture ratio of
    time and of peak memory (each scoring's and training step's peak measured alone).
    """
    if n < 1:
        raise ValueError(f"--n must be >= 1, got {n}")
    sp = search_spaces.create_search_space(space)
    archs = [spec.arch for spec in sp.sample_distinct(n + 1, seed)]
    scorer = NTKScorer(
        batch_size=batch_size,
        device=device,
        data=data,
        seed=seed,
        implementation=implementation,
        kernel=kernel,
        bn=bn,
        metric=score,
        needs=[score],
    )
    _ = scorer.probe
    scorer.score(sp, archs[0])  # warm-up, not counted
    if scorer.device.type == "cuda":
        torch.cuda.synchronize(scorer.device)
        torch.cuda.reset_peak_memory_stats(scorer.device)
    totals: dict[str, float] = {}
    degenerate = 0
    start = time.perf_counter()
    for arch in archs[1:]:
        with record_phases() as phases:
            result = scorer.score(sp, arch)
        degenerate += int(result.degenerate)
        # the scorer's own phases (build, eigendecomposition, each proxy pass, FLOPs); its
        # kernel pass ("ntk") is the engine's forward, backward and Gram from record_phases
        for key, seconds in result.phases.items():
            if key != "ntk":
                phases[key] = seconds
        for key, value in phases.items():
            totals[key] = totals.get(key, 0.0) + value
    if scorer.device.type == "cuda":
        torch.cuda.synchronize(scorer.device)
    wall = time.perf_counter() - start
    counted = len(archs) - 1
    reference = _train_reference(sp, scorer, archs[1:]) if train_reference else None
    if scorer.device.type == "cuda":
        peak = int(torch.cuda.max_memory_allocated(scorer.device))
        peak_kind = "cuda max_memory_allocated"
    else:
        peak = int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
        peak_kind = "process peak RSS (includes Python, torch and the data)"
    other = max(0.0, wall - sum(totals.values()))
    shares = {k: totals[k] / wall for k in PHASE_ORDER if k in totals}
    shares.update({k: v / wall for k, v in totals.items() if k not in shares})
    shares["other"] = other / wall
    return {
        "space": space,
        "score": score,
        "kernel_pass": scorer.kernel_needed(),
        "n": counted,
        "batch_size": batch_size,
        "device": str(scorer.device),
        "device_name": torch.cuda.get_device_name(scorer.device)
        if scorer.device.type == "cuda"
        else "cpu",
        "threads": torch.get_num_threads(),
        "cpu_allocator": allocator_state(),
        "implementation": implementation,
        "kernel": kernel,
        "bn": bn,
        "seconds": wall,
        "archs_per_second": counted / wall,
        "peak_memory_bytes": peak,
        "peak_memory_kind": peak_kind,
        "phases": shares,
        "phase_seconds": {k: round(v, 4) for k, v in totals.items()},
        "degenerate": degenerate,
        "projected_seconds_for_space": _projected_seconds(sp, counted / wall),
        "train_reference": reference,
    }


def _projected_seconds(sp: Any, archs_per_second: float) -> float | None:
    """Seconds to score the whole space at this rate (None for an unbounded space)."""
    size = sp.size()
    return size / archs_per_second if size != float("inf") else None


def _train_reference(sp: Any, scorer: NTKScorer, archs: list[str]) -> dict[str, Any]:
    """Per architecture: one training step's time and peak memory next to scoring's (scoring
    timed again here, alone, so both are measured the same way)."""
    x, y = scorer.probe
    cuda = scorer.device.type == "cuda"
    time_ratios, memory_ratios, train_seconds, score_seconds = [], [], [], []
    for arch in archs:
        model = scorer.build(sp, arch)
        model.train()

        def step(model: torch.nn.Module = model) -> None:
            model.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()
            if cuda:
                torch.cuda.synchronize(scorer.device)

        def score(arch: str = arch) -> None:
            scorer.score(sp, arch)
            if cuda:
                torch.cuda.synchronize(scorer.device)

        with tf32_disabled():
            step()  # warm-up of this shape
            started = time.perf_counter()
            step()
            t_train = time.perf_counter() - started
            train_peak = peak_memory(scorer.device, step)
        model.zero_grad(set_to_none=True)
        started = time.perf_counter()
        score()
        t_score = time.perf_counter() - started
        score_peak = peak_memory(scorer.device, score)
        train_seconds.append(t_train)
        score_seconds.append(t_score)
        time_ratios.append(t_score / t_train)
        if train_peak and score_peak is not None:
            memory_ratios.append(score_peak / train_peak)
    return {
        "median_train_step_seconds": statistics.median(train_seconds),
        "mean_train_step_seconds": statistics.fmean(train_seconds),
        "median_score_seconds": statistics.median(score_seconds),
        "median_time_ratio": statistics.median(time_ratios),
        "time_ratios": [round(r, 3) for r in time_ratios],
        "median_peak_memory_ratio": statistics.median(memory_ratios) if memory_ratios else None,
        "max_peak_memory_ratio": max(memory_ratios) if memory_ratios else None,
        "train_steps_per_second": 1.0 / statistics.fmean(train_seconds),
    }


def format_throughput(r: dict[str, Any]) -> str:
    lines = [
        f"{r['space']}: {r['n']} distinct architectures, score {r.get('score', 'log_cond')}"
        f"{' (kernel pass: ' + r['kernel'] + '/' + r['bn'] + ')' if r.get('kernel_pass', True) else ' (no kernel pass)'}, "
        f"B={r['batch_size']}, {r['device_name']}, {r['threads']} threads, "
        f"CPU allocator: {describe_allocator(r.get('cpu_allocator', 'system'))}",
        f"{r['archs_per_second']:.2f} architectures/s ({r['seconds']:.1f} s), peak memory "
        f"{r['peak_memory_bytes'] / 2**20:.0f} MiB ({r['peak_memory_kind']})",
    ]
    if r["projected_seconds_for_space"]:
        lines.append(f"whole space at this rate: {r['projected_seconds_for_space'] / 60:.1f} min")
    ref = r.get("train_reference")
    if ref:
        mem = ref["median_peak_memory_ratio"]
        lines.append(
            f"one training step on the same archs: {ref['median_train_step_seconds']:.3f} s "
            f"median ({1 / ref['median_train_step_seconds']:.2f} archs/s if scoring cost exactly "
            "one step); "
            f"scoring / training step, median per arch: time {ref['median_time_ratio']:.2f}x, "
            "peak memory "
            + (f"{mem:.2f}x (max {ref['max_peak_memory_ratio']:.2f}x)" if mem else "not measured")
        )
    lines.append("")
    lines.append(f"{'phase':<22} {'share':>7}")
    for name, share in r["phases"].items():
        lines.append(f"{name:<22} {share * 100:>6.1f}%")
    return "\n".join(lines)


def _worker_share(
    options: dict[str, Any], archs: list[str], threads: int, barrier: Any
) -> dict[str, Any]:
    """One worker process: warm up on its first architecture, wait for the others, then score
    the rest of its share; returns its count, seconds and phase totals."""
    retain_freed_memory()  # a spawned process: as the ``ntknas`` command does in its own
    torch.set_num_threads(threads)
    sp = search_spaces.create_search_space(options.pop("space"))
    score = options.pop("score")
    scorer = NTKScorer(**options, metric=score, needs=[score])
    _ = scorer.probe
    scorer.score(sp, archs[0])
    barrier.wait()
    started = time.perf_counter()
    for arch in archs[1:]:
        scorer.score(sp, arch)
    return {
        "n": len(archs) - 1,
        "seconds": time.perf_counter() - started,
        "cpu_allocator": allocator_state(),
    }


def run_throughput_workers(
    *,
    workers: int,
    space: str = "nb201",
    n: int = 50,
    batch_size: int = 64,
    data: str = "synthetic",
    seed: int = 0,
    implementation: str = "auto",
    kernel: str = "sum",
    bn: str = "frozen",
    threads_per_worker: int | None = None,
    score: str = DEFAULT_SCORE,
) -> dict[str, Any]:
    """Aggregate CPU throughput of ``workers`` processes that split the cores and the
    architectures (what ``ntknas worker`` processes sharing one study do).

    Each worker scores its share (round-robin) after a warm-up architecture of its own; timing
    starts when every worker is warm and stops when the last one finishes, so
    ``archs_per_second`` is N / (slowest worker's time).
    """
    if workers < 1 or n < workers:
        raise ValueError(f"--workers must be between 1 and --n ({n}), got {workers}")
    threads = threads_per_worker or max(1, torch.get_num_threads() // workers)
    sp = search_spaces.create_search_space(space)
    archs = [spec.arch for spec in sp.sample_distinct(n + workers, seed)]
    warmups, counted = archs[:workers], archs[workers:]
    shares = [[warmups[w], *counted[w::workers]] for w in range(workers)]
    options = dict(
        space=space,
        batch_size=batch_size,
        device="cpu",
        data=data,
        seed=seed,
        implementation=implementation,
        kernel=kernel,
        bn=bn,
        score=score,
    )
    parts, wall = timed_in_processes(
        _worker_share, [(dict(options), share, threads) for share in shares]
    )
    return {
        "space": space,
        "score": score,
        "n": sum(p["n"] for p in parts),
        "batch_size": batch_size,
        "device": "cpu",
        "device_name": "cpu",
        "workers": workers,
        "threads_per_worker": threads,
        "kernel": kernel,
        "bn": bn,
        "seconds": wall,
        "archs_per_second": sum(p["n"] for p in parts) / wall,
        "worker_seconds": [round(p["seconds"], 3) for p in parts],
        "cpu_allocator": ",".join(sorted({p["cpu_allocator"] for p in parts})),
        "projected_seconds_for_space": _projected_seconds(sp, sum(p["n"] for p in parts) / wall),
    }


def format_throughput_workers(r: dict[str, Any]) -> str:
    lines = [
        f"{r['space']}: {r['n']} distinct architectures, score {r.get('score', 'log_cond')}, "
        f"B={r['batch_size']}, {r['kernel']}/{r['bn']}, cpu, {r['workers']} worker processes x {r['threads_per_worker']} threads, "
        f"CPU allocator: {describe_allocator(r.get('cpu_allocator', 'system'))}",
        f"{r['archs_per_second']:.2f} architectures/s ({r['seconds']:.1f} s; per worker "
        + ", ".join(f"{s:.1f} s" for s in r["worker_seconds"])
        + ")",
    ]
    if r["projected_seconds_for_space"]:
        lines.append(f"whole space at this rate: {r['projected_seconds_for_space'] / 60:.1f} min")
    return "\n".join(lines)
