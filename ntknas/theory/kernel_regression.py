"""Kernel regression with any kernel matrix: ridge, ridgeless, gradient flow/descent of the
linearized network, and Nyström / random-features approximations for large n.

Conventions: kernels are float64 matrices, ``k_train`` is (n, n), ``k_test`` is (m, n) (test
rows against training columns), targets ``y`` are (n,) or (n, k). The training loss of the
linearized network is ``½ Σᵢ ‖f(xᵢ) − yᵢ‖²`` (a sum, not a mean), so its gradient flow is
``ḟ = −Θ (f − y)`` and gradient descent with learning rate η is stable iff η < 2/λmax(Θ).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

Array = torch.Tensor | np.ndarray


def _f64(a: Array, name: str) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    a = np.asarray(a, dtype=np.float64)
    if not np.isfinite(a).all():
        raise ValueError(f"{name} has non-finite entries")
    return a


def _check(
    k_train: Array, y: Array, k_test: Array | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, bool]:
    K = _f64(k_train, "k_train")
    if K.ndim != 2 or K.shape[0] != K.shape[1]:
        raise ValueError(f"k_train must be square, got shape {K.shape}")
    Y = _f64(y, "y")
    vector = Y.ndim == 1
    Y = Y[:, None] if vector else Y
    if Y.shape[0] != K.shape[0]:
        raise ValueError(f"y has {Y.shape[0]} rows but k_train is {K.shape[0]}x{K.shape[0]}")
    T = None
    if k_test is not None:
        T = _f64(k_test, "k_test")
        if T.ndim != 2 or T.shape[1] != K.shape[0]:
            raise ValueError(f"k_test must be (m, {K.shape[0]}), got shape {T.shape}")
    return (K + K.T) / 2, Y, T, vector


def _out(a: np.ndarray, vector: bool) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a[:, 0] if vector else a))


def kernel_ridge(
    k_train: Array,
    y: Array,
    k_test: Array | None = None,
    *,
    ridge: float = 0.0,
    relative: bool = True,
) -> torch.Tensor:
    """Kernel ridge regression predictions ``k_test (K + λI)⁻¹ y``.

    Args:
        k_train: (n, n) training kernel.
        y: (n,) or (n, k) targets.
        k_test: (m, n) test-vs-train kernel; default ``k_train`` (fitted values).
        ridge: λ ≥ 0; ``0`` is ridgeless (minimum-norm interpolation through the
            pseudo-inverse, the infinite-time limit of gradient flow from zero).
        relative: λ is a fraction of the mean eigenvalue tr(K)/n, so one value fits kernels of
            any scale (the NTK of different architectures differs by orders of magnitude).

    Example:
        >>> K = torch.eye(3, dtype=torch.float64) * 2
        >>> kernel_ridge(K, torch.tensor([1.0, 0.0, 2.0])).tolist()
        [1.0, 0.0, 2.0]
    """
    if not ridge >= 0:
        raise ValueError(f"ridge must be non-negative, got {ridge!r}")
    K, Y, T, vector = _check(k_train, y, k_test)
    T = K if T is None else T
    if ridge == 0:
        return _out(T @ (np.linalg.pinv(K, hermitian=True) @ Y), vector)
    lam = ridge * (np.trace(K) / K.shape[0] if relative else 1.0)
    A = K + lam * np.eye(K.shape[0])
    try:
        import scipy.linalg

        alpha = scipy.linalg.solve(A, Y, assume_a="pos")
    except np.linalg.LinAlgError:
        alpha = np.linalg.lstsq(A, Y, rcond=None)[0]
    return _out(T @ alpha, vector)


def ridgeless(k_train: Array, y: Array, k_test: Array | None = None) -> torch.Tensor:
    """Minimum-norm interpolation ``k_test K⁺ y`` (pseudo-inverse).

    Example:
        >>> K = torch.tensor([[2.0, 0.0], [0.0, 0.0]], dtype=torch.float64)
        >>> ridgeless(K, torch.tensor([4.0, 1.0])).tolist()
        [4.0, 0.0]
    """
    return kernel_ridge(k_train, y, k_test, ridge=0.0)


def stable_learning_rate(k_train: Array) -> float:
    """The gradient-descent stability bound 2/λmax of ``½ Σ ‖f − y‖²`` on this kernel."""
    K = _f64(k_train, "k_train")
    lmax = float(np.linalg.eigvalsh((K + K.T) / 2)[-1])
    return math.inf if lmax <= 0 else 2.0 / lmax


def linearized_prediction(
    k_train: Array,
    y: Array,
    k_test: Array | None = None,
    *,
    time: float | None = None,
    learning_rate: float | None = None,
    steps: int | None = None,
    f0_train: Array | None = None,
    f0_test: Array | None = None,
) -> torch.Tensor:
    """Outputs of the linearized network after training on ``½ Σ ‖f − y‖²``.

    Either continuous gradient flow for ``time`` t::

        f_t(X) = f₀(X) + (I − e^{−Θt})(y − f₀(X))
        f_t(x) = f₀(x) + Θ(x, X) Θ⁻¹ (I − e^{−Θt}) (y − f₀(X))

    or ``steps`` of gradient descent with ``learning_rate`` η, where ``(1 − ηλ)^steps`` replaces
    ``e^{−λt}``. Both go through one eigendecomposition of Θ; eigenvalues at zero contribute their
    limit (t, or η·steps). As t → ∞ this is ridgeless regression on ``y − f₀``.

    Args:
        k_train, y, k_test: as :func:`kernel_ridge`.
        time: gradient-flow time (>= 0); give it, or both ``learning_rate`` and ``steps``.
        learning_rate: gradient-descent step size; must satisfy η < 2/λmax (else ValueError).
        steps: number of gradient-descent steps.
        f0_train, f0_test: network outputs at initialization (default zero).

    Example:
        >>> K = torch.eye(2, dtype=torch.float64)
        >>> y = torch.tensor([1.0, -1.0])
        >>> [round(v, 4) for v in linearized_prediction(K, y, time=1.0).tolist()]
        [0.6321, -0.6321]
    """
    K, Y, T, vector = _check(k_train, y, k_test)
    if (time is None) == (learning_rate is None and steps is None):
        raise ValueError("give either time= (gradient flow) or learning_rate= and steps= (descent)")
    ev, V = np.linalg.eigh(K)
    ev = np.maximum(ev, 0.0)
    if time is not None:
        if not time >= 0:
            raise ValueError(f"time must be non-negative, got {time!r}")
        decay = np.exp(-ev * time)
        small = ev * time < 1e-12
        factor = np.where(small, time, (1.0 - decay) / np.where(small, 1.0, ev))
    else:
        if learning_rate is None or steps is None:
            raise ValueError("gradient descent needs both learning_rate= and steps=")
        if not isinstance(steps, int) or steps < 0:
            raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
        bound = 2.0 / ev[-1] if ev[-1] > 0 else math.inf
        if not 0 < learning_rate < bound:
            raise ValueError(
                f"learning_rate {learning_rate:.4g} is outside the stability bound "
                f"0 < eta < 2/lambda_max = {bound:.4g}"
            )
        decay = (1.0 - learning_rate * ev) ** steps
        small = ev * learning_rate * steps < 1e-12
        factor = np.where(small, learning_rate * steps, (1.0 - decay) / np.where(small, 1.0, ev))
    f0x = np.zeros_like(Y) if f0_train is None else _f64(f0_train, "f0_train").reshape(Y.shape)
    residual = Y - f0x
    coefficients = V @ (factor[:, None] * (V.T @ residual))
    if T is None:
        return _out(f0x + K @ coefficients, vector)
    f0t = (
        np.zeros((T.shape[0], Y.shape[1]))
        if f0_test is None
        else _f64(f0_test, "f0_test").reshape(T.shape[0], Y.shape[1])
    )
    return _out(f0t + T @ coefficients, vector)


@dataclass(frozen=True)
class Approximation:
    """An approximate kernel-regression solution and its error against the exact one."""

    predictions: torch.Tensor
    relative_error: float | None


def nystrom_ridge(
    k_train: Array,
    y: Array,
    k_test: Array,
    *,
    landmarks: int,
    ridge: float = 1e-3,
    relative: bool = True,
    seed: int = 0,
    exact: Array | None = None,
) -> Approximation:
    """Nyström kernel ridge regression on ``landmarks`` uniformly drawn training points.

    Solves ``min ‖K_nm β − y‖² + λ βᵀ K_mm β`` (subset of regressors), costing O(n m²) instead
    of O(n³), and predicts ``k_test[:, landmarks] β``. Only the (n, m) and (m, m) blocks are
    read, so a caller with a kernel *function* needs just those columns.

    Args:
        exact: exact predictions to report the relative error against (default: computed
            here with :func:`kernel_ridge`, which is O(n³)).

    Example:
        >>> x = torch.randn(50, 3, dtype=torch.float64)
        >>> K = x @ x.T
        >>> r = nystrom_ridge(K, x[:, 0], K[:5], landmarks=10, ridge=1e-6)
        >>> r.relative_error < 1e-4
        True
    """
    K, Y, T, vector = _check(k_train, y, k_test)
    n = K.shape[0]
    if not isinstance(landmarks, int) or not 1 <= landmarks <= n:
        raise ValueError(f"landmarks must be an integer in [1, {n}], got {landmarks!r}")
    idx = np.sort(np.random.default_rng(seed).choice(n, size=landmarks, replace=False))
    knm = K[:, idx]
    kmm = K[np.ix_(idx, idx)]
    lam = ridge * (np.trace(K) / n if relative else 1.0)
    beta = np.linalg.lstsq(knm.T @ knm + lam * kmm, knm.T @ Y, rcond=None)[0]
    pred = T[:, idx] @ beta
    reference = (
        kernel_ridge(K, Y, T, ridge=ridge, relative=relative).numpy()
        if exact is None
        else _f64(exact, "exact").reshape(pred.shape)
    )
    error = float(np.linalg.norm(pred - reference) / max(np.linalg.norm(reference), 1e-300))
    return Approximation(_out(pred, vector), error)


def random_features_ridge(
    features_train: Array,
    y: Array,
    features_test: Array,
    *,
    ridge: float = 1e-3,
    exact: Array | None = None,
) -> Approximation:
    """Ridge regression in an explicit feature space Φ (n, D): the kernel ΦΦᵀ without forming it.

    Costs O(n D²): for D ≪ n it replaces the O(n³) kernel solve. Random features — random ReLU
    features for the arc-cosine/NNGP kernel (:func:`relu_random_features`), or the parameter
    gradients of a finite network for the NTK — approximate an infinite-width kernel with error
    falling as 1/√D. ``ridge`` is relative to the mean eigenvalue of ΦΦᵀ (tr/n), as in
    :func:`kernel_ridge`.

    Args:
        exact: predictions to compare with (e.g. exact kernel regression with the analytic
            kernel); the relative error is reported when given.

    Example:
        >>> phi = torch.randn(20, 5, dtype=torch.float64)
        >>> r = random_features_ridge(phi, phi[:, 0], phi[:3], ridge=1e-8)
        >>> bool(torch.allclose(r.predictions, phi[:3, 0], atol=1e-5))
        True
    """
    F = _f64(features_train, "features_train")
    G = _f64(features_test, "features_test")
    Y = _f64(y, "y")
    vector = Y.ndim == 1
    Y = Y[:, None] if vector else Y
    if F.ndim != 2 or G.ndim != 2 or F.shape[1] != G.shape[1] or F.shape[0] != Y.shape[0]:
        raise ValueError(
            f"features_train {F.shape}, features_test {G.shape} and y {Y.shape} do not match"
        )
    n = F.shape[0]
    lam = ridge * float((F * F).sum()) / n
    w = np.linalg.solve(F.T @ F + lam * np.eye(F.shape[1]), F.T @ Y)
    pred = G @ w
    error = None
    if exact is not None:
        reference = _f64(exact, "exact").reshape(pred.shape)
        error = float(np.linalg.norm(pred - reference) / max(np.linalg.norm(reference), 1e-300))
    return Approximation(_out(pred, vector), error)


def relu_random_features(
    x: Array,
    *,
    features: int,
    depth: int = 1,
    weight_var: float = 2.0,
    bias_var: float = 0.0,
    seed: int = 0,
) -> torch.Tensor:
    """Random features whose inner product approximates the NNGP kernel of a deep ReLU network.

    The last hidden layer of a random finite network of width ``features`` (NTK
    parameterization), scaled so that ``Φ(x)·Φ(x')`` → σ_w² E[relu(u)relu(u')] + σ_b², i.e. the
    NNGP kernel of :func:`ntknas.theory.analytic_ntk` with the same ``depth``.

    Example:
        >>> phi = relu_random_features(torch.randn(3, 4), features=256)
        >>> tuple(phi.shape)
        (3, 257)
    """
    X = _f64(x, "x")
    rng = np.random.default_rng(seed)
    h = X
    fan_in = X.shape[1]
    for _ in range(depth):
        W = rng.standard_normal((fan_in, features))
        b = rng.standard_normal(features)
        h = np.maximum(h @ W * math.sqrt(weight_var / fan_in) + math.sqrt(bias_var) * b, 0.0)
        fan_in = features
    phi = np.concatenate(
        [h * math.sqrt(weight_var / features), np.full((X.shape[0], 1), math.sqrt(bias_var))],
        axis=1,
    )
    return torch.from_numpy(phi)
