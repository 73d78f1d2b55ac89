"""Plain CNN macro space: stages of conv layers, widths, kernels, downsampling, BN, activation.

Text form: ``stages=3;depth=2-1-2;width=16-32-64;kernel=3-5-3;down=stride;bn=on;act=relu``.
Stage s has ``depth[s]`` blocks Conv(k) → [BatchNorm] → activation at ``width[s]`` channels; every
stage after the first halves the resolution, with a stride-2 first conv or a 2×2 pool before it.
The head is global average pooling → Linear.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

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

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
}
DOWNSAMPLING = ("stride", "maxpool", "avgpool")
SWITCH = ("on", "off")
KEYS = ("stages", "depth", "width", "kernel", "down", "bn", "act")


@dataclass(frozen=True)
class CNNGenome:
    depth: tuple[int, ...]
    width: tuple[int, ...]
    kernel: tuple[int, ...]
    down: str
    bn: str
    act: str


def _activation(name: str) -> nn.Module:
    return ACTIVATIONS[name](inplace=True) if name in ("relu", "silu") else ACTIVATIONS[name]()


class PlainCNN(nn.Module):
    def __init__(self, g: CNNGenome, num_classes: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for s, (depth, width, k) in enumerate(zip(g.depth, g.width, g.kernel)):
            for d in range(depth):
                stride = 2 if (s > 0 and d == 0 and g.down == "stride") else 1
                if s > 0 and d == 0 and g.down != "stride":
                    layers.append(nn.MaxPool2d(2) if g.down == "maxpool" else nn.AvgPool2d(2))
                layers.append(
                    nn.Conv2d(c_in, width, k, stride=stride, padding=k // 2, bias=g.bn == "off")
                )
                if g.bn == "on":
                    layers.append(nn.BatchNorm2d(width))
                layers.append(_activation(g.act))
                c_in = width
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_in, num_classes)

    def forward(self, x):
        return self.classifier(self.pool(self.features(x)).flatten(1))


@register_search_space("cnn")
class CNNSpace(SearchSpace):
    """Plain CNNs. Options (YAML ``space.options``): ``stages``, ``depth``, ``width``, ``kernel``
    as ``[low, high]``; ``width_step``; ``downsampling``, ``batchnorm``, ``activations`` as lists.

    Example:
        >>> space = CNNSpace(stages=[2, 2])
        >>> space.parse("stages=2;depth=1-1;width=16-32;kernel=3-3;down=stride;bn=on;act=relu").arch
        'stages=2;depth=1-1;width=16-32;kernel=3-3;down=stride;bn=on;act=relu'
    """

    name = "cnn"

    def __init__(
        self,
        *,
        stages: list[int] | tuple[int, int] = (2, 3),
        depth: list[int] | tuple[int, int] = (1, 2),
        width: list[int] | tuple[int, int] = (16, 64),
        width_step: int = 16,
        kernel: list[int] | tuple[int, int] = (3, 5),
        downsampling: list[str] | tuple[str, ...] = DOWNSAMPLING,
        batchnorm: list[str] | tuple[str, ...] = SWITCH,
        activations: list[str] | tuple[str, ...] = ("relu", "gelu", "silu"),
        **unknown: Any,
    ) -> None:
        check_unknown_options(
            self.name,
            unknown,
            [
                "stages",
                "depth",
                "width",
                "width_step",
                "kernel",
                "downsampling",
                "batchnorm",
                "activations",
            ],
        )
        self.stages = check_int_range("stages", stages)
        if self.stages[1] > 5:
            raise ValueError("option 'stages' allows at most 5 stages for 32x32 inputs")
        self.depth = check_int_range("depth", depth)
        self.width_step = check_positive_int("width_step", width_step)
        self.width = check_int_range("width", width)
        if (self.width[1] - self.width[0]) % self.width_step:
            raise ValueError("option 'width': high - low must be a multiple of width_step")
        self.kernel = check_int_range("kernel", kernel)
        if self.kernel[0] % 2 == 0 or self.kernel[1] % 2 == 0:
            raise ValueError(f"option 'kernel' must be odd sizes, got {list(self.kernel)}")
        self.downsampling = check_choices("downsampling", downsampling, DOWNSAMPLING)
        self.batchnorm = check_choices("batchnorm", batchnorm, SWITCH)
        self.activations = check_choices("activations", activations, tuple(ACTIVATIONS))

    def options(self) -> dict[str, Any]:
        return {
            "stages": list(self.stages),
            "depth": list(self.depth),
            "width": list(self.width),
            "width_step": self.width_step,
            "kernel": list(self.kernel),
            "downsampling": list(self.downsampling),
            "batchnorm": list(self.batchnorm),
            "activations": list(self.activations),
        }

    def _format(self, g: CNNGenome) -> ArchSpec:
        fields = [
            ("stages", len(g.depth)),
            ("depth", g.depth),
            ("width", g.width),
            ("kernel", g.kernel),
            ("down", g.down),
            ("bn", g.bn),
            ("act", g.act),
        ]
        return ArchSpec(self.name, format_fields(fields))

    def suggest(self, trial: Any) -> ArchSpec:
        n = trial.suggest_int("stages", *self.stages)
        depth, width, kernel = [], [], []
        for s in range(n):
            depth.append(trial.suggest_int(f"depth_{s}", *self.depth))
            width.append(trial.suggest_int(f"width_{s}", *self.width, step=self.width_step))
            kernel.append(trial.suggest_int(f"kernel_{s}", *self.kernel, step=2))
        down = trial.suggest_categorical("downsampling", list(self.downsampling))
        bn = trial.suggest_categorical("batchnorm", list(self.batchnorm))
        act = trial.suggest_categorical("activation", list(self.activations))
        return self._format(CNNGenome(tuple(depth), tuple(width), tuple(kernel), down, bn, act))

    def sample(self, rng: random.Random | int | None = None) -> ArchSpec:
        r = self._rng(rng)
        n = r.randint(*self.stages)
        widths = range(self.width[0], self.width[1] + 1, self.width_step)
        kernels = range(self.kernel[0], self.kernel[1] + 1, 2)
        g = CNNGenome(
            depth=tuple(r.randint(*self.depth) for _ in range(n)),
            width=tuple(r.choice(widths) for _ in range(n)),
            kernel=tuple(r.choice(kernels) for _ in range(n)),
            down=r.choice(self.downsampling),
            bn=r.choice(self.batchnorm),
            act=r.choice(self.activations),
        )
        return self._format(g)

    def genome(self, spec: ArchSpec | str) -> CNNGenome:
        """The structured form of a spec (validated against this space's options)."""
        text = spec if isinstance(spec, str) else self._spec(spec).arch
        f = split_fields(self.name, text, KEYS)
        n = parse_int(self.name, "stages", f["stages"], *self.stages)
        return CNNGenome(
            depth=parse_int_list(self.name, "depth", f["depth"], n, *self.depth),
            width=parse_int_list(self.name, "width", f["width"], n, *self.width, self.width_step),
            kernel=parse_int_list(self.name, "kernel", f["kernel"], n, *self.kernel, 2),
            down=parse_choice(self.name, "down", f["down"], self.downsampling),
            bn=parse_choice(self.name, "bn", f["bn"], self.batchnorm),
            act=parse_choice(self.name, "act", f["act"], self.activations),
        )

    def parse(self, text: str) -> ArchSpec:
        return self._format(self.genome(text))

    def trial_params(self, spec: ArchSpec | str) -> dict[str, Any]:
        g = self.genome(spec)
        params: dict[str, Any] = {"stages": len(g.depth)}
        for s in range(len(g.depth)):
            params[f"depth_{s}"] = g.depth[s]
            params[f"width_{s}"] = g.width[s]
            params[f"kernel_{s}"] = g.kernel[s]
        params.update(downsampling=g.down, batchnorm=g.bn, activation=g.act)
        return params

    def build(self, spec: ArchSpec | str, num_classes: int = 10) -> nn.Module:
        return PlainCNN(self.genome(spec), num_classes)
