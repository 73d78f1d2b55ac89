"""Your own define-by-run model builder as a search space.

Most Optuna users already build their model from ``trial.suggest_*`` calls::

    def build(trial):
        width = trial.suggest_categorical("width", [16, 32, 64])
        depth = trial.suggest_int("depth", 1, 4)
        ...
        return model

:func:`from_builder` turns such a function into a :class:`~search_spaces.SearchSpace`: an
architecture is the set of parameters the builder suggested, its text form the canonical JSON of
those parameters (sorted keys, no spaces), and building it replays them through Optuna's
``FixedTrial``. Categorical, integer, float and conditional parameters work; the hash is stable
across processes. Everything that takes a space (``make_objective``, ``screen``,
``PrescreenSampler``, ``prescreened``, ``ntknas bench table --space module:function``) takes it.
"""

from __future__ import annotations

import inspect
import json
import math
import random
from collections.abc import Callable
from typing import Any

from torch import nn

from search_spaces.base import ArchSpec, SearchSpace

Builder = Callable[..., nn.Module]


class BuilderError(ValueError):
    """A builder that raised, returned something other than an ``nn.Module``, or suggested
    different parameters when replayed; the message names the builder and the cause."""


def _canonical(params: dict[str, Any]) -> str:
    for key, value in params.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise BuilderError(f"parameter {key!r} is {value!r}, which has no JSON form")
    return json.dumps(params, sort_keys=True, separators=(",", ":"))


def _replay_trial(params: dict[str, Any]) -> Any:
    """A ``FixedTrial`` that remembers which parameters the builder asked for (Optuna is
    imported here: the search spaces themselves do not need it)."""
    import optuna

    class ReplayTrial(optuna.trial.FixedTrial):
        def __init__(self, values: dict[str, Any]) -> None:
            super().__init__(values)
            self.asked: list[str] = []

        def _suggest(self, name: str, distribution: Any) -> Any:
            self.asked.append(name)
            return super()._suggest(name, distribution)

    return ReplayTrial(params)


class BuilderSpace(SearchSpace):
    """A search space defined by a ``build(trial) -> nn.Module`` function (see
    :func:`from_builder`)."""

    def __init__(
        self,
        build: Builder,
        *,
        name: str,
        input_shape: tuple[int, ...] = (3, 32, 32),
    ) -> None:
        if not callable(build):
            raise BuilderError(f"builder for space {name!r} is not callable: {build!r}")
        if not isinstance(name, str) or not name:
            raise BuilderError("a builder space needs a non-empty name")
        self.builder = build
        self.name = name
        self.input_shape = tuple(input_shape)
        try:
            self._takes_num_classes = "num_classes" in inspect.signature(build).parameters
        except (TypeError, ValueError):
            self._takes_num_classes = False

    def options(self) -> dict[str, Any]:
        return {"builder": getattr(self.builder, "__qualname__", repr(self.builder))}

    def _call(self, trial: Any, num_classes: int | None = None) -> nn.Module:
        kwargs = {"num_classes": num_classes} if self._takes_num_classes and num_classes else {}
        label = getattr(self.builder, "__qualname__", repr(self.builder))
        try:
            model = self.builder(trial, **kwargs)
        except BuilderError:
            raise
        except Exception as error:
            if type(error).__name__ == "TrialPruned":  # the user's builder prunes: let it
                raise
            first = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise BuilderError(
                f"builder {label!r} of space {self.name!r} raised {type(error).__name__}: {first}"
            ) from error
        if not isinstance(model, nn.Module):
            raise BuilderError(
                f"builder {label!r} of space {self.name!r} returned {type(model).__name__}, "
                "not a torch.nn.Module"
            )
        return model

    def suggest(self, trial: Any) -> ArchSpec:
        """Run the builder on the caller's trial and return the architecture it suggested (only
        the parameters the builder itself asked for: the trial may hold others)."""
        recorder = _Recorder(trial)
        self._call(recorder)
        params = {k: trial.params[k] for k in dict.fromkeys(recorder.asked)}
        return ArchSpec(self.name, _canonical(dict(sorted(params.items()))))

    def sample(self, rng: random.Random | int | None = None) -> ArchSpec:
        """Run the builder on a throwaway trial of an in-memory study with a seeded
        ``RandomSampler``."""
        import optuna

        seed = self._rng(rng).randrange(2**31)
        verbosity = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "study created" line per draw
        try:
            study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
        finally:
            optuna.logging.set_verbosity(verbosity)
        return self.suggest(study.ask())

    def params(self, spec: ArchSpec | str) -> dict[str, Any]:
        """The parameters of a spec (or of its text form)."""
        text = spec if isinstance(spec, str) else self._spec(spec).arch
        try:
            value = json.loads(text)
        except (TypeError, json.JSONDecodeError) as error:
            raise BuilderError(f"{self.name}: arch is not JSON parameters: {error}") from None
        if not isinstance(value, dict):
            raise BuilderError(f"{self.name}: arch must be a JSON object of parameters")
        return value

    def parse(self, text: str) -> ArchSpec:
        return ArchSpec(self.name, _canonical(dict(sorted(self.params(text).items()))))

    def trial_params(self, spec: ArchSpec | str) -> dict[str, Any]:
        return self.params(spec)

    def build(self, spec: ArchSpec | str, num_classes: int = 10) -> nn.Module:
        """Replay the spec's parameters through the builder; a replay that asks for a parameter
        the spec lacks, or leaves one of its parameters unasked, raises :class:`BuilderError`
        naming it."""
        params = self.params(spec)
        trial = _replay_trial(params)
        try:
            model = self._call(trial, num_classes)
        except BuilderError as error:
            missing = _missing_parameter(error)
            if missing is not None:
                raise BuilderError(
                    f"space {self.name!r}: on replay the builder asked for parameter "
                    f"{missing!r}, which the architecture does not have (it has "
                    f"{', '.join(sorted(params)) or 'none'})"
                ) from None
            raise
        unasked = sorted(set(params) - set(trial.asked))
        if unasked:
            raise BuilderError(
                f"space {self.name!r}: on replay the builder did not ask for parameter "
                f"{unasked[0]!r} (it suggests different parameters from one call to the next)"
            )
        return model


