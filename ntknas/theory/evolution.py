"""How much the empirical NTK moves during training: lazy versus rich (feature-learning) regimes.

In the infinite-width (lazy) limit the NTK stays at its initial value and training is kernel
regression; finite networks that learn features move their kernel, typically towards the labels
(Baratin et al. 2021; Fort et al. 2020). :class:`KernelEvolution` records, on a fixed probe
batch, the relative Frobenius change ``‖Θ_t − Θ_0‖_F / ‖Θ_0‖_F`` and the kernel-target alignment
``<Θ_t, YYᵀ> / (‖Θ_t‖ ‖YYᵀ‖)`` (centered one-hot Y) at initialization and after each epoch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ntknas.ntk import empirical_ntk
from ntknas.proxies import kernel_target_alignment


@dataclass
class KernelEvolution:
    """Tracks Θ_t of one model on a probe batch.

    Args:
        x, labels: the probe batch and its labels.
        kernel_options: keyword arguments of :func:`ntknas.empirical_ntk` (kernel, bn, ...);
            ``repeats`` is always 1 (the model's own current weights).

    Example:
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 3))
        >>> x, y = torch.randn(6, 3, 2, 2), torch.tensor([0, 1, 2] * 2)
        >>> ev = KernelEvolution(x, y)
        >>> ev.record(net); ev.changes
        [0.0]
    """

    x: torch.Tensor
    labels: torch.Tensor
    kernel_options: dict[str, Any] = field(default_factory=dict)
    num_classes: int | None = None
    initial: torch.Tensor | None = None
    changes: list[float] = field(default_factory=list)
    alignments: list[float] = field(default_factory=list)

    def kernel(self, model: nn.Module) -> torch.Tensor:
        device = next(model.parameters()).device
        options = {k: v for k, v in self.kernel_options.items() if k not in ("repeats", "seed")}
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            return (
                empirical_ntk(model, self.x.to(device), **options).detach().to("cpu", torch.float64)
            )

    def record(self, model: nn.Module) -> None:
        """Measure Θ now: the first call is the reference Θ_0 (change 0)."""
        K = self.kernel(model)
        if self.initial is None:
            self.initial = K
        norm = float(torch.linalg.norm(self.initial))
        change = float(torch.linalg.norm(K - self.initial)) / norm if norm > 0 else float("nan")
        self.changes.append(change)
        self.alignments.append(kernel_target_alignment(K, self.labels, self.num_classes))

    def to_dict(self) -> dict[str, list[float]]:
        return {"kernel_change": list(self.changes), "kernel_alignment": list(self.alignments)}
