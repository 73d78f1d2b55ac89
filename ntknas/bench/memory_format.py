"""``ntknas bench memory-format``: the default score's probe passes in the contiguous (NCHW) and
the channels-last (NHWC) memory format, side by side on the same networks and probe batch.

For each architecture one model is built; its score is computed once per layout, the order of
the two alternating from one architecture to the next (so drift in the machine's speed falls on
both), each timed by the best of ``repeats`` runs. Reported: the median and range of the
per-architecture time ratio NHWC / NCHW, and the largest relative difference of any signal the
score reads (the two layouts run different float32 kernels, so the values agree to rounding,
not bit for bit).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import torch

import search_spaces
from ntknas.combined_scores import DEFAULT_SCORE, metrics_needed
from ntknas.scorer import NTKScorer


def run_memory_format(
    *,
    space: str = "nb201",
    n: int = 20,
    batch_size: int = 64,
    data: str = "synthetic",
    seed: int = 0,
    score: str = DEFAULT_SCORE,
    repeats: int = 2,
    device: str = "cpu",
) -> dict[str, Any]:
    """Time ``score`` with the probe passes in NCHW and in NHWC on ``n`` distinct architectures.

    Example:
        >>> r = run_memory_format(n=1, batch_size=4, repeats=1)
        >>> sorted(r["seconds"]), r["n"]
        (['channels_last', 'contiguous'], 1)
    """
    if n < 1:
        raise ValueError(f"--n must be >= 1, got {n}")
    if repeats < 1:
        raise ValueError(f"--repeats must be >= 1, got {repeats}")
    sp = search_spaces.create_search_space(space)
    archs = [spec.arch for spec in sp.sample_distinct(n, seed)]
    common = dict(batch_size=batch_size, data=data, seed=seed, device=device, metric=score)
    scorers = {
        "contiguous": NTKScorer(channels_last=False, needs=[score], **common),
        "channels_last": NTKScorer(channels_last=True, needs=[score], **common),
    }
    probe = scorers["contiguous"].probe
    scorers["channels_last"]._probe = probe  # one probe batch for both
    signals = sorted(metrics_needed([score]) - {"params", "flops"})
    seconds: dict[str, list[float]] = {name: [] for name in scorers}
    ratios: list[float] = []
    worst = 0.0
    worst_signal = ""
    cuda = scorers["contiguous"].device.type == "cuda"
    for i, arch in enumerate(archs):
        model = scorers["contiguous"].build(sp, arch)
        order = list(scorers) if i % 2 == 0 else list(reversed(scorers))
        best = {name: float("inf") for name in scorers}
        results = {}
        for _ in range(repeats + (1 if i == 0 else 0)):  # the first architecture warms up both
            for name in order:
                started = time.perf_counter()
                results[name] = scorers[name].score_model(model, arch=arch)
                if cuda:
                    torch.cuda.synchronize()
                best[name] = min(best[name], time.perf_counter() - started)
        for name in scorers:
            seconds[name].append(best[name])
        ratios.append(best["channels_last"] / best["contiguous"])
        for key in signals:
            a = results["contiguous"].metrics.get(key)
            b = results["channels_last"].metrics.get(key)
            if a is None or b is None:
                continue
            diff = abs(a - b) / max(abs(a), 1e-12)
            if diff > worst:
                worst, worst_signal = diff, key
    return {
        "space": space,
        "score": score,
        "n": n,
        "batch_size": batch_size,
        "device": str(scorers["contiguous"].device),
        "threads": torch.get_num_threads(),
        "repeats": repeats,
        "signals": signals,
        "seconds": {name: [round(s, 4) for s in v] for name, v in seconds.items()},
        "median_seconds": {name: statistics.median(v) for name, v in seconds.items()},
        "time_ratios": [round(r, 3) for r in ratios],
        "median_time_ratio": statistics.median(ratios),
        "min_time_ratio": min(ratios),
        "max_time_ratio": max(ratios),
        "max_relative_difference": worst,
        "max_relative_difference_signal": worst_signal,
    }


def format_memory_format(r: dict[str, Any]) -> str:
    med = r["median_seconds"]
    return "\n".join(
        [
            f"{r['space']}: {r['n']} architectures, score {r['score']}, B={r['batch_size']}, "
            f"{r['device']}, {r['threads']} threads, best of {r['repeats']} per layout, "
            "layouts alternating",
            "",
            "layout          median s/arch",
            f"contiguous      {med['contiguous']:.4f}",
            f"channels_last   {med['channels_last']:.4f}",
            "",
            f"time channels_last / contiguous, per architecture: median "
            f"{r['median_time_ratio']:.3f}x (range {r['min_time_ratio']:.3f}-"
            f"{r['max_time_ratio']:.3f})",
            f"largest relative difference of a signal ({', '.join(r['signals'])}): "
            f"{r['max_relative_difference']:.1e} ({r['max_relative_difference_signal'] or '-'})",
        ]
    )
