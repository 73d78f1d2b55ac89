"""The training-free objective: an Optuna trial → an architecture → NTK metrics → values."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import optuna

from ntknas.combined_scores import aggregate, list_scores
from ntknas.objectives import metric_direction, objective_names
from ntknas.scorer import NTKScorer, ScoreResult
from search_spaces import ArchSpec, SearchSpace

ATTR_PREFIX = "ntknas:"


class DegenerateKernelError(RuntimeError):
    """The kernel of an architecture is degenerate (rank-deficient, zero or non-finite); the
    trial fails with this reason."""


@dataclass(frozen=True)
class Budget:
    """Upper bounds on cost, enforced as Optuna constraints (feasible when ≤ 0)."""

    max_params: int | None = None
    max_flops: int | None = None

    def constraints(self, params: int, flops: int) -> dict[str, float]:
        out = {}
        if self.max_params is not None:
            out["params"] = float(params - self.max_params)
        if self.max_flops is not None:
            out["flops"] = float(flops - self.max_flops)
        return out

    def __bool__(self) -> bool:
        return self.max_params is not None or self.max_flops is not None


class ScoreCache:
    """Score results keyed by the canonical architecture hash (thread-safe).

    TPE proposes the same architecture again and again; each is scored once. The cache can be
    warmed from the completed trials of a study, so a resumed or second worker reuses them.
    """

    def __init__(self) -> None:
        self._results: dict[str, ScoreResult] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> ScoreResult | None:
        with self._lock:
            result = self._results.get(key)
            if result is None:
                self.misses += 1
            else:
                self.hits += 1
            return result

    def put(self, result: ScoreResult) -> None:
        with self._lock:
            self._results[result.hash] = result

    def __len__(self) -> int:
        return len(self._results)

    def results(self) -> list[ScoreResult]:
        """Every cached result (a snapshot)."""
        with self._lock:
            return list(self._results.values())

    def __contains__(self, key: str) -> bool:
        return key in self._results

    def warm(self, study: optuna.Study) -> int:
        """Load every completed trial's stored result; returns how many were added."""
        added = 0
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
            blob = t.user_attrs.get(ATTR_PREFIX + "result")
            if blob and (h := t.user_attrs.get(ATTR_PREFIX + "hash")) and h not in self._results:
                self._results[h] = ScoreResult(**json.loads(blob))
                added += 1
        return added


def objective_directions(objectives: Sequence[str]) -> list[str]:
    """Optuna directions for objective names (spectral metrics, ``params``, ``flops``)."""
    return [metric_direction(name) for name in objectives]


def record_result(trial: optuna.trial.BaseTrial, result: ScoreResult, *, cached: bool) -> None:
    """Store a score result on a trial: every metric as ``ntknas:<metric>`` and the whole
    result as JSON (``ntknas:result``), so rankings and caches can be rebuilt from storage."""
    attrs: dict[str, Any] = {
        "arch": result.arch,
        "hash": result.hash,
        "params": result.params,
        "flops": result.flops,
        "seconds": round(result.seconds, 6),
        "degenerate": result.degenerate,
        "cached": cached,
    }
    if result.reason:
        attrs["reason"] = result.reason
    for name, value in result.metrics.items():
        attrs[name] = value if value == value else None  # NaN is not JSON
    blob = result.to_dict()
    blob["metrics"] = {k: (v if v == v else None) for k, v in result.metrics.items()}
    attrs["result"] = json.dumps(blob)
    for key, value in attrs.items():
        trial.set_user_attr(ATTR_PREFIX + key, value)


def evaluate_spec(
    trial: optuna.trial.BaseTrial,
    spec: ArchSpec,
    space: SearchSpace,
    scorer: NTKScorer,
    objectives: Sequence[str],
    *,
    budget: Budget | None = None,
    cache: ScoreCache | None = None,
) -> list[float]:
    """Score ``spec`` (or take it from the cache), record it on ``trial``, set the budget
    constraints, and return the objective values. Raises :class:`DegenerateKernelError`."""
    result = cache.get(spec.hash) if cache is not None else None
    cached = result is not None
    if result is None:
        result = scorer.score(space, spec)
        if cache is not None:
            cache.put(result)
    record_result(trial, result, cached=cached)
    if budget:
        for key, value in budget.constraints(result.params, result.flops).items():
            trial.set_constraint(key, value)
    if result.degenerate:
        raise DegenerateKernelError(result.reason or "degenerate kernel")
    values = []
    for name in objectives:
        if name == "params":
            values.append(float(result.params))
        elif name == "flops":
            values.append(float(result.flops))
        elif name in list_scores():
            values.append(population_score(result, name, cache))
        else:
            values.append(result.metrics[name])
    return values


