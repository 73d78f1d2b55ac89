"""YAML configuration → typed, validated config.

A config file has the sections ``study``, ``space``, ``scorer``, ``train`` and the key
``output_dir``; every key is optional and defaults to the quickstart job (``configs/quickstart.yaml``
holds exactly these defaults). Unknown keys and wrong types raise :class:`ConfigError` naming the
key and the file. Command-line overrides read ``section.key=value`` (value in YAML syntax).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ntknas.combined_scores import DEFAULT_SCORE


class ConfigError(ValueError):
    """A configuration problem; the message names the key and the file."""


#: Optuna samplers a config can name (``ntknas.study.create_sampler`` builds them).
SAMPLERS: tuple[str, ...] = ("tpe", "random", "qmc", "nsga2", "bruteforce")


@dataclass
class BudgetConfig:
    max_params: int | None = None
    max_flops: int | None = None


@dataclass
class StudyConfig:
    name: str = "quickstart"
    n_trials: int = 60
    sampler: str = "tpe"
    seed: int = 0
    storage: str | None = None
    objectives: list[str] = field(default_factory=lambda: [DEFAULT_SCORE])
    batch: int = 8
    top_k: int = 10
    workers: int = 1  # processes on this machine sharing the study (ntknas.study._workers)
    heartbeat_interval: int = 10
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    enqueue: list[str] = field(default_factory=list)


@dataclass
class SpaceConfig:
    name: str = "nb201"
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class ScorerConfig:
    data: str = "synthetic"
    data_dir: str | None = None
    batch_size: int = 64  # the probe batch of every benchmark and of NTKScorer()
    kernel: str = "sum"
    bn: str = "frozen"
    params: str = "all"
    implementation: str = "auto"
    repeats: int = 1
    seed: int = 0
    device: str = "cpu"
    heldout: int | None = None  # None: batch_size when an objective needs kernel regression
    proxies: bool | None = None  # None: on when an objective needs a proxy
    channels_last: bool | None = (
        None  # probe passes in NHWC (None: on CPU, where it measured faster)
    )


@dataclass
class TrainConfig:
    top_k: int = 0
    data: str = "synthetic"
    data_dir: str | None = None
    epochs: int = 2
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    subset: int | None = None
    test_subset: int | None = None
    seed: int = 0
    device: str = "cpu"
    amp: bool = True
    pruner: str = "none"
    resolution: int | None = None  # None: the data's own
    augmentation: bool = True
    channels_last: bool = True  # NHWC weights and images (1.1-2.2x faster on CPU, measured)
    space_options: dict[str, Any] = field(default_factory=dict)  # the trained copy's options
    protocol: str | None = None  # a named protocol (ntknas.protocols); explicit keys override it

    def options(self) -> dict[str, Any]:
        """Keyword arguments of :func:`ntknas.train.train_short`, plus ``space_options`` (the
        trained copy's, for :func:`ntknas.study.make_train_objective`)."""
        keys = (
            "epochs",
            "batch_size",
            "lr",
            "momentum",
            "weight_decay",
            "subset",
            "test_subset",
            "seed",
            "device",
            "amp",
            "resolution",
            "augmentation",
            "channels_last",
            "space_options",
        )
        return {k: getattr(self, k) for k in keys}


@dataclass
class Config:
    study: StudyConfig = field(default_factory=StudyConfig)
    space: SpaceConfig = field(default_factory=SpaceConfig)
    scorer: ScorerConfig = field(default_factory=ScorerConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    output_dir: str = "results"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if tp is type(None):
        return "null"
    if typing.get_origin(tp) is not None:
        return typing.get_origin(tp).__name__
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, where: str, source: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        errors = []
        for option in typing.get_args(tp):
            try:
                return _coerce(value, option, where, source)
            except ConfigError as error:
                errors.append(error)
        raise ConfigError(
            f"{source}: key {where!r} must be {_type_name(tp)}, got {type(value).__name__} {value!r}"
        )
    if tp is type(None):
        if value is None:
            return None
    elif dataclasses.is_dataclass(tp):
        return _build(tp, value, where, source)
    elif origin is list:
        (item,) = typing.get_args(tp)
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list):
            return [_coerce(v, item, f"{where}[{i}]", source) for i, v in enumerate(value)]
    elif origin is dict:
        if isinstance(value, dict):
            return dict(value)
        if value is None:
            return {}
    elif tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    raise ConfigError(
        f"{source}: key {where!r} must be {_type_name(tp)}, got {type(value).__name__} {value!r}"
    )


def _build(cls: type, data: Any, where: str, source: str) -> Any:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: {where or 'the top level'} must be a mapping")
    hints = typing.get_type_hints(cls)
    known = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in known:
            raise ConfigError(f"{source}: unknown key {path!r}; allowed: {', '.join(known)}")
        kwargs[key] = _coerce(value, hints[key], path, source)
    return cls(**kwargs)


def _set_path(raw: dict[str, Any], dotted: str, value: Any, source: str) -> None:
    keys = dotted.split(".")
    node = raw
    for k in keys[:-1]:
        child = node.setdefault(k, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{source}: cannot set {dotted!r}: {k!r} is not a section")
        node = child
    node[keys[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    """``"scorer.batch_size=16"`` → ``("scorer.batch_size", 16)`` (the value read as YAML)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must read section.key=value")
    key, value = text.split("=", 1)
    if not key.strip():
        raise ConfigError(f"override {text!r} has no key")
    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError:
        parsed = value
    return key.strip(), parsed


def load_config(
    path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()
) -> Config:
    """Read and validate a config (the quickstart defaults when ``path`` is None).

    Example:
        >>> load_config(None, ["scorer.batch_size=8"]).scorer.batch_size
        8
    """
    source = str(path) if path is not None else "<built-in quickstart config>"
    raw: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file {p} does not exist")
        try:
            loaded = yaml.safe_load(p.read_text())
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise ConfigError(f"{p}: invalid YAML{where}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{p}: the top level must be a mapping")
        raw = loaded or {}
    for text in overrides:
        key, value = parse_override(text)
        _set_path(raw, key, value, f"{source} (override {text!r})")
    _apply_protocol(raw, source)
    return _build(Config, raw, "", source)


def _apply_protocol(raw: dict[str, Any], source: str) -> None:
    """Fill the ``train:`` keys a named protocol sets and the config does not (explicit keys
    win; :func:`protocol_differences` says which differ)."""
    train = raw.get("train")
    if not isinstance(train, dict) or train.get("protocol") is None:
        return
    from ntknas.protocols import get_protocol

    try:
        protocol = get_protocol(str(train["protocol"]))
    except KeyError as error:
        raise ConfigError(f"{source}: key 'train.protocol' {error.args[0]}") from None
    space = raw.get("space") if isinstance(raw.get("space"), dict) else {}
    settings = protocol.settings(str(space.get("name", SpaceConfig.name)))
    raw["train"] = {**settings, **train}


def with_protocol(config: Config, name: str) -> Config:
    """A copy of ``config`` whose ``train:`` keys still at their defaults take protocol
    ``name``'s values (for ``config.space``), with ``train.protocol`` set to it.

    Example:
        >>> with_protocol(load_config(None), "reduced-30k").train.epochs
        3
    """
    from ntknas.protocols import get_protocol

    settings = get_protocol(name).settings(config.space.name)
    defaults = TrainConfig()
    train = dataclasses.replace(
        config.train,
        protocol=name,
        **{
            key: value
            for key, value in settings.items()
            if getattr(config.train, key) == getattr(defaults, key)
        },
    )
    return dataclasses.replace(config, train=train)


def uses_default_training(config: Config) -> bool:
    """True when no ``train:`` key a protocol sets differs from its default (and no protocol is
    named): ``ntknas validate`` then trains with :data:`ntknas.protocols.DEFAULT_PROTOCOL`."""
    from ntknas.protocols import PROTOCOLS

    keys = {key for p in PROTOCOLS.values() for key in p.settings(config.space.name)}
    defaults = TrainConfig()
    return config.train.protocol is None and all(
        getattr(config.train, key) == getattr(defaults, key) for key in keys
    )


def protocol_differences(config: Config) -> list[str]:
    """The ``train:`` keys whose values differ from ``train.protocol``'s (empty when none is
    named or all agree), e.g. ``["train.epochs: 1 (protocol: 3)"]``."""
    if config.train.protocol is None:
        return []
    from ntknas.protocols import get_protocol

    expected = get_protocol(config.train.protocol).settings(config.space.name)
    return [
        f"train.{key}: {getattr(config.train, key)!r} (protocol: {value!r})"
        for key, value in expected.items()
        if getattr(config.train, key) != value
    ]


def scorer_needs(config: Config) -> tuple[bool, bool]:
    """(kernel regression, proxies): whether the objectives need held-out images and whether
    they read a proxy signal (``NTKScorer(proxies=True)``)."""
    from ntknas.combined_scores import metrics_needed
    from ntknas.objectives import HELDOUT, get_objective, requirements

    names = metrics_needed(config.study.objectives)
    proxies = any(get_objective(n).kind == "proxy" for n in names)
    return HELDOUT in requirements(config.study.objectives), proxies


def validate_config(config: Config, source: str = "<config>") -> None:
    """Check values beyond types (names, ranges), naming the key."""
    from ntknas.data import DataError, check_source
    from ntknas.ntk import BN_MODES, IMPLEMENTATIONS, KERNELS, PARAM_SETS
    from ntknas.objectives import objective_names

    def bad(key: str, message: str) -> ConfigError:
        return ConfigError(f"{source}: key {key!r} {message}")

    choices = {
        "scorer.kernel": (config.scorer.kernel, KERNELS),
        "scorer.bn": (config.scorer.bn, BN_MODES),
        "scorer.params": (config.scorer.params, PARAM_SETS),
        "scorer.implementation": (config.scorer.implementation, IMPLEMENTATIONS),
    }
    for key, (value, allowed) in choices.items():
        if value not in allowed:
            raise bad(key, f"has unknown value {value!r}; allowed: {', '.join(allowed)}")

    if config.study.sampler not in SAMPLERS:
        raise bad(
            "study.sampler",
            f"has unknown value {config.study.sampler!r}; allowed: {', '.join(SAMPLERS)}",
        )
    allowed_objectives = objective_names()
    if not config.study.objectives:
        raise bad("study.objectives", "must name at least one metric")
    for i, name in enumerate(config.study.objectives):
        if name not in allowed_objectives:
            from ntknas.legacy_scores import LEGACY_RULES

            if name in {rule.name for rule in LEGACY_RULES}:
                raise bad(
                    f"study.objectives[{i}]",
                    f"names the earlier rule {name!r}: run `ntknas --legacy-scores ...` to use it",
                )
            raise bad(
                f"study.objectives[{i}]",
                f"has unknown value {name!r}; allowed: {', '.join(allowed_objectives)}",
            )
    if config.study.objectives[0] in ("params", "flops"):
        raise bad(
            "study.objectives[0]",
            "must be a training-free score (a combined score, spectral metric or proxy)",
        )
    if config.scorer.heldout is not None and config.scorer.heldout < 0:
        raise bad("scorer.heldout", f"must be >= 0, got {config.scorer.heldout}")
    needs_regression, needs_probe_signals = scorer_needs(config)
    if needs_regression and config.scorer.heldout == 0:
        raise bad(
            "scorer.heldout",
            "must be > 0 (or null): the objectives need NTK kernel regression on held-out images",
        )
    if needs_regression and config.scorer.kernel == "full":
        raise bad("scorer.kernel", "must be sum or trace for NTK kernel regression (krr_*)")
    if needs_probe_signals and config.scorer.proxies is False:
        raise bad(
            "scorer.proxies",
            "must be true (or null): the objectives need the probe signals "
            "(naswot, feature/backward decorrelation, kernel alignment)",
        )
    if config.study.n_trials < 0:
        raise bad(
            "study.n_trials",
            f"must be >= 0 (0: create the study for workers and score nothing), "
            f"got {config.study.n_trials}",
        )
    positives = {
        "study.batch": config.study.batch,
        "study.workers": config.study.workers,
        "scorer.batch_size": config.scorer.batch_size,
        "scorer.repeats": config.scorer.repeats,
        "train.epochs": config.train.epochs,
        "train.batch_size": config.train.batch_size,
    }
    for key, value in positives.items():
        if value < 1:
            raise bad(key, f"must be >= 1, got {value}")
    for key, value in {
        "study.top_k": config.study.top_k,
        "train.top_k": config.train.top_k,
    }.items():
        if value < 0:
            raise bad(key, f"must be >= 0, got {value}")
    if config.train.lr <= 0:
        raise bad("train.lr", f"must be > 0, got {config.train.lr}")
    for key in ("subset", "test_subset", "resolution"):
        value = getattr(config.train, key)
        if value is not None and value < 1:
            raise bad(f"train.{key}", f"must be >= 1 (or null), got {value}")
    for key, value in (("scorer.data", config.scorer.data), ("train.data", config.train.data)):
        try:
            check_source(value)
        except DataError as error:
            raise bad(key, str(error)) from None
    if config.train.pruner not in ("none", "median", "hyperband"):
        raise bad(
            "train.pruner",
            f"has unknown value {config.train.pruner!r}; allowed: none, median, hyperband",
        )
    import search_spaces

    try:
        space = search_spaces.create_search_space(config.space.name, **config.space.options)
    except (ValueError, TypeError) as error:
        raise bad("space", str(error)) from None
    if config.train.space_options:
        try:
            search_spaces.create_search_space(
                space.name, **{**space.options(), **config.train.space_options}
            )
        except (ValueError, TypeError) as error:
            raise bad("train.space_options", str(error)) from None
