"""ResNet-style space: basic or bottleneck blocks, blocks per stage, stage widths, stem, expansion.

Text form: ``block=basic;stem=conv3;blocks=2-2-2-2;width=64-128-256-512;expansion=1`` (that one
is ResNet-18 at CIFAR scale; ``blocks=3-4-6-3`` is ResNet-34). Blocks follow torchvision's
(``ReLU(inplace=True)``, ``out += identity``); every stage after the first starts with stride 2.
Stems: ``conv3`` (3×3 conv, stride 1: CIFAR) or ``conv7_pool`` (7×7 stride 2 + max pool).
Bottleneck blocks output ``width × expansion`` channels; basic blocks need ``expansion=1``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from search_spaces._keyvalue import (
    check_choices,
    check_int_range,
    check_positive_int,
    check_unknown_options,
    format_fields,
    parse_choice,
    parse_int,
    parse_int_list,
    split_fields,
)
from search_spaces._registry import register_search_space
from search_spaces.base import ArchSpec, SearchSpace

BLOCKS = ("basic", "bottleneck")
STEMS = ("conv3", "conv7_pool")
KEYS = ("block", "stem", "blocks", "width", "expansion")


@dataclass(frozen=True)
class ResNetGenome:
    block: str
    stem: str
    blocks: tuple[int, ...]
    width: tuple[int, ...]
    expansion: int


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, width: int, stride: int, expansion: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, width, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.downsample = _shortcut(c_in, width, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return self.relu(out)


class Bottleneck(nn.Module):
    def __init__(self, c_in: int, width: int, stride: int, expansion: int) -> None:
        super().__init__()
        c_out = width * expansion
        self.conv1 = nn.Conv2d(c_in, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, c_out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(c_in, c_out, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out += identity
        return self.relu(out)


def _shortcut(c_in: int, c_out: int, stride: int) -> nn.Module | None:
    if stride == 1 and c_in == c_out:
        return None
    return nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))


class ResNet(nn.Module):
    def __init__(self, g: ResNetGenome, num_classes: int) -> None:
        super().__init__()
        c = g.width[0]
        if g.stem == "conv3":
            self.stem = nn.Sequential(
                nn.Conv2d(3, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True)
            )
        else:
            self.stem = nn.Sequential(
                nn.Conv2d(3, c, 7, 2, 3, bias=False),
                nn.BatchNorm2d(c),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(3, 2, 1),
            )
        block = BasicBlock if g.block == "basic" else Bottleneck
        stages = []
        for s, (n, width) in enumerate(zip(g.blocks, g.width)):
            layers = []
            for b in range(n):
                layers.append(block(c, width, 2 if (s > 0 and b == 0) else 1, g.expansion))
                c = width * g.expansion
            stages.append(nn.Sequential(*layers))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.stages(self.stem(x))).flatten(1))


@register_search_space("resnet")
class ResNetSpace(SearchSpace):
    """ResNets. Options: ``stages``, ``blocks``, ``width``, ``expansion`` as ``[low, high]``;
    ``width_step``; ``block_types`` and ``stems`` as lists. The defaults suit a CPU; ResNet-18/34
    need ``blocks: [1, 6]``, ``width: [64, 512]``, ``stages: [4, 4]``.

    Example:
        >>> space = ResNetSpace(stages=[4, 4], blocks=[1, 6], width=[64, 512], width_step=64)
        >>> r18 = space.parse("block=basic;stem=conv3;blocks=2-2-2-2;width=64-128-256-512;expansion=1")
        >>> space.cost(r18).params
        11173962
    """

    name = "resnet"

    def __init__(
        self,
        *,
        stages: list[int] | tuple[int, int] = (3, 4),
        blocks: list[int] | tuple[int, int] = (1, 2),
        width: list[int] | tuple[int, int] = (16, 64),
        width_step: int = 16,
        expansion: list[int] | tuple[int, int] = (1, 4),
        block_types: list[str] | tuple[str, ...] = BLOCKS,
        stems: list[str] | tuple[str, ...] = STEMS,
        **unknown: Any,
    ) -> None:
        check_unknown_options(
            self.name,
            unknown,
            ["stages", "blocks", "width", "width_step", "expansion", "block_types", "stems"],
        )
        self.stages = check_int_range("stages", stages)
        if self.stages[1] > 5:
            raise ValueError("option 'stages' allows at most 5 stages for 32x32 inputs")
        self.blocks = check_int_range("blocks", blocks)
        self.width_step = check_positive_int("width_step", width_step)
        self.width = check_int_range("width", width)
        if (self.width[1] - self.width[0]) % self.width_step:
            raise ValueError("option 'width': high - low must be a multiple of width_step")
        self.expansion = check_int_range("expansion", expansion)
        self.block_types = check_choices("block_types", block_types, BLOCKS)
        self.stems = check_choices("stems", stems, STEMS)

    def options(self) -> dict[str, Any]:
        return {
            "stages": list(self.stages),
            "blocks": list(self.blocks),
            "width": list(self.width),
            "width_step": self.width_step,
            "expansion": list(self.expansion),
            "block_types": list(self.block_types),
            "stems": list(self.stems),
        }

    def _format(self, g: ResNetGenome) -> ArchSpec:
        fields = [
            ("block", g.block),
            ("stem", g.stem),
            ("blocks", g.blocks),
            ("width", g.width),
            ("expansion", g.expansion),
        ]
        return ArchSpec(self.name, format_fields(fields))

    def suggest(self, trial: Any) -> ArchSpec:
        block = trial.suggest_categorical("block", list(self.block_types))
        stem = trial.suggest_categorical("stem", list(self.stems))
        n = trial.suggest_int("stages", *self.stages)
        blocks = tuple(trial.suggest_int(f"blocks_{s}", *self.blocks) for s in range(n))
        width = tuple(
            trial.suggest_int(f"width_{s}", *self.width, step=self.width_step) for s in range(n)
        )
        expansion = 1 if block == "basic" else trial.suggest_int("expansion", *self.expansion)
        return self._format(ResNetGenome(block, stem, blocks, width, expansion))

    def sample(self, rng: random.Random | int | None = None) -> ArchSpec:
        r = self._rng(rng)
        block = r.choice(self.block_types)
        stem = r.choice(self.stems)
        n = r.randint(*self.stages)
        widths = range(self.width[0], self.width[1] + 1, self.width_step)
        g = ResNetGenome(
            block=block,
            stem=stem,
            blocks=tuple(r.randint(*self.blocks) for _ in range(n)),
            width=tuple(r.choice(widths) for _ in range(n)),
            expansion=1 if block == "basic" else r.randint(*self.expansion),
        )
        return self._format(g)

    def genome(self, spec: ArchSpec | str) -> ResNetGenome:
        """The structured form of a spec (validated against this space's options)."""
        text = spec if isinstance(spec, str) else self._spec(spec).arch
        f = split_fields(self.name, text, KEYS)
        block = parse_choice(self.name, "block", f["block"], self.block_types)
        stem = parse_choice(self.name, "stem", f["stem"], self.stems)
        n = len(f["blocks"].split("-"))
        if not self.stages[0] <= n <= self.stages[1]:
            raise ValueError(
                f"{self.name}: {n} stages out of range; allowed: {self.stages[0]}..{self.stages[1]}"
            )
        blocks = parse_int_list(self.name, "blocks", f["blocks"], n, *self.blocks)
        width = parse_int_list(self.name, "width", f["width"], n, *self.width, self.width_step)
        if block == "basic":
            expansion = parse_int(self.name, "expansion", f["expansion"], 1, 1)
        else:
            expansion = parse_int(self.name, "expansion", f["expansion"], *self.expansion)
        return ResNetGenome(block, stem, blocks, width, expansion)

    def parse(self, text: str) -> ArchSpec:
        return self._format(self.genome(text))

    def trial_params(self, spec: ArchSpec | str) -> dict[str, Any]:
        g = self.genome(spec)
        params: dict[str, Any] = {"block": g.block, "stem": g.stem, "stages": len(g.blocks)}
        for s in range(len(g.blocks)):
            params[f"blocks_{s}"] = g.blocks[s]
        for s in range(len(g.blocks)):
            params[f"width_{s}"] = g.width[s]
        if g.block != "basic":
            params["expansion"] = g.expansion
        return params

    def build(self, spec: ArchSpec | str, num_classes: int = 10) -> nn.Module:
        return ResNet(self.genome(spec), num_classes)
