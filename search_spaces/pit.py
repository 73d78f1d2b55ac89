"""PiT: the pooling-based vision transformers of Heo et al. (ICCV 2021), in the search space
and the stand-alone form of the Auto-Prox ground truth (Wei et al., AAAI 2024).

A network: a 16×16 convolution with stride 8 embeds a 224×224 image into a 27×27 map of
``base_dim × num_heads[0]`` channels, plus a learned position embedding and a class token →
three stages of transformer layers (stage s: width ``base_dim × num_heads[s]``, ``num_heads[s]``
heads of ``base_dim`` channels, ``depth[s]`` layers, one MLP ratio for all) over the class token
and the map's tokens, a pooling layer between stages (a 3×3 stride-2 depthwise-grouped conv on
the map to the next width, a Linear on the class token) → LayerNorm of the class token →
Linear. Choices: ``base_dim`` 16/24/32/40, ``mlp_ratio`` 2/4/6/8, depth 1-3 / 4-8 / 2-6 per
stage (from {1,2,3}, {4,6,8}, {2,4,6}), heads 2/4/8 per stage, never fewer than the stage
before (the grouped pooling conv needs the next width to be a multiple of this one).

Arch strings are the ground truth's JSON, keys sorted, no spaces:
``{"base_dim":32,"depth":[2,6,4],"mlp_ratio":4,"num_heads":[2,4,8]}``.
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
from search_spaces._transformer import (
    TransformerLayer,
    canonical_json,
    check_input_size,
    check_keys,
    check_list,
    check_member,
    layer_norm,
    load_json_arch,
    truncated_normal_,
)
from search_spaces.base import ArchSpec, SearchSpace

BASE_DIMS: tuple[int, ...] = (16, 24, 32, 40)
MLP_RATIOS: tuple[int, ...] = (2, 4, 6, 8)
DEPTHS: tuple[tuple[int, ...], ...] = ((1, 2, 3), (4, 6, 8), (2, 4, 6))
HEADS: tuple[int, ...] = (2, 4, 8)
KEYS = ("base_dim", "depth", "mlp_ratio", "num_heads")
PATCH, STRIDE = 16, 8


def head_sequences() -> list[tuple[int, ...]]:
    """The per-stage head counts the space allows (non-decreasing)."""
    return [h for h in itertools.product(HEADS, repeat=3) if h[0] <= h[1] <= h[2]]


class Pooling(nn.Module):
    """Between stages: ``conv``, a 3×3 stride-2 conv grouped by input channel, on the map;
    ``fc``, a Linear, on the class token. (The network calls the two parts itself, so that
    every module it calls takes one tensor.)"""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, groups=c_in)
        self.fc = nn.Linear(c_in, c_out)


class PiTNetwork(nn.Module):
    def __init__(self, arch: dict[str, Any], num_classes: int, image_size: int = 224) -> None:
        super().__init__()
        widths = [arch["base_dim"] * h for h in arch["num_heads"]]
        side = (image_size - PATCH) // STRIDE + 1
        self.image = image_size
        self.patch_embed = nn.Conv2d(3, widths[0], PATCH, stride=STRIDE)
        self.pos_embed = nn.Parameter(torch.zeros(1, widths[0], side, side))
        self.cls_token = nn.Parameter(torch.zeros(1, 1, widths[0]))
        self.stages = nn.ModuleList(
            nn.Sequential(*(TransformerLayer(w, h, arch["mlp_ratio"]) for _ in range(d)))
            for w, d, h in zip(widths, arch["depth"], arch["num_heads"])
        )
        self.pools = nn.ModuleList(Pooling(a, b) for a, b in zip(widths, widths[1:]))
        self.norm = layer_norm(widths[-1])
        self.head = nn.Linear(widths[-1], num_classes)
        truncated_normal_(self.pos_embed)
        truncated_normal_(self.cls_token)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)
        check_input_size("pit", tuple(x.shape[-2:]), tuple(self.pos_embed.shape[-2:]), self.image)
        x = x + self.pos_embed
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        for index, stage in enumerate(self.stages):
            b, c, h, w = x.shape
            tokens = stage(torch.cat([cls, x.flatten(2).transpose(1, 2)], dim=1))
            cls, x = tokens[:, :1], tokens[:, 1:].transpose(1, 2).reshape(b, c, h, w)
            if index < len(self.pools):
                x, cls = self.pools[index].conv(x), self.pools[index].fc(cls)
        return self.head(self.norm(cls)[:, 0])


@register_search_space("pit")
class PiTSpace(SearchSpace):
    """PiT networks: 4 base widths × 4 MLP ratios × 27 depth triples × 10 head triples.

    Option ``image_size`` (224, as the benchmark trained; at least 16, smaller for quick tests).

    Example:
        >>> space = PiTSpace()
        >>> space.size()
        4320
    """

    name = "pit"

    def __init__(self, *, image_size: int = 224, **options: Any) -> None:
        check_unknown_options(self.name, options, ["image_size"])
        self.image_size = check_positive_int("image_size", image_size)
        if image_size < PATCH:
            raise ValueError(f"option 'image_size' must be at least {PATCH}, got {image_size}")
        self.input_shape = (3, image_size, image_size)

    def options(self) -> dict[str, Any]:
        return {"image_size": self.image_size}

    @staticmethod
    def _text(base: int, depth: list[int], ratio: int, heads: list[int]) -> str:
        return canonical_json(
            {"base_dim": base, "depth": list(depth), "mlp_ratio": ratio, "num_heads": list(heads)}
        )

    def suggest(self, trial: Any) -> ArchSpec:
        base = trial.suggest_int("base_dim", BASE_DIMS[0], BASE_DIMS[-1], step=8)
        ratio = trial.suggest_int("mlp_ratio", MLP_RATIOS[0], MLP_RATIOS[-1], step=2)
        depth = [
            trial.suggest_int(f"depth_{s}", d[0], d[-1], step=d[1] - d[0])
            for s, d in enumerate(DEPTHS)
        ]
        choices = ["-".join(map(str, h)) for h in head_sequences()]
        heads = [int(v) for v in trial.suggest_categorical("num_heads", choices).split("-")]
        return ArchSpec(self.name, self._text(base, depth, ratio, heads))

    def sample(self, rng: random.Random | int | None = None) -> ArchSpec:
        r = self._rng(rng)
        base = r.choice(BASE_DIMS)
        ratio = r.choice(MLP_RATIOS)
        depth = [r.choice(d) for d in DEPTHS]
        heads = list(r.choice(head_sequences()))
        return ArchSpec(self.name, self._text(base, depth, ratio, heads))

    def arch(self, spec: ArchSpec | str) -> dict[str, Any]:
        """The validated architecture of a spec (or text) as a dict."""
        text = spec if isinstance(spec, str) else self._spec(spec).arch
        value = load_json_arch(self.name, text)
        check_keys(self.name, value, KEYS)
        depth = check_list(self.name, "depth", value["depth"], 3)
        heads = check_list(self.name, "num_heads", value["num_heads"], 3)
        arch = {
            "base_dim": check_member(self.name, "base_dim", value["base_dim"], BASE_DIMS),
            "depth": [
                check_member(self.name, f"depth[{s}]", v, DEPTHS[s]) for s, v in enumerate(depth)
            ],
            "mlp_ratio": check_member(self.name, "mlp_ratio", value["mlp_ratio"], MLP_RATIOS),
            "num_heads": [
                check_member(self.name, f"num_heads[{s}]", v, HEADS) for s, v in enumerate(heads)
            ],
        }
        h = arch["num_heads"]
        if not h[0] <= h[1] <= h[2]:
            raise ValueError(
                f"{self.name}: num_heads {h} must not decrease from stage to stage (the pooling "
                "conv is grouped by the input channels)"
            )
        return arch

    def parse(self, text: str) -> ArchSpec:
        a = self.arch(text)
        return ArchSpec(
            self.name, self._text(a["base_dim"], a["depth"], a["mlp_ratio"], a["num_heads"])
        )

    def trial_params(self, spec: ArchSpec | str) -> dict[str, Any]:
        a = self.arch(spec)
        params: dict[str, Any] = {"base_dim": a["base_dim"], "mlp_ratio": a["mlp_ratio"]}
        params.update({f"depth_{s}": d for s, d in enumerate(a["depth"])})
        params["num_heads"] = "-".join(map(str, a["num_heads"]))
        return params

    def build(self, spec: ArchSpec | str, num_classes: int = 100) -> nn.Module:
        return PiTNetwork(self.arch(spec), num_classes, self.image_size)

    def enumerate(self) -> Iterator[ArchSpec]:
        for base, ratio, depth, heads in itertools.product(
            BASE_DIMS, MLP_RATIOS, itertools.product(*DEPTHS), head_sequences()
        ):
            yield ArchSpec(self.name, self._text(base, list(depth), ratio, list(heads)))

    def size(self) -> int:
        depths = 1
        for d in DEPTHS:
            depths *= len(d)
        return len(BASE_DIMS) * len(MLP_RATIOS) * depths * len(head_sequences())
