"""Training-free pre-screening inside *your* Optuna study: a sampler and a pruning wrapper.

* :class:`PrescreenSampler`: for every trial it draws K candidate architectures (the base
  sampler's proposals, or random), scores them training-free and hands your objective the best
  one not tried yet; your objective (training) is unchanged.
* :func:`prescreened`: wraps your objective; a trial whose architecture ranks outside the best
  ``keep`` fraction of those scored so far is pruned before it trains.

Scores are shared through the study's own storage (:class:`SharedScores`, a companion study
``<study>.ntknas-scores``), so every trial and every worker reuses them, and an architecture is
scored by one worker only: a worker claims it by moving the first WAITING score trial of its hash
to RUNNING, a transition every Optuna storage grants to exactly one worker.
"""

from __future__ import annotations

import json
import math
import random
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import FrozenTrial, TrialState

from ntknas.combined_scores import aggregate, list_scores
from ntknas.objectives import metric_direction
from ntknas.scorer import NTKScorer, ScoreResult
from ntknas.study._heartbeat import OWNER_ATTR, owner_alive, this_process
from search_spaces import ArchSpec, SearchSpace

#: Trial user attributes written by the pre-screening components.
ATTR = "ntknas:prescreen_"
SCORES_SUFFIX = ".ntknas-scores"


def _quiet(fn: Callable[[], Any]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return fn()


class SharedScores:
    """Training-free scores of one study's architectures, kept in its storage.

    Args:
        study: the user's study; the scores live in ``<study name>.ntknas-scores`` beside it.
        space: the search space of the architectures.
        scorer: computes a :class:`~ntknas.scorer.ScoreResult` per architecture.
        score: what ranks them: a combined score (ranked within the population of every
            architecture scored so far) or a single metric / proxy (by its direction).
        name: the companion study's name (default ``<study name>.ntknas-scores``); studies
            that name the same one share their scores (same space and scorer settings).
    """

    def __init__(
        self,
        study: optuna.Study,
        space: SearchSpace,
        scorer: NTKScorer,
        score: str,
        *,
        name: str | None = None,
    ) -> None:
        scorer.check_computes([score])
        scorer = scorer.reading([score])  # compute what the score reads, nothing more
        self.space = space
        self.scorer = scorer
        self.score = score
        self.combined = score in list_scores()
        self.direction = None if self.combined else metric_direction(score)
        self.local: dict[str, dict[str, Any]] = {}
        self.scored_here: list[str] = []
        self.study = optuna.create_study(
            study_name=name or study.study_name + SCORES_SUFFIX,
            storage=study._storage,
            load_if_exists=True,
        )

    # ----------------------------------------------------------------- reading
    def known(self) -> dict[str, dict[str, Any]]:
        """Every published score by architecture hash (this process's and other workers')."""
        for t in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            h = t.user_attrs.get("hash")
            if h and h not in self.local and "result" in t.user_attrs:
                self.local[h] = json.loads(t.user_attrs["result"])
        return dict(self.local)

    def values(self, hashes: Sequence[str]) -> dict[str, float]:
        """Ranking values (higher = better) of ``hashes`` within every known score; degenerate
        networks rank worst."""
        known = self.known()
        if self.combined:
            population = list(known)
            rows = [
                {**known[h]["metrics"], "params": known[h]["params"], "flops": known[h]["flops"]}
                for h in population
            ]
            ranked = dict(zip(population, aggregate(rows, self.score)))
        else:
            sign = 1.0 if self.direction == "maximize" else -1.0
            ranked = {}
            for h, r in known.items():
                v = {**r["metrics"], "params": r["params"], "flops": r["flops"]}.get(self.score)
                finite = v is not None and math.isfinite(float(v))
                ranked[h] = sign * float(v) if finite else -math.inf
        return {
            h: (-math.inf if known[h]["degenerate"] else float(ranked[h]))
            for h in hashes
            if h in known
        }

    def rank_fraction(self, h: str) -> float:
        """Fraction of the known architectures that rank strictly better than ``h``."""
        values = self.values(list(self.known()))
        mine = values[h]
        return float(np.mean([v > mine for v in values.values()]))

    # ----------------------------------------------------------------- writing
    def _score_trials(self, h: str) -> list[FrozenTrial]:
        return [t for t in self.study.get_trials(deepcopy=False) if t.user_attrs.get("hash") == h]

    def claim(self, spec: ArchSpec) -> int | None:
        """Claim the scoring of ``spec`` for this process: the id of the score trial now RUNNING
        for it, or None when it is scored already or another live worker scores it."""
        h = spec.hash
        if h in self.local:
            return None
        storage = self.study._storage
        mine = storage.create_new_trial(
            self.study._study_id,
            template_trial=optuna.trial.create_trial(
                state=TrialState.WAITING,
                user_attrs={"hash": h, "arch": spec.arch},
            ),
        )
        trials = self._score_trials(h)
        for t in trials:  # a claim whose worker died is handed back
            if t.state == TrialState.RUNNING and owner_alive(t.user_attrs.get(OWNER_ATTR)) is False:
                try:
                    storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL)
                except optuna.exceptions.UpdateFinishedTrialError:
                    pass
        trials = self._score_trials(h)
        live = [t for t in trials if t.state in (TrialState.WAITING, TrialState.RUNNING)]
        done = any(t.state == TrialState.COMPLETE for t in trials)
        first = min(live, key=lambda t: t.number) if live else None
        won = (
            not done
            and first is not None
            and first.state == TrialState.WAITING
            and _claimed(storage, first._trial_id)
        )
        for t in live:  # duplicates of the claim (ours, or left by a worker that lost the race)
            if t._trial_id == mine and (not won or t._trial_id != first._trial_id):
                _quiet(lambda tid=t._trial_id: _discard(storage, tid))
        if not won:
            return None
        storage.set_trial_user_attr(first._trial_id, OWNER_ATTR, this_process())
        return first._trial_id

    def publish(self, trial_id: int, result: ScoreResult) -> None:
        storage = self.study._storage
        blob = {
            "metrics": result.metrics,
            "degenerate": result.degenerate,
            "reason": result.reason,
            "params": result.params,
            "flops": result.flops,
            "seconds": result.seconds,
        }
        storage.set_trial_user_attr(trial_id, "result", json.dumps(blob))
        storage.set_trial_state_values(trial_id, state=TrialState.COMPLETE, values=[0.0])
        self.local[result.hash] = blob
        self.scored_here.append(result.hash)

    def ensure(self, specs: Sequence[ArchSpec], *, wait: float = 0.0) -> list[ArchSpec]:
        """Score every spec that nobody has scored (claiming each); with ``wait`` > 0, wait up
        to that many seconds for specs another worker is scoring. Returns the specs that have a
        score now."""
        known = self.known()
        for spec in specs:
            if spec.hash in known:
                continue
            trial_id = self.claim(spec)
            if trial_id is None:
                continue
            try:
                result = self.scorer.score(self.space, spec)
            except Exception as error:  # noqa: BLE001 - a failed scoring is recorded
                storage = self.study._storage
                reason = f"{type(error).__name__}: {str(error).strip()[:200]}"
                storage.set_trial_user_attr(trial_id, "fail_reason", reason)
                storage.set_trial_state_values(trial_id, state=TrialState.FAIL)
                continue
            self.publish(trial_id, result)
        deadline = time.monotonic() + wait
        while True:
            known = self.known()
            pending = [s for s in specs if s.hash not in known]
            if not pending or time.monotonic() >= deadline:
                break
            time.sleep(0.2)
        return [s for s in specs if s.hash in known]


