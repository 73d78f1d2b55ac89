"""``ntknas bench theory``: the engine against infinite-width theory, and kernel-regression
approximations against exact solutions.

1. Convergence: the empirical NTK (ntknas engine) of width-w MLPs in the NTK parameterization
   against :func:`ntknas.theory.analytic_ntk`; relative Frobenius error per width (median over
   seeds) and the fitted slope of log error against log width (theory: −1/2).
2. Approximations: Nyström (m landmarks) and random-features (D features) kernel ridge
   regression against the exact solution with the analytic kernel, relative error per size.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch

from ntknas.ntk import empirical_ntk
from ntknas.theory import (
    analytic_ntk,
    kernel_ridge,
    nystrom_ridge,
    random_features_ridge,
    relu_random_features,
)
from ntknas.theory.networks import mlp


def _inputs(n: int, d: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    return x / x.norm(dim=1, keepdim=True) * math.sqrt(d)  # on the sphere of radius sqrt(d)


def convergence(
    *,
    widths: list[int],
    seeds: int = 5,
    n: int = 16,
    d: int = 8,
    depth: int = 2,
    activation: str = "relu",
    bias_var: float = 0.1,
) -> dict[str, Any]:
    x = _inputs(n, d, 0)
    _, reference = analytic_ntk(x, depth=depth, activation=activation, bias_var=bias_var)
    rows = []
    for width in widths:
        errors = []
        start = time.perf_counter()
        for seed in range(seeds):
            torch.manual_seed(seed)
            net = mlp(d, width, depth, activation=activation, bias_var=bias_var).double()
            K = empirical_ntk(net, x, implementation="func")
            errors.append(float(torch.linalg.norm(K - reference) / torch.linalg.norm(reference)))
        rows.append(
            {
                "width": width,
                "median_relative_error": float(np.median(errors)),
                "errors": errors,
                "seconds": time.perf_counter() - start,
            }
        )
    logw = np.log([r["width"] for r in rows])
    loge = np.log([r["median_relative_error"] for r in rows])
    slope = float(np.polyfit(logw, loge, 1)[0]) if len(rows) > 1 else float("nan")
    return {
        "setting": {
            "n": n,
            "d": d,
            "depth": depth,
            "activation": activation,
            "weight_var": 2.0,
            "bias_var": bias_var,
            "seeds": seeds,
            "parameterization": "ntk",
        },
        "rows": rows,
        "slope": slope,
    }


def approximations(
    *,
    n: int = 2000,
    n_test: int = 200,
    d: int = 8,
    depth: int = 2,
    ridge: float = 1e-2,
    landmarks: list[int],
    features: list[int],
) -> dict[str, Any]:
    x = _inputs(n + n_test, d, 1)
    y = torch.sin(x[:, 0]) * torch.cos(x[:, 1]) + 0.5 * x[:, 2]
    xtr, ytr = x[:n], y[:n]
    nngp_all, ntk_all = analytic_ntk(x, xtr, depth=depth, bias_var=0.1)
    out: dict[str, Any] = {"n": n, "n_test": n_test, "d": d, "depth": depth, "ridge": ridge}
    k_train, k_test = ntk_all[:n], ntk_all[n:]
    start = time.perf_counter()
    exact = kernel_ridge(k_train, ytr, k_test, ridge=ridge)
    exact_seconds = time.perf_counter() - start
    out["exact_ntk_seconds"] = exact_seconds
    out["nystrom"] = []
    for m in landmarks:
        start = time.perf_counter()
        r = nystrom_ridge(k_train, ytr, k_test, landmarks=m, ridge=ridge, exact=exact)
        out["nystrom"].append(
            {
                "landmarks": m,
                "relative_error": r.relative_error,
                "seconds": time.perf_counter() - start,
            }
        )
    # Random ReLU features approximate the NNGP kernel of the same depth.
    exact_nngp = kernel_ridge(nngp_all[:n], ytr, nngp_all[n:], ridge=ridge)
    out["random_features"] = []
    for D in features:
        start = time.perf_counter()
        errors = []
        for seed in range(3):
            phi = relu_random_features(x, features=D, depth=depth, bias_var=0.1, seed=seed)
            r = random_features_ridge(phi[:n], ytr, phi[n:], ridge=ridge, exact=exact_nngp)
            errors.append(r.relative_error)
        out["random_features"].append(
            {
                "features": D,
                "relative_error": float(np.median(errors)),
                "seconds": (time.perf_counter() - start) / 3,
            }
        )
    return out


def run_theory(
    *,
    widths: list[int] | None = None,
    seeds: int = 5,
    landmarks: list[int] | None = None,
    features: list[int] | None = None,
    n: int = 2000,
    plot_prefix: str | None = None,
) -> dict[str, Any]:
    """Both benchmarks; with ``plot_prefix`` also ``PREFIX_convergence.png`` and
    ``PREFIX_approximations.png`` (needs matplotlib)."""
    widths = widths or [64, 128, 256, 512, 1024, 2048, 4096]
    landmarks = landmarks or [50, 100, 200, 400, 800]
    features = features or [256, 1024, 4096, 16384]
    result = {
        "convergence": convergence(widths=widths, seeds=seeds),
        "approximations": approximations(n=n, landmarks=landmarks, features=features),
        "torch_threads": torch.get_num_threads(),
    }
    if plot_prefix:
        result["plots"] = _plots(result, plot_prefix)
    return result


def _plots(result: dict[str, Any], prefix: str) -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    rows = result["convergence"]["rows"]
    w = np.array([r["width"] for r in rows], dtype=float)
    e = np.array([r["median_relative_error"] for r in rows])
    fig, ax = plt.subplots(figsize=(4.5, 3.4))
    for r in rows:
        ax.scatter([r["width"]] * len(r["errors"]), r["errors"], s=8, color="0.7")
    ax.plot(w, e, "o-", label=f"median (slope {result['convergence']['slope']:.2f})")
    ax.plot(w, e[0] * np.sqrt(w[0] / w), "k--", label="1/sqrt(width)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("width")
    ax.set_ylabel("||K_emp - K_inf||_F / ||K_inf||_F")
    ax.legend(fontsize=8)
    fig.tight_layout()
    paths = [f"{prefix}_convergence.png"]
    fig.savefig(paths[0], dpi=120)
    plt.close(fig)
    a = result["approximations"]
    fig, ax = plt.subplots(figsize=(4.5, 3.4))
    ax.plot(
        [r["landmarks"] for r in a["nystrom"]],
        [r["relative_error"] for r in a["nystrom"]],
        "o-",
        label="Nystrom (NTK), landmarks",
    )
    ax.plot(
        [r["features"] for r in a["random_features"]],
        [r["relative_error"] for r in a["random_features"]],
        "s-",
        label="random ReLU features (NNGP), features",
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("landmarks / features")
    ax.set_ylabel("relative error vs exact KRR")
    ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(f"{prefix}_approximations.png")
    fig.savefig(paths[1], dpi=120)
    plt.close(fig)
    return paths


def format_theory(result: dict[str, Any]) -> str:
    c = result["convergence"]
    s = c["setting"]
    lines = [
        f"empirical NTK (ntknas engine) vs analytic NTK: {s['depth']}-hidden-layer {s['activation']} MLP, "
        f"NTK parameterization, sigma_w^2={s['weight_var']}, sigma_b^2={s['bias_var']}, "
        f"{s['n']} inputs in R^{s['d']}, {s['seeds']} seeds",
        f"{'width':>7} {'median rel. error':>18} {'seconds':>8}",
    ]
    for r in c["rows"]:
        lines.append(f"{r['width']:>7} {r['median_relative_error']:>18.4f} {r['seconds']:>8.2f}")
    lines.append(f"fitted slope of log error vs log width: {c['slope']:.3f} (theory: -0.5)")
    a = result["approximations"]
    lines += [
        "",
        f"kernel ridge regression, n={a['n']} train / {a['n_test']} test in R^{a['d']}, "
        f"depth {a['depth']}, ridge {a['ridge']} (relative); exact NTK solve {a['exact_ntk_seconds']:.2f} s",
        f"{'Nystrom landmarks':>18} {'rel. error':>11} {'seconds':>8}",
    ]
    for r in a["nystrom"]:
        lines.append(f"{r['landmarks']:>18} {r['relative_error']:>11.2e} {r['seconds']:>8.3f}")
    lines.append(
        f"{'random features':>18} {'rel. error':>11} {'seconds':>8}   (vs exact NNGP regression)"
    )
    for r in a["random_features"]:
        lines.append(f"{r['features']:>18} {r['relative_error']:>11.2e} {r['seconds']:>8.3f}")
    return "\n".join(lines)
