from __future__ import annotations

import json

import pytest
import torch

from search_spaces import count_parameters, create_search_space

PIT_TI = '{"base_dim":32,"depth":[2,6,4],"mlp_ratio":4,"num_heads":[2,4,8]}'
AUTOFORMER = json.dumps(
    {"depth": 12, "hidden_dim": 192, "mlp_ratio": [4.0] * 12, "num_heads": [3] * 12},
    separators=(",", ":"),
    sort_keys=True,
)


def test_pit_ti_has_the_published_parameter_count():
    # PiT-Ti (Heo et al. 2021): 4.85M parameters with ImageNet's 1000 classes (timm pit_ti_224)
    model = create_search_space("pit").build(PIT_TI, num_classes=1000)
    assert round(count_parameters(model) / 1e6, 2) == 4.85


def test_autoformer_uniform_subnet_is_deit_tiny_sized():
    # a 12-layer, 192-wide, 3-head, ratio-4 subnet is DeiT-Tiny's shape: 5.72M parameters
    model = create_search_space("autoformer").build(AUTOFORMER, num_classes=1000)
    assert round(count_parameters(model) / 1e6, 2) == 5.72


@pytest.mark.parametrize("name", ["autoformer", "pit"])
def test_text_form_is_the_ground_truth_json(name):
    space = create_search_space(name)
    spec = space.sample(0)
    value = json.loads(spec.arch)
    assert spec.arch == json.dumps(value, sort_keys=True, separators=(",", ":"))
    assert space.parse(json.dumps(value, indent=2)) == spec


def test_autoformer_bad_arch_names_the_key():
    space = create_search_space("autoformer")
    value = json.loads(AUTOFORMER)
    with pytest.raises(ValueError, match="mlp_ratio must be a list of 12 entries"):
        space.parse(json.dumps({**value, "mlp_ratio": [4.0] * 11}))
    with pytest.raises(ValueError, match=r"num_heads\[2\]=5; allowed: 3, 4"):
        space.parse(json.dumps({**value, "num_heads": [3, 3, 5] + [3] * 9}))
    with pytest.raises(ValueError, match="hidden_dim=200; allowed: 192, 216, 240"):
        space.parse(json.dumps({**value, "hidden_dim": 200}))
    with pytest.raises(ValueError, match="is not JSON"):
        space.parse("{depth: 12}")


def test_pit_refuses_decreasing_heads_and_unknown_keys():
    space = create_search_space("pit")
    with pytest.raises(ValueError, match="must not decrease"):
        space.parse('{"base_dim":32,"depth":[2,6,4],"mlp_ratio":4,"num_heads":[8,4,8]}')
    with pytest.raises(ValueError, match="unknown key 'width'"):
        space.parse('{"base_dim":32,"depth":[2,6,4],"mlp_ratio":4,"num_heads":[2,4,8],"width":1}')


def test_pit_token_grid_follows_the_benchmark():
    model = create_search_space("pit").build(PIT_TI)
    x = model.patch_embed(torch.zeros(1, 3, 224, 224))
    assert x.shape[-2:] == (27, 27) and model.pos_embed.shape[-2:] == (27, 27)
    assert model.pools[0].conv(x).shape[-2:] == (14, 14)


def test_autoformer_distillation_adds_a_token_and_a_zero_head():
    plain = create_search_space("autoformer", image_size=32).build(AUTOFORMER)
    distilled = create_search_space("autoformer", image_size=32, distillation=True).build(
        AUTOFORMER
    )
    extra = count_parameters(distilled) - count_parameters(plain)
    assert extra == 192 * 100 + 100 + 192 + 192  # distillation head, its token (+ position)
    assert torch.count_nonzero(distilled.distill_head.weight) == 0
    assert distilled(torch.randn(2, 3, 32, 32)).shape == (2, 100)


@pytest.mark.parametrize(("name", "option"), [("autoformer", 100), ("pit", 8)])
def test_bad_image_size(name, option):
    with pytest.raises(ValueError, match="option 'image_size'"):
        create_search_space(name, image_size=option)


def test_pit_enumeration():
    space = create_search_space("pit")
    specs = list(space.enumerate())
    assert len(specs) == len(set(specs)) == space.size() == 4 * 4 * 27 * 10
    assert all(space.parse(s.arch) == s for s in specs[:50])


def test_scorer_feeds_a_224_space_images_of_its_size():
    from ntknas.scorer import NTKScorer

    space = create_search_space("pit", image_size=48)
    scorer = NTKScorer(batch_size=3, proxies=True)
    result = scorer.score(space, space.sample(0))
    assert scorer.probe[0].shape == (3, 3, 48, 48) and scorer.image_size == 48
    assert result.flops == create_search_space("pit", image_size=48).cost(space.sample(0)).flops


@pytest.mark.parametrize(
    "name, arch, options",
    [
        ("vit", "patch=8;depth=1;dim=32;heads=2;mlp=2.0;pool=mean", {}),
        ("autoformer", AUTOFORMER, {"image_size": 32}),
        ("pit", PIT_TI, {"image_size": 32}),
    ],
)
def test_an_input_of_another_size_is_refused_not_broadcast(name, arch, options):
    """A smaller image gives fewer tokens; adding the position embedding must fail, not
    broadcast one token against the whole grid."""
    model = create_search_space(name, **options).build(arch)
    model(torch.zeros(1, 3, 32, 32))  # the size it was built for
    with pytest.raises(ValueError, match=f"{name}: the input gives a .* the network takes 32×32"):
        model(torch.zeros(1, 3, 16, 16))
    with pytest.raises((ValueError, RuntimeError)):  # below one patch: the convolution fails
        model(torch.zeros(1, 3, 8, 8))
