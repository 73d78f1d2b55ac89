"""The Jacobian implementations of the engine (torch.func per-sample vjp, batched autograd,
the reference loop): each yields one parameter group's rows of J."""

from __future__ import annotations

import torch
from torch.func import vjp, vmap

from ntknas.ntk._gram import GRAM_CHUNK, _forward_error, _gram_update, gram_dtype  # noqa: F401
from ntknas.ntk._prepare import _Pass


def _jacobian_func(
    work: _Pass, names: list[str], directions: torch.Tensor, sample_chunk: int | None
) -> torch.Tensor:
    """Per-sample Jacobian slice (B, R, P_g) with torch.func (vmap over samples, vjp inside)."""
    group = {n: work.differentiable[n] for n in names}
    others = {n: t for n, t in work.differentiable.items() if n not in group}

    def one_sample(tensors: dict[str, torch.Tensor], xi: torch.Tensor) -> torch.Tensor:
        def f(t: dict[str, torch.Tensor]) -> torch.Tensor:
            return work.call({**others, **t}, xi.unsqueeze(0)).squeeze(0)

        _, pullback = vjp(f, tensors)
        (grads,) = vmap(pullback)(directions)
        return torch.cat([grads[n].reshape(directions.shape[0], -1) for n in names], dim=1)

    return vmap(one_sample, in_dims=(None, 0), chunk_size=sample_chunk)(group, work.x)


def _rows_cotangents(work: _Pass, directions: torch.Tensor) -> torch.Tensor:
    """Cotangents on the batched output for every (sample, direction) row: (B·R, B, C)."""
    b, (r, c) = work.x.shape[0], directions.shape
    cot = torch.zeros(b, r, b, c, dtype=directions.dtype, device=directions.device)
    idx = torch.arange(b, device=directions.device)
    cot[idx, :, idx, :] = directions
    return cot.reshape(b * r, b, c)


def _batched_output(work: _Pass) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    tensors = {n: t.detach().requires_grad_(True) for n, t in work.differentiable.items()}
    with torch.enable_grad():
        out = work.call(tensors, work.x)
    return out, tensors


def _jacobian_autograd(
    work: _Pass,
    names: list[str],
    directions: torch.Tensor,
    row_chunk: int,
    out: torch.Tensor,
    tensors: dict[str, torch.Tensor],
) -> torch.Tensor:
    """Jacobian slice (B, R, P_g) by vectorized backward passes of the batched forward
    (``autograd.grad(..., is_grads_batched=True)``): exact for coupled samples (bn="batch")."""
    cot = _rows_cotangents(work, directions)
    inputs = [tensors[n] for n in names]
    pieces = []
    for start in range(0, cot.shape[0], row_chunk):
        n_rows = min(row_chunk, cot.shape[0] - start)
        if n_rows == 1:  # a plain backward: no vmap overhead (the fastest choice on CPUs)
            grads = torch.autograd.grad(
                out, inputs, grad_outputs=cot[start], retain_graph=True, allow_unused=True
            )
            grads = tuple(g.unsqueeze(0) if g is not None else None for g in grads)
        else:
            grads = torch.autograd.grad(
                out,
                inputs,
                grad_outputs=cot[start : start + n_rows],
                is_grads_batched=True,
                retain_graph=True,
                allow_unused=True,
            )
        pieces.append(
            torch.cat(
                [
                    (g if g is not None else torch.zeros_like(t).expand(n_rows, *t.shape)).reshape(
                        n_rows, -1
                    )
                    for g, t in zip(grads, inputs)
                ],
                dim=1,
            )
        )
    return torch.cat(pieces).reshape(work.x.shape[0], directions.shape[0], -1)


def _jacobian_reference(
    work: _Pass,
    names: list[str],
    directions: torch.Tensor,
    out: torch.Tensor,
    tensors: dict[str, torch.Tensor],
) -> torch.Tensor:
    """The plain loop: one autograd call per sample and direction."""
    inputs = [tensors[n] for n in names]
    rows = []
    for i in range(work.x.shape[0]):
        for v in directions:
            grads = torch.autograd.grad(
                (out[i] * v).sum(), inputs, retain_graph=True, allow_unused=True
            )
            rows.append(
                torch.cat(
                    [
                        (g if g is not None else torch.zeros_like(t)).reshape(-1)
                        for g, t in zip(grads, inputs)
                    ]
                )
            )
    return torch.stack(rows).reshape(work.x.shape[0], directions.shape[0], -1)
