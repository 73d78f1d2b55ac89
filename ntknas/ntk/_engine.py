"""The empirical Neural Tangent Kernel engine.

Every implementation computes the same matrix: Θ = J Jᵀ, where J holds, row by row, the gradient
of one (sample, output-direction) pair with respect to the selected parameters. The row sets are

* ``kernel="sum"``:   one row per sample, direction ``ones(C)`` (Θ is B×B),
* ``kernel="trace"``: C rows per sample, directions ``e_c``, summed over c (Θ is B×B),
* ``kernel="full"``:  C rows per sample, kept apart (Θ is (B·C)×(B·C), sample-major: row
  ``i * C + c`` is sample ``i``, class ``c``).

Θ is accumulated parameter group by parameter group (Θ = Σ_g J_g J_gᵀ), so no implementation ever
holds more than one group's slice of the Jacobian; a group is sized to ``memory_budget`` bytes.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from ntknas.ntk import _phases
from ntknas.ntk._gram import GRAM_CHUNK, _forward_error, _gram_update, gram_dtype  # noqa: F401
from ntknas.ntk._jacobians import (
    _batched_output,
    _jacobian_autograd,
    _jacobian_func,
    _jacobian_reference,
)
from ntknas.ntk._layout import weights_in_layout
from ntknas.ntk._options import (
    _DEFAULT_MEMORY_BUDGET,
    IMPLEMENTATIONS,
    KERNELS,
    NTKOptions,
    OutputSelector,
    check_choice,
)
from ntknas.ntk._prepare import (
    _modes,
    _module_columns,
    _module_of,
    _prepare,
    is_batchnorm,
    parameter_groups,
    reinitialize,
    select_parameters,
    tf32_disabled,
)


def contract_full(theta: torch.Tensor, num_classes: int, kernel: str) -> torch.Tensor:
    """The ``"sum"`` or ``"trace"`` kernel contracted from a ``"full"`` one, exactly.

    With rows ``i * C + c`` (sample i, class c), the sum kernel adds every class pair,
    Θ_sum[i, j] = Σ_{c,c'} Θ_full[iC + c, jC + c'], and the trace kernel the matching ones,
    Θ_trace[i, j] = Σ_c Θ_full[iC + c, jC + c]. One full pass thus gives all three kernels.

    Args:
        theta: the full kernel, shape (B·C, B·C).
        num_classes: C.
        kernel: ``"sum"``, ``"trace"`` or ``"full"`` (returned as is).

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
        >>> x = torch.randn(5, 4)
        >>> full = empirical_ntk(net, x, kernel="full")
        >>> torch.allclose(contract_full(full, 3, "sum"), empirical_ntk(net, x, kernel="sum"))
        True
    """
    check_choice("kernel", kernel, KERNELS)
    size = theta.shape[0]
    if theta.dim() != 2 or theta.shape[1] != size or num_classes < 1 or size % num_classes:
        raise ValueError(
            f"a full kernel of shape (B*{num_classes}, B*{num_classes}) is needed, "
            f"got {tuple(theta.shape)}"
        )
    if kernel == "full":
        return theta
    b = size // num_classes
    blocks = theta.reshape(b, num_classes, b, num_classes)
    if kernel == "sum":
        return blocks.sum(dim=(1, 3))
    return blocks.diagonal(dim1=1, dim2=3).sum(-1)


def _kernel_once(
    model: nn.Module,
    x: torch.Tensor,
    *,
    kernel: str,
    bn: str,
    params: str,
    implementation: str,
    memory_budget: int,
    chunk_size: int | None,
    by_layer: bool = False,
    output: OutputSelector = None,
) -> torch.Tensor | dict[str, torch.Tensor]:
    """Θ of the model's current weights, or with ``by_layer`` each module's kernel Θ_l (module
    name → tensor, in model order; their sum is Θ)."""
    with _phases.phase("setup"):
        hooks = implementation == "hooks"
        work = _prepare(
            model,
            x,
            kernel=kernel,
            bn=bn,
            params=params,
            calibrate=not hooks,
            probe=not hooks,
            output=output,
        )
    if implementation == "hooks":
        from ntknas.ntk._hooks import kernel_hooks

        layers: dict[str, torch.Tensor] | None = {} if by_layer else None
        with _modes(model, bn):
            theta = kernel_hooks(work, layers)
        if theta is not None:
            return layers if layers is not None else theta
        implementation = "func"
        work = _prepare(model, x, kernel=kernel, bn=bn, params=params, output=output)

    b, c = x.shape[0], work.num_classes
    size = b * c if kernel == "full" else b
    theta = torch.zeros(size, size, dtype=gram_dtype(x.dtype), device=x.device)
    # Direction chunks: "full" needs every class of a group at once; "trace" can stream classes.
    if kernel == "trace":
        per_chunk = max(1, min(c, chunk_size or c))
        direction_chunks = [work.directions[s : s + per_chunk] for s in range(0, c, per_chunk)]
    else:
        direction_chunks = [work.directions]
    shapes = {n: t.shape for n, t in work.differentiable.items()}
    rows = b * direction_chunks[0].shape[0]
    # The same parameter groups (and so the same passes) with or without per-layer kernels: a
    # group's Jacobian is split by columns into the modules its parameters belong to.
    groups = parameter_groups(shapes, rows, memory_budget, x.element_size())
    if by_layer:
        layer_thetas = {_module_of(n): torch.zeros_like(theta) for n in shapes}  # model order

    with _modes(model, bn):
        out = tensors = None
        if implementation in ("autograd", "reference"):
            try:
                with _phases.phase("forward"):
                    out, tensors = _batched_output(work)
            except (RuntimeError, IndexError, TypeError) as error:
                raise _forward_error(x, error) from error
        for names in groups:
            for directions in direction_chunks:
                with _phases.phase("per_sample_gradients"):
                    if implementation == "func":
                        jac = _jacobian_func(work, names, directions, chunk_size)
                    elif implementation == "autograd":
                        default = 32 if x.device.type == "cuda" else 1
                        jac = _jacobian_autograd(
                            work, names, directions, chunk_size or default, out, tensors
                        )
                    else:
                        jac = _jacobian_reference(work, names, directions, out, tensors)
                with _phases.phase("gram"):
                    if by_layer:
                        for module, columns in _module_columns(names, shapes):
                            _gram_update(layer_thetas[module], jac[:, :, columns], kernel)
                    else:
                        _gram_update(theta, jac, kernel)
                del jac
    if by_layer:
        return {m: t.to(x.dtype) for m, t in layer_thetas.items()}
    return theta.to(x.dtype)


def resolve_implementation(
    implementation: str, bn: str, model: nn.Module | None = None, kernel: str = "sum"
) -> str:
    """The implementation ``"auto"`` stands for.

    ``bn="batch"`` couples the samples, so only the batched-backward implementation is exact;
    otherwise per-layer hooks when every selected parameter sits in a supported layer (and the
    kernel is not "full"), else torch.func.
    """
    check_choice("implementation", implementation, IMPLEMENTATIONS)
    if implementation != "auto":
        if bn == "batch" and implementation in ("func", "hooks"):
            raise ValueError(
                f"implementation {implementation!r} computes per-sample gradients and cannot "
                "follow train-mode BatchNorm (bn='batch'); use 'autograd' or 'reference'"
            )
        return implementation
    if bn == "batch":
        return "autograd"
    if model is not None and kernel != "full":
        from ntknas.ntk._hooks import hooks_support

        if hooks_support(model) is None:
            return "hooks"
    return "func"


def empirical_ntk(
    model: nn.Module,
    x: torch.Tensor,
    *,
    kernel: str = "sum",
    bn: str = "frozen",
    params: str = "all",
    implementation: str = "auto",
    repeats: int = 1,
    seed: int = 0,
    chunk_size: int | None = None,
    memory_budget: int = _DEFAULT_MEMORY_BUDGET,
    allow_tf32: bool = False,
    output: OutputSelector = None,
) -> torch.Tensor:
    """Empirical Neural Tangent Kernel Θ = J Jᵀ of ``model`` on the batch ``x``.

    Args:
        model: a ``torch.nn.Module`` returning logits of shape (B, C) (or an output that
            :func:`logits_of` reads; see ``output``). It is not changed: weights, running
            statistics and train/eval flags are the same afterwards.
        x: the probe batch, shape (B, ...), on the model's device.
        kernel: ``"sum"``: Θ[i, j] = <∇θ Σ_c f_c(x_i), ∇θ Σ_c f_c(x_j)>, shape (B, B);
            ``"trace"``: Σ_c <∇θ f_c(x_i), ∇θ f_c(x_j)>, shape (B, B); ``"full"``: every class
            pair, shape (B·C, B·C), row ``i * C + c`` = sample i, class c.
        bn: how BatchNorm behaves. ``"batch"``: train-mode batch statistics with gradients
            flowing through them (TE-NAS's exact kernel; samples are coupled); ``"frozen"``: this
            batch's statistics as constants (forward identical to train mode, samples
            independent); ``"eval"``: the running statistics.
        params: ``"all"`` trainable parameters or ``"weights"`` (names containing "weight").
        implementation: ``"func"`` (torch.func per-sample vjp), ``"hooks"`` (per-layer
            J_l J_lᵀ from activations and output gradients), ``"autograd"`` (vectorized
            backward per row, ``is_grads_batched``; exact for ``bn="batch"``), ``"reference"``
            (a plain loop, one autograd call per sample and class) or ``"auto"``.
        repeats: 1 scores the model's current weights; N > 1 averages Θ over N fresh
            initializations of a copy, seeded ``seed, seed + 1, ...``.
        seed: first seed for ``repeats > 1``.
        chunk_size: samples per vmap call (func), rows per batched backward (autograd; default
            32 on CUDA, 1 = a plain backward per row on CPU, where vmap only adds overhead),
            classes per pass (trace kernel). None picks defaults.
        memory_budget: bytes of Jacobian held at once; Θ is accumulated over parameter groups
            of this size (a single larger tensor is one group).
        allow_tf32: keep TF32 convolutions/matmuls on CUDA (about 1e-3 relative error in Θ).
        output: which part of a tuple / mapping output holds the logits: an index (``1`` for
            NAS-Bench-201's ``(features, logits)``), a key, or a callable; needed whenever the
            output holds more than one tensor (never guessed; :func:`logits_of`).

    Returns:
        Θ as a tensor of the input's dtype and device.

    Raises:
        ValueError: a non-module, a non-tensor or ill-shaped input, a model without (selected)
            parameters, or an unknown kernel / bn / params / implementation name.

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
        >>> empirical_ntk(net, torch.randn(5, 4)).shape
        torch.Size([5, 5])
    """
    options = NTKOptions(
        kernel=kernel,
        bn=bn,
        params=params,
        implementation=implementation,
        repeats=repeats,
        seed=seed,
        chunk_size=chunk_size,
        memory_budget=memory_budget,
        allow_tf32=allow_tf32,
        output=output,
    )
    return _ntk(model, x, options, by_layer=False)


def _ntk(model: nn.Module, x: torch.Tensor, options: NTKOptions, *, by_layer: bool) -> Any:
    """The kernel (or per-layer kernels) of ``model`` on ``x``, averaged over ``repeats``."""
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, not {type(model).__name__}")
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"x must be a torch.Tensor, not {type(x).__name__}")
    if x.dim() < 2 or x.shape[0] < 1:
        raise ValueError(f"x must have shape (batch, ...) with batch >= 1, got {tuple(x.shape)}")
    if not torch.is_floating_point(x):
        raise ValueError(f"x must be a floating-point tensor, got {x.dtype}")
    o = options
    select_parameters(model, o.params)
    impl = resolve_implementation(o.implementation, o.bn, model, o.kernel)
    if o.bn == "batch" and x.shape[0] < 2 and any(is_batchnorm(m) for m in model.modules()):
        raise ValueError("bn='batch' needs at least 2 samples (train-mode BatchNorm statistics)")

    once = dict(
        kernel=o.kernel,
        bn=o.bn,
        params=o.params,
        implementation=impl,
        memory_budget=o.memory_budget,
        chunk_size=o.chunk_size,
        by_layer=by_layer,
        output=o.output,
    )
    x = x.contiguous()
    with tf32_disabled(o.allow_tf32), weights_in_layout(model, torch.contiguous_format):
        if o.repeats == 1:
            return _kernel_once(model, x, **once)
        work = copy.deepcopy(model)
        total: dict[str, torch.Tensor] = {}  # one entry per layer, or "" for the whole kernel
        for r in range(o.repeats):
            devices = [x.device] if x.device.type == "cuda" else []
            with torch.random.fork_rng(devices=devices):
                torch.manual_seed(o.seed + r)
                reinitialize(work)
            theta = _kernel_once(work, x, **once)
            for name, t in (theta if by_layer else {"": theta}).items():
                total[name] = total[name] + t if name in total else t
        mean = {name: t / o.repeats for name, t in total.items()}
        return mean if by_layer else mean[""]


def layerwise_ntk(
    model: nn.Module,
    x: torch.Tensor,
    *,
    kernel: str = "sum",
    bn: str = "frozen",
    params: str = "all",
    implementation: str = "auto",
    repeats: int = 1,
    seed: int = 0,
    chunk_size: int | None = None,
    memory_budget: int = _DEFAULT_MEMORY_BUDGET,
    allow_tf32: bool = False,
    output: OutputSelector = None,
) -> dict[str, torch.Tensor]:
    """Each module's own empirical NTK: Θ_l = J_l J_lᵀ with J_l the Jacobian with respect to the
    selected parameters of module ``l`` alone, so that Σ_l Θ_l = :func:`empirical_ntk`.

    Same arguments and checks as :func:`empirical_ntk` (``kernel`` "sum" or "trace" with the
    hooks implementation; every implementation for every kernel otherwise). Per-layer kernels
    cost no extra passes with any implementation: the hooks form each layer's contribution
    anyway, and the others split each parameter group's Jacobian by module.

    Returns:
        module name → Θ_l (in model order), for every module that holds a selected parameter;
        a module the output does not depend on has a zero kernel.

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
        >>> layers = layerwise_ntk(net, torch.randn(5, 4))
        >>> list(layers), tuple(layers["0"].shape)
        (['0', '2'], (5, 5))
    """
    options = NTKOptions(
        kernel=kernel,
        bn=bn,
        params=params,
        implementation=implementation,
        repeats=repeats,
        seed=seed,
        chunk_size=chunk_size,
        memory_budget=memory_budget,
        allow_tf32=allow_tf32,
        output=output,
    )
    return _ntk(model, x, options, by_layer=True)
