from __future__ import annotations

import itertools

import pytest
import torch

from search_spaces import count_parameters, create_search_space
from search_spaces.nbmacro import InvertedResidual, StridedIdentity

# Parameter counts published in the benchmark's table (nas-bench-macro_cifar10.json).
PUBLISHED_PARAMS = {
    "00000000": 387_882,
    "00000001": 791_594,
    "22012201": 1_481_066,
    "00001221": 2_011_050,
    "22222222": 2_932_586,
}


@pytest.fixture(scope="module")
def space():
    return create_search_space("nbmacro")


@pytest.mark.parametrize(("key", "params"), PUBLISHED_PARAMS.items())
def test_parameter_counts_match_the_benchmark(space, key, params):
    assert count_parameters(space.build(key)) == params


def test_keys_round_trip_and_bad_keys_name_the_position(space):
    assert space.parse(" 01202100 ").arch == "01202100"
    with pytest.raises(ValueError, match="7 digits, expected 8"):
        space.parse("0120210")
    with pytest.raises(ValueError, match="position 3: '3' is not a layer choice"):
        space.parse("01232100")


def test_enumeration_and_aliases(space):
    keys = list(space.enumerate())
    assert len(keys) == space.size() == 6561 == len(set(keys))
    distinct = space.distinct()
    assert len(distinct) == 3969
    # the canonical form is idempotent and a member of its own alias group
    assert all(space.canonical(c) == c for c in distinct)
    # an identity after the first layer of a stage moves to the stage's end
    assert space.canonical("10201001").arch == "10210010"
    assert space.canonical("00000001").arch == "00000010"
    # a stage's first layer is never moved: it is a strided conv even as an identity
    assert space.canonical("01000000").arch == "01000000"


def test_aliases_compute_the_same_function(space):
    a, b = "00001021", "00010021"  # stage 2: identity, then (identity, IR) vs (IR, identity)
    assert space.canonical(a) == space.canonical(b)
    torch.manual_seed(0)
    net_a = space.build(a).eval()
    net_b = space.build(b).eval()
    # same parameters in the same order (identities have none)
    net_b.load_state_dict(dict(zip(net_b.state_dict(), net_a.state_dict().values())), strict=True)
    x = torch.randn(3, 3, 32, 32)
    torch.testing.assert_close(net_a(x), net_b(x))


def test_structure(space):
    net = space.build("02000000")
    layers = list(net.features)
    assert isinstance(layers[0], StridedIdentity)  # first layer of stage 1, identity
    assert isinstance(layers[1], InvertedResidual) and layers[1].residual  # k5 t6 at 64 ch
    assert net.features[1].conv[3].kernel_size == (5, 5)
    assert net.features[1].conv[3].groups == 64 * 6
    out = net.stem(torch.zeros(1, 3, 32, 32))
    for layer in layers:
        out = layer(out)
    assert out.shape == (1, 256, 4, 4)
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_suggest_inverts_trial_params(space):
    import optuna

    for key in ("00000000", "21021012", "22222222"):
        assert space.suggest(optuna.trial.FixedTrial(space.trial_params(key))).arch == key
    assert len(list(itertools.islice(space.enumerate(), 3))) == 3
