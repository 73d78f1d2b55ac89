from __future__ import annotations

import optuna
import pytest
import torch

from search_spaces import count_parameters, create_search_space
from search_spaces.nb101 import parse_cell, prune, vertex_channels

# Parameter counts of NAS-Bench-101 cells as NASLib's zero-cost benchmark recorded them.
PUBLISHED_PARAMS = {
    "0100000001100100000010000111000000000000010000000:input,conv1x1-bn-relu,maxpool3x3,"
    "maxpool3x3,maxpool3x3,maxpool3x3,output": 293_130,
    "0011000000110100001010000010000000000000010000000:input,maxpool3x3,conv1x1-bn-relu,"
    "conv1x1-bn-relu,maxpool3x3,maxpool3x3,output": 1_404_042,
    "0001001001110000000110000001000001100000010000000:input,maxpool3x3,maxpool3x3,"
    "conv1x1-bn-relu,maxpool3x3,conv3x3-bn-relu,output": 2_793_866,
    "0010010000100100010100000011000001100000010000000:input,maxpool3x3,conv3x3-bn-relu,"
    "conv3x3-bn-relu,maxpool3x3,conv1x1-bn-relu,output": 5_793_546,
    "0011000000010100010100000110000001000000010000000:input,conv1x1-bn-relu,conv1x1-bn-relu,"
    "conv3x3-bn-relu,conv3x3-bn-relu,conv3x3-bn-relu,output": 30_679_178,
}

CHAIN = (
    "0100000"
    "0010000"
    "0001000"
    "0000100"
    "0000010"
    "0000001"
    "0000000"
    ":input,conv3x3-bn-relu,conv3x3-bn-relu,conv3x3-bn-relu,conv3x3-bn-relu,"
    "conv3x3-bn-relu,output"
)


@pytest.fixture(scope="module")
def space():
    return create_search_space("nb101")


@pytest.mark.parametrize(("arch", "params"), PUBLISHED_PARAMS.items())
def test_parameter_counts_match_the_benchmark(space, arch, params):
    assert space.parse(arch).arch == arch
    assert count_parameters(space.build(arch)) == params


def test_vertex_channels_split_the_output_and_propagate_backwards():
    # 0 -> 1 -> 3(out), 0 -> 2 -> 3, 1 -> 2: out has fan-in 2 (vertices 1 and 2)
    m = ((0, 1, 1, 0), (0, 0, 1, 1), (0, 0, 0, 1), (0, 0, 0, 0))
    assert vertex_channels(128, 257, m) == [128, 129, 128, 257]
    # a vertex that does not feed the output takes the largest count it feeds
    m = ((0, 1, 0, 0), (0, 0, 1, 0), (0, 0, 0, 1), (0, 0, 0, 0))
    assert vertex_channels(64, 128, m) == [64, 128, 128, 128]


def test_pruning_drops_dead_vertices_and_counts_edges_after_pruning(space):
    # vertex 5 has no outgoing edge: pruned, with its incoming edges (11 edges before, 9 after)
    arch = (
        "0111110"
        "0010000"
        "0001001"
        "0000100"
        "0000011"
        "0000000"
        "0000000"
        ":input,conv3x3-bn-relu,conv1x1-bn-relu,maxpool3x3,conv3x3-bn-relu,maxpool3x3,output"
    )
    matrix, ops = parse_cell(arch)
    pruned_matrix, pruned_ops = prune(matrix, ops)
    assert len(pruned_ops) == 6 and "maxpool3x3" in pruned_ops
    assert sum(map(sum, matrix)) == 11 and sum(map(sum, pruned_matrix)) == 9
    assert space.build(arch)(torch.zeros(1, 3, 32, 32)).shape == (1, 10)


@pytest.mark.parametrize(
    ("arch", "message"),
    [
        ("0" * 49, "must read"),
        ("1" + "0" * 48 + ":input,a,b,c,d,e,output", "points backwards"),
        (CHAIN.replace("conv3x3-bn-relu,output", "conv5x5,output"), "vertex 5: unknown op"),
        (
            "0" * 49 + ":input,conv3x3-bn-relu,conv3x3-bn-relu,conv3x3-bn-relu,conv3x3-bn-relu,"
            "conv3x3-bn-relu,output",
            "no path",
        ),
        (CHAIN[:48] + ":" + CHAIN.split(":")[1], "48 digits"),
    ],
)
def test_bad_arch_names_the_problem(space, arch, message):
    with pytest.raises(ValueError, match=message):
        space.parse(arch)


def test_input_to_output_only_cell_is_a_projection(space):
    arch = "0100:input,output"
    net = space.build(arch)
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_suggest_always_yields_a_valid_cell_and_inverts_trial_params(space):
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(50):
        trial = study.ask()
        spec = space.suggest(trial)
        matrix, ops = space.cell(spec)
        assert sum(map(sum, matrix)) <= 9
        study.tell(trial, 0.0)
    for seed in range(5):
        spec = space.sample(seed)
        assert space.suggest(optuna.trial.FixedTrial(space.trial_params(spec))) == spec


def test_size_is_the_published_count(space):
    assert space.size() == 423_624
    with pytest.raises(TypeError, match="cannot be enumerated"):
        next(space.enumerate())