def score_row(result: ScoreResult) -> dict[str, float]:
    """The metrics of a result plus its params and FLOPs: one row of a score population."""
    return {**result.metrics, "params": float(result.params), "flops": float(result.flops)}


def population_score(result: ScoreResult, rule: str, cache: ScoreCache | None) -> float:
    """A combined score of ``result`` ranked among every non-degenerate result in ``cache``
    (the architectures this study has scored so far, here or in the storage it was warmed
    from). Early trials are ranked among few; ``ntknas report`` ranks the final population."""
    others = [
        r
        for r in (cache.results() if cache is not None else [])
        if not r.degenerate and r.hash != result.hash
    ]
    rows = [score_row(result)] + [score_row(r) for r in others]
    return float(aggregate(rows, rule)[0])


def make_objective(
    space: SearchSpace,
    scorer: NTKScorer,
    metric: str | Sequence[str] | None = None,
    budget: Budget | dict[str, int | None] | None = None,
    *,
    cache: ScoreCache | None = None,
) -> Callable[[optuna.trial.BaseTrial], float | list[float]]:
    """An Optuna objective that scores one architecture per trial, without training.

    Args:
        space: where architectures come from (``space.suggest(trial)``).
        scorer: computes the NTK and its metrics.
        metric: one objective name, or several (multi-objective; ``params`` and ``flops``
            allowed after the first); None: the scorer's own ``metric`` (by default the
            package's default score). A combined score such as ``"ntk-agg-v4"`` is ranked among
            the architectures scored so far; the scorer must compute its components —
            ``proxies=True`` for the probe signals, ``heldout`` for kernel regression — or a
            ``ValueError`` says which is missing), a spectral metric, or a proxy. Create the
            study with ``directions=objective_directions(metrics)``.
        budget: ``Budget(max_params=..., max_flops=...)``; recorded with
            ``trial.set_constraint`` (feasible when ≤ 0), for constraint-aware samplers.
        cache: a :class:`ScoreCache`; each architecture is scored once (a new cache when None).

    A scorer made without ``needs`` computes what the objectives read and nothing more
    (:meth:`NTKScorer.reading`; the scorer passed in is unchanged): the default score needs no
    kernel pass. Pass a scorer with ``needs`` to compute more (``needs=ntknas.list_metrics()``:
    the kernel's spectrum too).

    Every metric computed goes into ``trial.user_attrs["ntknas:<metric>"]`` together with
    ``ntknas:arch``, ``ntknas:hash``, ``ntknas:params``, ``ntknas:flops``. A degenerate kernel raises
    :class:`DegenerateKernelError`, so the trial fails with the reason (pass
    ``catch=(DegenerateKernelError,)`` to ``study.optimize`` to go on).

    Example:
        >>> import optuna, search_spaces
        >>> space = search_spaces.create_search_space("nb201")
        >>> objective = make_objective(space, NTKScorer(batch_size=8), "log_cond")
        >>> study = optuna.create_study(direction="minimize")
        >>> study.optimize(objective, n_trials=2, catch=(DegenerateKernelError,))
    """
    if metric is None:
        metric = scorer.metric
    objectives = [metric] if isinstance(metric, str) else list(metric)
    for name in objectives:
        if name not in objective_names():
            raise ValueError(f"unknown objective {name!r}; known: {', '.join(objective_names())}")
    scorer.check_computes(objectives)
    scorer = scorer.reading(objectives)
    if isinstance(budget, dict):
        budget = Budget(**budget)
    cache = cache if cache is not None else ScoreCache()

    def objective(trial: optuna.trial.BaseTrial) -> float | list[float]:
        spec = space.suggest(trial)
        values = evaluate_spec(trial, spec, space, scorer, objectives, budget=budget, cache=cache)
        return values[0] if len(values) == 1 else values

    objective.cache = cache  # type: ignore[attr-defined]
    return objective
