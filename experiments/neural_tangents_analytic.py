"""Reference infinite-width kernels from neural-tangents, for ``tests/theory``.

Runs in the separate neural-tangents environment (``jax==0.4.23 jaxlib==0.4.23 "numpy<2"
tf2jax==0.3.5 neural-tangents==0.6.5``) and imports neither torch nor ntknas::

    /path/to/nt-venv/bin/python experiments/neural_tangents_analytic.py \
        tests/theory/data/neural_tangents_analytic.json

It writes the inputs (seeded NumPy draws) and, for every activation × parameterization × depth ×
(σ_w², σ_b²) case, ``stax.serial(*[Dense(16, ...), act] * depth, Dense(1, ...))``'s
``kernel_fn(x1, x2, ("nngp", "ntk"))`` in float64. The tests compare
:func:`ntknas.theory.analytic_ntk` with these numbers to 1e-5 relative error, without JAX.
"""

from __future__ import annotations

import json
import sys


def main(path: str) -> None:
    import numpy as np
    from jax import config

    config.update("jax_enable_x64", True)
    import neural_tangents as nt
    from neural_tangents import stax

    rng = np.random.default_rng(2026)
    x1 = rng.standard_normal((5, 4))
    x2 = rng.standard_normal((3, 4)) * 1.5
    activations = {"relu": stax.Relu(), "erf": stax.Erf(), "gelu": stax.Gelu()}
    cases = []
    for name, act in activations.items():
        for parameterization in ("ntk", "standard"):
            for depth in (0, 1, 3):
                for weight_var, bias_var in ((2.0, 0.0), (1.5, 0.1)):
                    kw = {
                        "W_std": weight_var**0.5,
                        "b_std": bias_var**0.5 if bias_var > 0 else None,
                        "parameterization": parameterization,
                    }
                    layers = []
                    for _ in range(depth):
                        layers += [stax.Dense(16, **kw), act]
                    layers.append(stax.Dense(1, **kw))
                    _, _, kernel_fn = stax.serial(*layers)
                    k = kernel_fn(x1, x2, ("nngp", "ntk"))
                    cases.append(
                        {
                            "activation": name,
                            "parameterization": parameterization,
                            "depth": depth,
                            "weight_var": weight_var,
                            "bias_var": bias_var,
                            "width": 16,
                            "nngp": np.asarray(k.nngp).tolist(),
                            "ntk": np.asarray(k.ntk).tolist(),
                        }
                    )
    out = {
        "generator": "experiments/neural_tangents_analytic.py",
        "neural_tangents": nt.__version__,
        "x1": x1.tolist(),
        "x2": x2.tolist(),
        "cases": cases,
    }
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
    print(f"wrote {len(cases)} cases to {path}")


if __name__ == "__main__":
    main(sys.argv[1])