def _claimed(storage: optuna.storages.BaseStorage, trial_id: int) -> bool:
    try:
        return bool(storage.set_trial_state_values(trial_id, state=TrialState.RUNNING))
    except optuna.exceptions.UpdateFinishedTrialError:
        return False


def _discard(storage: optuna.storages.BaseStorage, trial_id: int) -> None:
    """Retire a duplicate claim trial (it is never scored)."""
    try:
        if storage.get_trial(trial_id).state == TrialState.WAITING:
            if storage.set_trial_state_values(trial_id, state=TrialState.RUNNING):
                storage.set_trial_state_values(trial_id, state=TrialState.PRUNED)
    except optuna.exceptions.UpdateFinishedTrialError:
        pass


class _ProposalTrial:
    """Answers a space's ``suggest_*`` calls with a sampler's ``sample_independent`` proposals
    for a running trial (so TPE, say, proposes candidates without creating trials)."""

    def __init__(
        self, sampler: optuna.samplers.BaseSampler, study: optuna.Study, trial: FrozenTrial
    ):
        self._sampler, self._study, self._trial = sampler, study, trial
        self.params: dict[str, Any] = {}

    def _suggest(self, name: str, distribution: BaseDistribution) -> Any:
        if name not in self.params:
            self.params[name] = self._sampler.sample_independent(
                self._study, self._trial, name, distribution
            )
        return self.params[name]

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        return self._suggest(name, CategoricalDistribution(list(choices)))

    def suggest_int(
        self, name: str, low: int, high: int, *, step: int = 1, log: bool = False
    ) -> int:
        return self._suggest(name, IntDistribution(low, high, step=step, log=log))

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float:
        return self._suggest(name, FloatDistribution(low, high, step=step, log=log))


