from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ntknas.config import Config, ConfigError, load_config, validate_config

ROOT = Path(__file__).resolve().parents[1]


def test_quickstart_file_equals_builtin_defaults():
    assert load_config(ROOT / "configs" / "quickstart.yaml") == Config()


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_validate(path):
    validate_config(load_config(path), str(path))


def test_overrides():
    c = load_config(
        None,
        [
            "scorer.batch_size=16",
            "study.objectives=[log_cond, params]",
            "space.options={cells: 2}",
            "train.lr=0.05",
        ],
    )
    assert c.scorer.batch_size == 16 and c.study.objectives == ["log_cond", "params"]
    assert c.space.options == {"cells": 2} and c.train.lr == 0.05


@pytest.mark.parametrize(
    "content, message",
    [
        (
            {"scorer": {"batch_sise": 8}},
            r"bad.yaml: unknown key 'scorer.batch_sise'; allowed: data",
        ),
        (
            {"scorer": {"batch_size": "big"}},
            r"bad.yaml: key 'scorer.batch_size' must be int, got str",
        ),
        (
            {"study": {"budget": {"max_params": 1.5}}},
            r"key 'study.budget.max_params' must be int or null",
        ),
        (
            {"scorer": {"channels_last": "yes"}},
            r"key 'scorer.channels_last' must be bool or null, got str",
        ),
        ({"colour": 1}, r"unknown key 'colour'"),
        ({"study": [1, 2]}, r"study must be a mapping"),
    ],
)
def test_bad_config_names_key_and_file(tmp_path, content, message):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(content))
    with pytest.raises(ConfigError, match=message):
        load_config(path)


@pytest.mark.usefixtures("legacy_scores")
@pytest.mark.parametrize(
    "override, message",
    [
        (
            "scorer.kernel=diag",
            "'scorer.kernel' has unknown value 'diag'; allowed: sum, trace, full",
        ),
        ("study.sampler=cma", "'study.sampler' has unknown value 'cma'"),
        ("study.objectives=[nope]", r"'study.objectives\[0\]' has unknown value 'nope'"),
        ("space.name=nope", "unknown search space 'nope'"),
        ("space.options={cells: 0}", "'cells' must be a positive integer"),
        ("scorer.data=mnist", "unknown data source 'mnist'"),
        ("study.n_trials=-2", "'study.n_trials' must be >= 0 .0: create the study"),
        # kernel regression (ntk-agg-v2 needs it) needs held-out images and a scalar kernel
        (["study.objectives=[ntk-agg-v2]", "scorer.heldout=0"], "'scorer.heldout' must be > 0"),
        ("scorer.heldout=-3", "'scorer.heldout' must be >= 0"),
        (
            ["study.objectives=[ntk-agg-v2]", "scorer.kernel=full"],
            "'scorer.kernel' must be sum or trace",
        ),
        ("study.objectives=[params]", "must be a training-free score"),
        ("scorer.proxies=false", "'scorer.proxies' must be true .*the objectives need the probe"),
        ("train.resolution=0", "'train.resolution' must be >= 1"),
        ("train.subset=0", "'train.subset' must be >= 1"),
        ("train.space_options={width: 2}", "'train.space_options' .*unknown option 'width'"),
        ("train.space_options={cells: 0}", "'train.space_options' .*'cells' must be a positive"),
    ],
)
def test_semantic_validation(override, message):
    overrides = override if isinstance(override, list) else [override]
    with pytest.raises(ConfigError, match=message):
        validate_config(load_config(None, overrides))


def test_invalid_yaml_reports_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("study:\n  name: [unclosed\n")
    with pytest.raises(ConfigError, match="broken.yaml: invalid YAML at line"):
        load_config(path)


def test_protocol_fills_train_keys_and_explicit_keys_win():
    from ntknas.config import protocol_differences
    from ntknas.protocols import get_protocol

    protocol = get_protocol("reduced-30k")
    config = load_config(None, ["space.name=nbmacro", "train.protocol=reduced-30k"])
    assert config.train.epochs == protocol.train["epochs"] == 3
    assert config.train.resolution == 16 and config.train.subset == 10000
    assert config.train.space_options == {"init_channels": 8, "head_channels": 320}
    assert protocol_differences(config) == []
    changed = load_config(None, ["train.protocol=reduced-30k", "train.epochs=1"])
    assert changed.train.epochs == 1
    assert changed.train.space_options == {"channels": 8, "cells": 1}  # nb201's copy
    assert protocol_differences(changed) == ["train.epochs: 1 (protocol: 3)"]
    validate_config(config)


def test_unknown_protocol_names_the_allowed_ones():
    with pytest.raises(
        ConfigError,
        match="'train.protocol' unknown training protocol 'fast'; "
        "allowed: reduced-10k, reduced-30k",
    ):
        load_config(None, ["train.protocol=fast"])
