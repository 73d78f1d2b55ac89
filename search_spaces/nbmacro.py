"""NAS-Bench-Macro: the MobileNet-like macro space of Su et al. (CVPR 2021).

Eight searchable layers in three stages of [2, 3, 3] layers; each layer is one of

* ``0``: identity (a strided 1×1 convolution + BatchNorm when it is the first layer of a stage,
  since that layer halves the resolution and doubles the channels),
* ``1``: inverted residual, 3×3 depthwise, expansion 3,
* ``2``: inverted residual, 5×5 depthwise, expansion 6.

The network: stem (3×3 conv to 32 channels, BN, ReLU) → the 8 layers (channels 64 / 128 / 256
after the stages' first layers, stride 2 each) → 1×1 conv to 1280, BN, ReLU → global average
pool → Linear. It reproduces the benchmark's parameter counts, so its accuracy table applies.

An arch string is the benchmark's key, 8 digits, one per layer (``"01202100"``). 3⁸ = 6,561
keys name 3,969 distinct networks: an identity that is not the first layer of its stage does
nothing, so where it sits among the stage's other layers does not change the network. The
benchmark trained each network once, with the stage's identities moved to its end
(:meth:`NBMacroSpace.canonical`).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from search_spaces._keyvalue import check_positive_int, check_unknown_options
from search_spaces._registry import register_search_space
from search_spaces.base import ArchSpec, SearchSpace

#: The layer choices, by digit.
CHOICES: tuple[str, ...] = ("identity", "ir_k3_t3", "ir_k5_t6")
#: Searchable layers per stage.
STAGES: tuple[int, ...] = (2, 3, 3)
LAYERS = sum(STAGES)
#: (kernel size, expansion ratio) of the inverted-residual choices.
_INVERTED_RESIDUAL = {1: (3, 3), 2: (5, 6)}


def _conv_bn(
    c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1
) -> list[nn.Module]:
    return [
        nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
    ]


class StridedIdentity(nn.Sequential):
    """The identity choice as the first layer of a stage: 1×1 conv (stride 2) + BatchNorm."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__(*_conv_bn(c_in, c_out, 1, stride))


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1×1 expand, BN, ReLU → k×k depthwise (stride), BN, ReLU → 1×1
    project, BN; a residual sum when input and output shapes agree."""

    def __init__(self, c_in: int, c_out: int, stride: int, kernel: int, expansion: int) -> None:
        super().__init__()
        hidden = c_in * expansion
        self.conv = nn.Sequential(
            *_conv_bn(c_in, hidden, 1),
            nn.ReLU(),
            *_conv_bn(hidden, hidden, kernel, stride, groups=hidden),
            nn.ReLU(),
            *_conv_bn(hidden, c_out, 1),
        )
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        return out + x if self.residual else out


def make_layer(choice: int, c_in: int, c_out: int, stride: int) -> nn.Module:
    """The module of one layer choice (0, 1 or 2)."""
    if choice == 0:
        if stride == 1 and c_in == c_out:
            return nn.Identity()
        return StridedIdentity(c_in, c_out, stride)
    kernel, expansion = _INVERTED_RESIDUAL[choice]
    return InvertedResidual(c_in, c_out, stride, kernel, expansion)


class NBMacroNetwork(nn.Module):
    """The NAS-Bench-Macro network of one 8-digit key."""

    def __init__(
        self,
        choices: tuple[int, ...],
        num_classes: int = 10,
        init_channels: int = 32,
        head_channels: int = 1280,
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(*_conv_bn(3, init_channels, 3), nn.ReLU())
        layers: list[nn.Module] = []
        c = init_channels
        position = 0
        for stage_layers in STAGES:
            for index in range(stage_layers):
                stride, c_out = (2, 2 * c) if index == 0 else (1, c)
                layers.append(make_layer(choices[position], c, c_out, stride))
                c = c_out
                position += 1
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(*_conv_bn(c, head_channels, 1), nn.ReLU())
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(head_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.head(self.features(self.stem(x)))
        return self.classifier(self.global_pooling(out).flatten(1))


def parse_key(text: str) -> tuple[int, ...]:
    """The 8 layer choices of a key; ``ValueError`` names the bad position.

    Example:
        >>> parse_key("01202100")
        (0, 1, 2, 0, 2, 1, 0, 0)
    """
    if not isinstance(text, str):
        raise ValueError(f"nbmacro: arch must be a string, got {type(text).__name__}")
    key = text.strip()
    if len(key) != LAYERS:
        raise ValueError(f"nbmacro: {text!r} has {len(key)} digits, expected {LAYERS}")
    for position, digit in enumerate(key):
        if digit not in "012":
            raise ValueError(
                f"nbmacro: position {position}: {digit!r} is not a layer choice; allowed: 0 "
                "(identity), 1 (inverted residual k3 t3), 2 (inverted residual k5 t6)"
            )
    return tuple(int(d) for d in key)


def _stage_slices() -> list[slice]:
    starts = list(itertools.accumulate((0, *STAGES)))
    return [slice(a, b) for a, b in zip(starts, starts[1:])]


@register_search_space("nbmacro")
class NBMacroSpace(SearchSpace):
    """The NAS-Bench-Macro space: 3⁸ = 6,561 keys, 3,969 distinct networks.

    Options ``init_channels`` (32) and ``head_channels`` (1280) exist for small test networks;
    the benchmark's table applies to the defaults only.

    Example:
        >>> space = NBMacroSpace()
        >>> space.size(), space.canonical("00000001").arch
        (6561, '00000010')
    """

    name = "nbmacro"

    def __init__(
        self, *, init_channels: int = 32, head_channels: int = 1280, **options: Any
    ) -> None:
        check_unknown_options(self.name, options, ["init_channels", "head_channels"])
        self.init_channels = check_positive_int("init_channels", init_channels)
        self.head_channels = check_positive_int("head_channels", head_channels)

    def options(self) -> dict[str, Any]:
        return {"init_channels": self.init_channels, "head_channels": self.head_channels}

    def suggest(self, trial: Any) -> ArchSpec:
        digits = [trial.suggest_categorical(f"layer_{i}", ["0", "1", "2"]) for i in range(LAYERS)]
        return ArchSpec(self.name, "".join(digits))

    def sample(self, rng: random.Random | int | None = None) -> ArchSpec:
        r = self._rng(rng)
        return ArchSpec(self.name, "".join(r.choice("012") for _ in range(LAYERS)))

    def parse(self, text: str) -> ArchSpec:
        return ArchSpec(self.name, "".join(str(d) for d in parse_key(text)))

    def choices(self, spec: ArchSpec | str) -> tuple[int, ...]:
        """The 8 layer choices of a spec."""
        return parse_key(self._spec(spec).arch)

    def trial_params(self, spec: ArchSpec | str) -> dict[str, Any]:
        return {f"layer_{i}": str(d) for i, d in enumerate(self.choices(spec))}

    def build(self, spec: ArchSpec | str, num_classes: int = 10) -> nn.Module:
        return NBMacroNetwork(
            self.choices(spec), num_classes, self.init_channels, self.head_channels
        )

    def enumerate(self) -> Iterator[ArchSpec]:
        for digits in itertools.product("012", repeat=LAYERS):
            yield ArchSpec(self.name, "".join(digits))

    def size(self) -> int:
        return 3**LAYERS

    def canonical(self, spec: ArchSpec | str) -> ArchSpec:
        """The key of the network as the benchmark trained it: in every stage, the identities
        after the first layer move to the stage's end (they are no-ops, so the network is the
        same). Keys with the same canonical form are aliases.

        Example:
            >>> NBMacroSpace().canonical("10201001").arch
            '10210010'
        """
        choices = self.choices(spec)
        out: list[int] = []
        for part in _stage_slices():
            first, *rest = choices[part]
            ops = [c for c in rest if c != 0]
            out.extend([first, *ops, *[0] * (len(rest) - len(ops))])
        return ArchSpec(self.name, "".join(str(d) for d in out))

    def distinct(self) -> list[ArchSpec]:
        """One key per distinct network (the canonical forms), in key order: 3,969 specs."""
        return sorted({self.canonical(s) for s in self.enumerate()})
