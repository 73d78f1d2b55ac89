"""The contract every search space follows: ``ArchSpec`` values and the ``SearchSpace`` base."""

from __future__ import annotations

import hashlib
import json
import random
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry, sdpa_flop_count

HASH_LENGTH = 16


@dataclass(frozen=True, order=True)
class ArchSpec:
    """One architecture of one search space, as a value.

    ``arch`` is the space's canonical text form; :meth:`SearchSpace.parse` turns it back into a
    spec, and :meth:`SearchSpace.build` into a network. Specs are frozen, hashable, ordered and
    JSON-serializable; :attr:`hash` is a SHA-256 digest of ``space`` and ``arch`` and so is the
    same in every process, on every machine and in every version that keeps the text form.

    Example:
        >>> spec = ArchSpec("nb201", "|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|")
        >>> spec.hash == ArchSpec.from_json(spec.to_json()).hash
        True
    """

    space: str
    arch: str

    def to_string(self) -> str:
        """The canonical text form (the input of ``space.parse``)."""
        return self.arch

    @property
    def hash(self) -> str:
        """16 hex digits of SHA-256 over ``"<space>:<arch>"``."""
        return hashlib.sha256(f"{self.space}:{self.arch}".encode()).hexdigest()[:HASH_LENGTH]

    def to_dict(self) -> dict[str, str]:
        return {"space": self.space, "arch": self.arch}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | dict[str, Any]) -> ArchSpec:
        data = json.loads(text) if isinstance(text, str) else text
        return cls(space=str(data["space"]), arch=str(data["arch"]))

    def __str__(self) -> str:
        return self.arch


@dataclass(frozen=True)
class Cost:
    """What an architecture costs, known without training: parameters and forward FLOPs per
    image (multiply-adds count as 2)."""

    params: int
    flops: int


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


class _FlopCount(TorchDispatchMode):
    """Adds up ``torch.utils.flop_counter``'s formula of every op that has one."""

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.total += int(formula(*args, **kwargs, out_val=out))
        elif "scaled_dot_product" in func.__name__ and len(args) >= 3:
            # CPU attention kernels have no registered formula (FlopCounterMode counts them as
            # 0); count them with the attention formula used for the GPU kernels.
            q, k, v = (a.shape for a in args[:3])
            self.total += int(sdpa_flop_count(q, k, v))
        return out


def count_flops(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Forward FLOPs for one input of ``input_shape`` (C, H, W), on the model's own device.

    The formulas are ``torch.utils.flop_counter``'s (matrix products, convolutions, attention:
    multiply-adds count as 2; elementwise ops, pooling and normalization count 0), applied by
    a lean dispatch mode that only looks up each op: ``FlopCounterMode`` gives the same totals
    (tested for every registered space) at ~2x the cost on a 1-image pass, and counts CPU
    ``scaled_dot_product_attention`` as 0 where this counts it.

    Example:
        >>> count_flops(nn.Linear(3, 2), (3,))
        12
    """
    first = next(iter([*model.parameters(), *model.buffers()]), None)
    device = first.device if first is not None else torch.device("cpu")
    was_training = model.training
    model.eval()
    try:
        with _FlopCount() as counter, torch.no_grad():
            model(torch.zeros(1, *input_shape, device=device))
    finally:
        model.train(was_training)
    return counter.total


class SearchSpace(ABC):
    """Base class of a search space: a set of architectures, how to draw and build them.

    Subclasses set ``name`` and implement ``suggest``, ``sample``, ``parse``, ``build``; finite
    spaces also ``enumerate`` and ``size``. Only :meth:`suggest` talks to Optuna.
    """

    name: str = ""
    input_shape: tuple[int, int, int] = (3, 32, 32)

    @abstractmethod
    def suggest(self, trial: Any) -> ArchSpec:
        """Define-by-run: draw an architecture from an Optuna trial (one named parameter per
        position)."""

    @abstractmethod
    def sample(self, rng: random.Random | int | None = None) -> ArchSpec:
        """Draw an architecture with a ``random.Random`` (or a seed)."""

    @abstractmethod
    def parse(self, text: str) -> ArchSpec:
        """Validate a text form and return its spec; ``ValueError`` names the bad position."""

    @abstractmethod
    def build(self, spec: ArchSpec | str, num_classes: int = 10) -> nn.Module:
        """The network for ``spec``, freshly initialized from the global torch RNG."""

    @abstractmethod
    def trial_params(self, spec: ArchSpec | str) -> dict[str, Any]:
        """The Optuna parameters :meth:`suggest` would draw for ``spec`` (its inverse), e.g. for
        ``study.enqueue_trial(space.trial_params(spec))`` or ``FixedTrial``."""

    def sample_distinct(self, n: int, rng: random.Random | int | None = None) -> list[ArchSpec]:
        """Up to ``n`` distinct architectures drawn with :meth:`sample` (fewer only when the
        space runs out).

        Example:
            >>> from search_spaces import create_search_space
            >>> len(create_search_space("nb201").sample_distinct(5, 0))
            5
        """
        r = self._rng(rng)
        seen: dict[ArchSpec, None] = {}
        attempts = 0
        while len(seen) < n and attempts < 100 * n:
            seen.setdefault(self.sample(r))
            attempts += 1
        return list(seen)

    def enumerate(self) -> Iterator[ArchSpec]:
        """Every architecture of a finite space."""
        raise TypeError(f"search space {self.name!r} is not finite and cannot be enumerated")

    def size(self) -> int | float:
        """Number of architectures (``math.inf`` when unbounded)."""
        return float("inf")

    def cost(self, spec: ArchSpec | str, num_classes: int = 10) -> Cost:
        """Parameter count and forward FLOPs per image, from a freshly built network."""
        model = self.build(spec, num_classes=num_classes)
        return Cost(count_parameters(model), count_flops(model, self.input_shape))

    def options(self) -> dict[str, Any]:
        """The options (ranges) the space was created with."""
        return {}

    def _spec(self, spec: ArchSpec | str) -> ArchSpec:
        if isinstance(spec, str):
            return self.parse(spec)
        if not isinstance(spec, ArchSpec):
            raise ValueError(f"expected an ArchSpec or a string, got {type(spec).__name__}")
        if spec.space != self.name:
            raise ValueError(f"spec belongs to space {spec.space!r}, not {self.name!r}")
        return spec

    @staticmethod
    def _rng(rng: random.Random | int | None) -> random.Random:
        return rng if isinstance(rng, random.Random) else random.Random(rng)

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options().items())
        return f"{type(self).__name__}({opts})"