class PrescreenSampler(optuna.samplers.BaseSampler):
    """Hands each trial of your study the best-scored of K candidate architectures.

    For every new trial it draws ``candidates`` architectures of ``space`` — proposals of
    ``base_sampler`` (e.g. TPE: it learns from your objective's values), or random draws when
    there is none — drops those already given to a trial of the study, scores the rest
    training-free (each architecture once, shared across trials and, through the storage,
    across workers), and fixes the trial's architecture parameters to the best. Parameters that
    are not the space's (your learning rate, say) come from ``base_sampler`` (random without
    one). Trials you enqueue keep their parameters. The trial records ``ntknas:prescreen_arch``,
    ``..._hash``, ``..._score`` (its ranking value) and ``..._candidates`` (hash → value of the
    draw).

    Args:
        space: the architectures' search space (a registered one or :func:`from_builder`).
        scorer: the training-free scorer; it must compute what ``score`` needs.
        candidates: K, architectures drawn per trial.
        base_sampler: proposes candidates and samples the other parameters.
        score: combined score or metric that ranks candidates (default: the scorer's metric).
        seed: seeds the random candidate draws.
        scores_name: the study that keeps the scores (default ``<study>.ntknas-scores``);
            several studies on one space and scorer can share one.

    Example:
        >>> import optuna, search_spaces
        >>> space = search_spaces.create_search_space("nb201", cells=1)
        >>> sampler = PrescreenSampler(space, NTKScorer(batch_size=4), candidates=3,
        ...                            score="log_cond", seed=0)
        >>> study = optuna.create_study(sampler=sampler)
        >>> study.optimize(lambda t: float(len(space.suggest(t).arch)), n_trials=2)
        >>> first = study.trials[0]
        >>> first.user_attrs["ntknas:prescreen_arch"] == space.suggest(
        ...     optuna.trial.FixedTrial(first.params)).arch
        True
    """

    def __init__(
        self,
        space: SearchSpace,
        scorer: NTKScorer,
        *,
        candidates: int = 8,
        base_sampler: optuna.samplers.BaseSampler | None = None,
        score: str | None = None,
        seed: int | None = None,
        scores_name: str | None = None,
    ) -> None:
        if not isinstance(candidates, int) or candidates < 1:
            raise ValueError(f"candidates must be a positive integer, got {candidates!r}")
        score = score if score is not None else scorer.metric
        scorer.check_computes([score])
        self.space = space
        self.scorer = scorer
        self.candidates = candidates
        self.base_sampler = base_sampler
        self.score = score
        self._rng = random.Random(seed)
        self._fallback = optuna.samplers.RandomSampler(seed=seed)
        self._fixed: dict[int, dict[str, Any]] = {}
        self._scores: dict[str, SharedScores] = {}
        self.scores_name = scores_name

    def shared_scores(self, study: optuna.Study) -> SharedScores:
        """The shared score store of ``study`` (created on first use)."""
        if study.study_name not in self._scores:
            self._scores[study.study_name] = SharedScores(
                study, self.space, self.scorer, self.score, name=self.scores_name
            )
        return self._scores[study.study_name]

    # --------------------------------------------------------------- sampler API
    def reseed_rng(self) -> None:
        self._rng = random.Random()
        self._fallback.reseed_rng()
        if self.base_sampler is not None:
            self.base_sampler.reseed_rng()

    def infer_relative_search_space(self, study, trial):  # noqa: ANN001, ANN201
        if self.base_sampler is None:
            return {}
        return self.base_sampler.infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):  # noqa: ANN001, ANN201
        if self.base_sampler is None or not search_space:
            return {}
        fixed = self._fixed.get(trial._trial_id, {})
        proposed = self.base_sampler.sample_relative(study, trial, search_space)
        return {k: v for k, v in proposed.items() if k not in fixed}

    def sample_independent(self, study, trial, param_name, param_distribution):  # noqa: ANN001, ANN201
        fixed = self._fixed.get(trial._trial_id, {})
        if param_name in fixed:
            return fixed[param_name]
        sampler = self.base_sampler or self._fallback
        return sampler.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if self.base_sampler is not None:
            self.base_sampler.before_trial(study, trial)
        if "fixed_params" in trial.system_attrs:
            return  # an enqueued trial keeps what it was given
        errors: list[str] = []
        draw = self.draw(study, trial, errors)
        shared = self.shared_scores(study)
        scored = shared.ensure(draw)
        storage = study._storage
        if errors:
            storage.set_trial_user_attr(trial._trial_id, ATTR + "errors", errors[:5])
        if not scored:
            return  # no candidate could be scored here: the base sampler decides
        values = shared.values([s.hash for s in scored])
        best = max(scored, key=lambda s: values[s.hash])
        self._fixed[trial._trial_id] = self.space.trial_params(best)
        storage.set_trial_user_attr(trial._trial_id, ATTR + "arch", best.arch)
        storage.set_trial_user_attr(trial._trial_id, ATTR + "hash", best.hash)
        storage.set_trial_user_attr(trial._trial_id, ATTR + "score", values[best.hash])
        storage.set_trial_user_attr(
            trial._trial_id,
            ATTR + "candidates",
            json.dumps({s.hash: values[s.hash] for s in scored}),
        )

    def after_trial(self, study, trial, state, values):  # noqa: ANN001, ANN201
        self._fixed.pop(trial._trial_id, None)
        if self.base_sampler is not None:
            self.base_sampler.after_trial(study, trial, state, values)

    # --------------------------------------------------------------- candidates
    def draw(
        self, study: optuna.Study, trial: FrozenTrial, errors: list[str] | None = None
    ) -> list[ArchSpec]:
        """Up to K distinct candidates that no trial of ``study`` was given yet (the base
        sampler's proposals; random draws once it keeps proposing architectures already tried);
        a proposal the space refuses (a builder that raises) is skipped and its reason added to
        ``errors``."""
        seen = {
            t.user_attrs.get(ATTR + "hash")
            for t in study.get_trials(deepcopy=False)
            if t._trial_id != trial._trial_id
        }
        out: dict[str, ArchSpec] = {}
        attempts = 0
        while len(out) < self.candidates and attempts < 20 * self.candidates:
            attempts += 1
            try:
                if self.base_sampler is not None and attempts <= 10 * self.candidates:
                    proposal = _ProposalTrial(self.base_sampler, study, trial)
                    spec = self.space.suggest(proposal)
                else:
                    spec = self.space.sample(self._rng)
            except ValueError as error:  # BuilderError included
                if errors is not None:
                    errors.append(f"{type(error).__name__}: {str(error).strip()[:200]}")
                continue
            if spec.hash not in seen:
                out.setdefault(spec.hash, spec)
        return list(out.values())


