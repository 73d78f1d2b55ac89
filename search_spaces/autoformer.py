"""AutoFormer-Tiny: the vision-transformer space of Chen et al. (ICCV 2021) as the Auto-Prox
ground truth (Wei et al., AAAI 2024) trained its subnets stand-alone.

A subnet: 16×16 patch embedding (a strided conv) of a 224×224 image → a class token and a
learned position embedding → ``depth`` transformer layers of width ``hidden_dim``, each with
its own MLP ratio and head count → LayerNorm → the mean of the patch tokens → Linear. Choices:
depth 12/13/14, width 192/216/240, per layer MLP ratio 3.5/4.0 and heads 3/4. Linear weights
start from a truncated normal (std 0.02) with zero biases, as the benchmark's code does.

With ``distillation=True`` the network has the second (distillation) token and head the
benchmark trained for its ``*_kd_acc`` columns; its output is the mean of the two heads' logits
(what it predicts at test time; the distillation head starts at zero).

Arch strings are the ground truth's JSON, keys sorted, no spaces:
``{"depth":12,"hidden_dim":192,"mlp_ratio":[3.5,...],"num_heads":[3,...]}``.
"""

from __future__ import annotations

import random
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

DEPTHS: tuple[int, ...] = (12, 13, 14)
WIDTHS: tuple[int, ...] = (192, 216, 240)
MLP_RATIOS: tuple[float, ...] = (3.5, 4.0)
HEADS: tuple[int, ...] = (3, 4)
KEYS = ("depth", "hidden_dim", "mlp_ratio", "num_heads")
PATCH = 16


