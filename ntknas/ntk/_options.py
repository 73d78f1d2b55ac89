"""The engine's choices and outputs: kernel / bn / params / implementation names, their
checks, and how the logits are picked out of a model's output."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ntknas.ntk._gram import GRAM_CHUNK, _forward_error, _gram_update, gram_dtype  # noqa: F401

KERNELS: tuple[str, ...] = ("sum", "trace", "full")


BN_MODES: tuple[str, ...] = ("batch", "frozen", "eval")


PARAM_SETS: tuple[str, ...] = ("all", "weights")


IMPLEMENTATIONS: tuple[str, ...] = ("auto", "func", "hooks", "autograd", "reference")


_DEFAULT_MEMORY_BUDGET = 1 << 30  # bytes of Jacobian held at once


def check_choice(name: str, value: object, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {name} {value!r}; allowed: {', '.join(allowed)}")


#: How to pick the logits out of a model's output: None (the output is the logits, or holds
#: exactly one tensor), an index into a tuple/list, a key of a mapping, or a callable.
OutputSelector = int | str | Callable[[Any], torch.Tensor] | None


def check_output_selector(output: object) -> None:
    """Raise ``ValueError`` unless ``output`` is None, an int, a str or a callable."""
    if output is None or callable(output):
        return
    if isinstance(output, bool) or not isinstance(output, (int, str)):
        raise ValueError(
            f"output must be None, an index, a key or a callable, not {type(output).__name__}"
        )


def _describe(items: Sequence[object] | dict) -> str:
    pairs = items.items() if isinstance(items, dict) else enumerate(items)
    return ", ".join(
        f"{k!r}: {tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__}"
        for k, v in pairs
    )


def logits_of(output: object, select: OutputSelector = None) -> torch.Tensor:
    """The logits in a model's output, as a 2-D (batch, classes) tensor.

    ``select`` picks them: an index into a tuple/list output, a key of a mapping, or a callable
    applied to the output. Without it the output must be a tensor, a tuple/list or mapping
    holding exactly one tensor, a mapping with a ``"logits"`` key, or an object with a
    ``logits`` attribute. A tuple of several tensors — ``(features, logits)`` of the
    NAS-Bench-201 / AutoDL networks, ``(logits, aux)`` of Inception and DARTS — is never
    guessed: it raises ``ValueError`` naming the items.

    Example:
        >>> logits_of((torch.zeros(2, 10), "aux")).shape
        torch.Size([2, 10])
        >>> logits_of((torch.zeros(2, 64), torch.zeros(2, 10)), 1).shape
        torch.Size([2, 10])
        >>> logits_of((torch.zeros(2, 64), torch.zeros(2, 10)))
        Traceback (most recent call last):
        ...
        ValueError: the model returned a tuple of 2 tensors (0: (2, 64), 1: (2, 10)); say which holds the logits with output=INDEX or output=callable
    """
    if select is not None:
        check_output_selector(select)
        try:
            output = select(output) if callable(select) else output[select]  # type: ignore[index]
        except (IndexError, KeyError, TypeError) as error:
            raise ValueError(
                f"output={select!r} does not pick an item of the model's "
                f"{type(output).__name__} output: {error}"
            ) from None
    elif isinstance(output, (tuple, list)):
        tensors = [item for item in output if isinstance(item, torch.Tensor)]
        if len(tensors) != 1:
            raise ValueError(
                f"the model returned a {type(output).__name__} of {len(tensors)} tensors "
                f"({_describe(output)}); say which holds the logits with output=INDEX or "
                "output=callable"
            )
        output = tensors[0]
    elif isinstance(output, dict):
        tensors = [v for v in output.values() if isinstance(v, torch.Tensor)]
        if "logits" in output:
            output = output["logits"]
        elif len(tensors) == 1:
            output = tensors[0]
        else:
            raise ValueError(
                f"the model returned a mapping of {len(tensors)} tensors ({_describe(output)}) "
                "and no 'logits' key; say which holds the logits with output=KEY"
            )
    elif not isinstance(output, torch.Tensor) and hasattr(output, "logits"):
        output = output.logits
    if not isinstance(output, torch.Tensor):
        raise ValueError(f"the model returned {type(output).__name__}, not a tensor of logits")
    if output.dim() == 1:
        output = output.unsqueeze(-1)
    if output.dim() != 2:
        raise ValueError(
            f"the model output has shape {tuple(output.shape)}; expected (batch, classes)"
        )
    return output


@dataclass(frozen=True)
class NTKOptions:
    """The options :func:`~ntknas.ntk.empirical_ntk` and :func:`~ntknas.ntk.layerwise_ntk`
    share (their docstrings say what each means), checked once when created.

    Example:
        >>> NTKOptions(kernel="trace").bn
        'frozen'
        >>> NTKOptions(kernel="diag")
        Traceback (most recent call last):
        ...
        ValueError: unknown kernel 'diag'; allowed: sum, trace, full
    """

    kernel: str = "sum"
    bn: str = "frozen"
    params: str = "all"
    implementation: str = "auto"
    repeats: int = 1
    seed: int = 0
    chunk_size: int | None = None
    memory_budget: int = _DEFAULT_MEMORY_BUDGET
    allow_tf32: bool = False
    output: OutputSelector = None

    def __post_init__(self) -> None:
        check_choice("kernel", self.kernel, KERNELS)
        check_choice("bn", self.bn, BN_MODES)
        check_choice("params", self.params, PARAM_SETS)
        if not isinstance(self.repeats, int) or self.repeats < 1:
            raise ValueError(f"repeats must be a positive integer, got {self.repeats!r}")
        chunk = self.chunk_size
        if chunk is not None and (not isinstance(chunk, int) or chunk < 1):
            raise ValueError(f"chunk_size must be a positive integer or None, got {chunk!r}")
        check_output_selector(self.output)