def prescreened(
    objective: Callable[[optuna.Trial], Any],
    space: SearchSpace,
    scorer: NTKScorer,
    *,
    keep: float = 0.25,
    warmup: int = 10,
    score: str | None = None,
) -> Callable[[optuna.Trial], Any]:
    """Your objective, run only for architectures that score among the best ``keep`` fraction.

    The returned objective suggests the trial's architecture (``space.suggest(trial)``: your
    objective's own ``space.suggest`` / builder calls then return the same values), scores it
    training-free (once per architecture, shared through the storage), records
    ``ntknas:prescreen_score`` and ``..._rank_fraction``, and raises ``optuna.TrialPruned`` when
    more than ``keep`` of the architectures scored so far rank better — once ``warmup``
    architectures have been scored. Otherwise it calls ``objective(trial)``, where any pruner
    you already use keeps working on the training curve.

    Example:
        >>> import optuna, search_spaces
        >>> space = search_spaces.create_search_space("nb201", cells=1)
        >>> train = lambda trial: float(len(space.suggest(trial).arch))  # stands in for training
        >>> wrapped = prescreened(train, space, NTKScorer(batch_size=4), keep=0.5, warmup=2,
        ...                       score="log_cond")
        >>> study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        >>> study.optimize(wrapped, n_trials=4)
        >>> len(study.trials)
        4
    """
    if not 0.0 < keep <= 1.0:
        raise ValueError(f"keep must be in (0, 1], got {keep!r}")
    if not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup must be a non-negative integer, got {warmup!r}")
    score = score if score is not None else scorer.metric
    scorer.check_computes([score])
    stores: dict[str, SharedScores] = {}

    def wrapped(trial: optuna.Trial) -> Any:
        study = trial.study
        if study.study_name not in stores:
            stores[study.study_name] = SharedScores(study, space, scorer, score)
        shared = stores[study.study_name]
        spec = space.suggest(trial)
        if not shared.ensure([spec], wait=600.0):
            raise RuntimeError(f"no training-free score for {spec.arch} (scoring failed)")
        value = shared.values([spec.hash])[spec.hash]
        scored = len(shared.known())
        fraction = shared.rank_fraction(spec.hash)
        trial.set_user_attr(ATTR + "arch", spec.arch)
        trial.set_user_attr(ATTR + "hash", spec.hash)
        trial.set_user_attr(ATTR + "score", value)
        trial.set_user_attr(ATTR + "rank_fraction", fraction)
        if scored >= warmup and fraction > keep:
            raise optuna.TrialPruned(
                f"training-free score ranks {fraction:.0%} down among {scored} architectures "
                f"(keeping the best {keep:.0%})"
            )
        return objective(trial)

    return wrapped