class AutoFormerSubnet(nn.Module):
    def __init__(
        self,
        arch: dict[str, Any],
        num_classes: int,
        image_size: int = 224,
        distillation: bool = False,
    ) -> None:
        super().__init__()
        dim = arch["hidden_dim"]
        self.patch_embed = nn.Conv2d(3, dim, PATCH, stride=PATCH)
        patches = (image_size // PATCH) ** 2
        self.image, self.grid = image_size, (image_size // PATCH, image_size // PATCH)
        self.tokens = 2 if distillation else 1
        self.cls_token = nn.Parameter(torch.zeros(1, self.tokens, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, patches + self.tokens, dim))
        self.blocks = nn.Sequential(
            *(
                TransformerLayer(dim, heads, ratio)
                for heads, ratio in zip(arch["num_heads"], arch["mlp_ratio"])
            )
        )
        self.norm = layer_norm(dim)
        self.head = nn.Linear(dim, num_classes)
        self.distill_head = nn.Linear(dim, num_classes) if distillation else None
        for module in self.modules():
            if isinstance(module, nn.Linear):
                truncated_normal_(module.weight)
                nn.init.zeros_(module.bias)
        if self.distill_head is not None:
            nn.init.zeros_(self.distill_head.weight)
        truncated_normal_(self.pos_embed)
        truncated_normal_(self.cls_token)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        patches = self.patch_embed(x)
        check_input_size("autoformer", tuple(patches.shape[-2:]), self.grid, self.image)
        t = patches.flatten(2).transpose(1, 2)
        t = torch.cat([self.cls_token.expand(t.shape[0], -1, -1), t], dim=1) + self.pos_embed
        # the benchmark averages every token but the class token (the distillation token too)
        features = self.norm(self.blocks(t))[:, 1:].mean(dim=1)
        logits = self.head(features)
        if self.distill_head is None:
            return logits
        return (logits + self.distill_head(features)) / 2


@register_search_space("autoformer")
class AutoFormerSpace(SearchSpace):
    """AutoFormer-Tiny subnets (3 depths × 3 widths × (2 × 2)^depth layer choices).

    Options: ``image_size`` (224, as the benchmark trained; a multiple of 16, smaller for quick
    tests) and ``distillation`` (False).

    Example:
        >>> space = AutoFormerSpace(image_size=32)
        >>> spec = space.sample(0)
        >>> space.build(spec, num_classes=100)(torch.zeros(1, 3, 32, 32)).shape
        torch.Size([1, 100])
    """

    name = "autoformer"

    def __init__(self, *, image_size: int = 224, distillation: bool = False, **options: Any):
        check_unknown_options(self.name, options, ["image_size", "distillation"])
        self.image_size = check_positive_int("image_size", image_size)
        if image_size % PATCH:
            raise ValueError(f"option 'image_size' must be a multiple of {PATCH}, got {image_size}")
        if not isinstance(distillation, bool):
            raise ValueError(f"option 'distillation' must be true or false, got {distillation!r}")
        self.distillation = distillation
        self.input_shape = (3, image_size, image_size)

    def options(self) -> dict[str, Any]:
        return {"image_size": self.image_size, "distillation": self.distillation}

    @staticmethod
    def _text(depth: int, width: int, ratios: list[float], heads: list[int]) -> str:
        return canonical_json(
            {
                "depth": depth,
                "hidden_dim": width,
                "mlp_ratio": [float(r) for r in ratios],
                "num_heads": [int(h) for h in heads],
            }
        )

    def suggest(self, trial: Any) -> ArchSpec:
        depth = trial.suggest_int("depth", DEPTHS[0], DEPTHS[-1])
        width = trial.suggest_int("hidden_dim", WIDTHS[0], WIDTHS[-1], step=WIDTHS[1] - WIDTHS[0])
        ratios = [
            trial.suggest_float(f"mlp_ratio_{i}", MLP_RATIOS[0], MLP_RATIOS[-1], step=0.5)
            for i in range(depth)
        ]
        heads = [trial.suggest_int(f"num_heads_{i}", HEADS[0], HEADS[-1]) for i in range(depth)]
        return ArchSpec(self.name, self._text(depth, width, ratios, heads))

    def sample(self, rng: random.Random | int | None = None) -> ArchSpec:
        r = self._rng(rng)
        depth = r.choice(DEPTHS)
        width = r.choice(WIDTHS)
        ratios = [r.choice(MLP_RATIOS) for _ in range(depth)]
        heads = [r.choice(HEADS) for _ in range(depth)]
        return ArchSpec(self.name, self._text(depth, width, ratios, heads))

    def arch(self, spec: ArchSpec | str) -> dict[str, Any]:
        """The validated architecture of a spec (or text) as a dict."""
        text = spec if isinstance(spec, str) else self._spec(spec).arch
        value = load_json_arch(self.name, text)
        check_keys(self.name, value, KEYS)
        depth = check_member(self.name, "depth", value["depth"], DEPTHS)
        width = check_member(self.name, "hidden_dim", value["hidden_dim"], WIDTHS)
        ratios = check_list(self.name, "mlp_ratio", value["mlp_ratio"], depth)
        heads = check_list(self.name, "num_heads", value["num_heads"], depth)
        return {
            "depth": depth,
            "hidden_dim": width,
            "mlp_ratio": [
                check_member(self.name, f"mlp_ratio[{i}]", v, MLP_RATIOS)
                for i, v in enumerate(ratios)
            ],
            "num_heads": [
                check_member(self.name, f"num_heads[{i}]", v, HEADS) for i, v in enumerate(heads)
            ],
        }

    def parse(self, text: str) -> ArchSpec:
        a = self.arch(text)
        return ArchSpec(
            self.name, self._text(a["depth"], a["hidden_dim"], a["mlp_ratio"], a["num_heads"])
        )

    def trial_params(self, spec: ArchSpec | str) -> dict[str, Any]:
        a = self.arch(spec)
        params: dict[str, Any] = {"depth": a["depth"], "hidden_dim": a["hidden_dim"]}
        params.update({f"mlp_ratio_{i}": v for i, v in enumerate(a["mlp_ratio"])})
        params.update({f"num_heads_{i}": v for i, v in enumerate(a["num_heads"])})
        return params

    def build(self, spec: ArchSpec | str, num_classes: int = 100) -> nn.Module:
        return AutoFormerSubnet(self.arch(spec), num_classes, self.image_size, self.distillation)

    def size(self) -> int:
        return sum(len(WIDTHS) * (len(MLP_RATIOS) * len(HEADS)) ** d for d in DEPTHS)
