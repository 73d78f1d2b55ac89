"""Independent check of the engine against neural-tangents (JAX), in two processes.

neural-tangents 0.6.5 needs its own environment (``jax==0.4.23 jaxlib==0.4.23 "numpy<2"
tf2jax==0.3.5 neural-tangents==0.6.5``), so the check runs in two steps that share only an
``.npz`` file:

    python -m ntknas.bench.neural_tangents_check export DIR            # torch side (ntknas venv)
    /path/to/nt-venv/bin/python ntknas/bench/neural_tangents_check.py check DIR    # JAX side

The export step builds a two-hidden-layer MLP (standard parameterization: y = x Wᵀ + b), saves
its weights, the inputs, and ntknas's sum / trace / full kernels (float64). The check step
rebuilds the same function in JAX, computes ``neural_tangents.empirical_ntk_fn`` with
``trace_axes=()`` (the full kernel), derives the trace and sum kernels from it, and prints the
relative errors. Run as a file, the JAX side imports neither torch nor the ntknas package.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def export(folder: Path) -> None:
    import numpy as np
    import torch

    from ntknas.ntk import empirical_ntk

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(6, 32),
        torch.nn.Tanh(),
        torch.nn.Linear(32, 32),
        torch.nn.Tanh(),
        torch.nn.Linear(32, 4),
    ).double()
    x = torch.randn(7, 6, dtype=torch.float64)
    arrays = {f"p{i}": p.detach().numpy() for i, p in enumerate(model.parameters())}
    arrays["x"] = x.numpy()
    for kernel in ("sum", "trace", "full"):
        for impl in ("func", "hooks", "autograd"):
            K = empirical_ntk(model, x, kernel=kernel, implementation=impl)
            arrays[f"K_{kernel}_{impl}"] = K.numpy()
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "mlp.npz", **arrays)
    print(f"exported to {folder / 'mlp.npz'}")


def check(folder: Path) -> dict[str, float]:
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import neural_tangents as nt
    import numpy as np

    data = np.load(folder / "mlp.npz")
    params = [jnp.asarray(data[f"p{i}"]) for i in range(6)]
    x = jnp.asarray(data["x"])

    def f(p, inputs):
        h = jnp.tanh(inputs @ p[0].T + p[1])
        h = jnp.tanh(h @ p[2].T + p[3])
        return h @ p[4].T + p[5]

    full = nt.empirical_ntk_fn(f, trace_axes=(), vmap_axes=0)(x, None, params)  # (B, B, C, C)
    full = np.asarray(full)
    b, c = full.shape[0], full.shape[2]
    ours_layout = full.transpose(0, 2, 1, 3).reshape(b * c, b * c)  # row i*C + c
    trace = np.einsum("ijcc->ij", full)
    summed = full.sum(axis=(2, 3))
    errors = {}
    for impl in ("func", "hooks", "autograd"):
        for name, ref in (("full", ours_layout), ("trace", trace), ("sum", summed)):
            ours = data[f"K_{name}_{impl}"]
            errors[f"{name}/{impl}"] = float(np.linalg.norm(ours - ref) / np.linalg.norm(ref))
    result = {
        "neural_tangents": nt.__version__ if hasattr(nt, "__version__") else "0.6.5",
        "jax": jax.__version__,
        "relative_errors": errors,
        "max_relative_error": max(errors.values()),
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("export", "check"):
        print(
            "usage: python -m ntknas.bench.neural_tangents_check export|check DIR", file=sys.stderr
        )
        sys.exit(2)
    folder = Path(sys.argv[2])
    if sys.argv[1] == "export":
        export(folder)
    else:
        check(folder)