def _missing_parameter(error: BaseException) -> str | None:
    """The parameter a ``FixedTrial`` did not have ("The value of the parameter 'x' is not
    found"), when that is what made the builder fail."""
    cause = error.__cause__
    text = str(cause) if cause is not None else ""
    if isinstance(cause, ValueError) and "is not found" in text and text.count("'") >= 2:
        return text.split("'")[1]
    return None


class _Recorder:
    """Passes every call through to the trial and records the suggested parameter names."""

    def __init__(self, trial: Any) -> None:
        self._trial = trial
        self.asked: list[str] = []

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self._trial, attr)
        if attr.startswith("suggest_") and callable(value):

            def suggest(name: str, *args: Any, **kwargs: Any) -> Any:
                self.asked.append(name)
                return value(name, *args, **kwargs)

            return suggest
        return value


def from_builder(
    build: Builder, *, name: str, input_shape: tuple[int, ...] = (3, 32, 32)
) -> BuilderSpace:
    """A search space from a define-by-run ``build(trial) -> nn.Module`` function.

    Args:
        build: calls ``trial.suggest_*`` and returns the network at initialization. If it takes
            a ``num_classes`` keyword, the head size is passed (the probe data's classes).
        name: the space's name (part of every architecture's hash).
        input_shape: (C, H, W) of the images the networks take.

    Example:
        >>> import torch
        >>> def build(trial):
        ...     width = trial.suggest_categorical("width", [8, 16])
        ...     layers = [torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, width), torch.nn.ReLU()]
        ...     if trial.suggest_categorical("deep", [False, True]):
        ...         layers += [torch.nn.Linear(width, width), torch.nn.ReLU()]
        ...     return torch.nn.Sequential(*layers, torch.nn.Linear(width, 10))
        >>> space = from_builder(build, name="mlp", input_shape=(3, 8, 8))
        >>> spec = space.parse('{"width": 16, "deep": true}')
        >>> spec.arch
        '{"deep":true,"width":16}'
        >>> space.build(spec)(torch.zeros(2, 3, 8, 8)).shape
        torch.Size([2, 10])
    """
    return BuilderSpace(build, name=name, input_shape=input_shape)
