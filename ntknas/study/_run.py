"""From a validated config to a running study: what ``ntknas search`` and ``ntknas worker`` do."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

import search_spaces
from ntknas.combined_scores import list_scores
from ntknas.config import Config, scorer_needs
from ntknas.data import describe
from ntknas.scorer import NTKScorer
from ntknas.spectral import list_metrics
from ntknas.study._objective import Budget, ScoreCache, objective_directions
from ntknas.study._report import write_results
from ntknas.study._samplers import create_sampler
from ntknas.study._screen import screen
from ntknas.study._storage import StorageError, create_storage
from ntknas.study._workers import alongside_workers, shared_storage
from search_spaces import SearchSpace


@dataclass
class SearchParts:
    space: SearchSpace
    scorer: NTKScorer
    objectives: list[str]
    budget: Budget


def build_parts(config: Config) -> SearchParts:
    """The search space, scorer, objectives and budget a config describes."""
    space = search_spaces.create_search_space(config.space.name, **config.space.options)
    s = config.scorer
    needs_krr, needs_proxies = scorer_needs(config)
    heldout = s.heldout if s.heldout is not None else (s.batch_size if needs_krr else 0)
    proxies = s.proxies if s.proxies is not None else needs_proxies
    scorer = NTKScorer(
        batch_size=s.batch_size,
        kernel=s.kernel,
        bn=s.bn,
        params=s.params,
        implementation=s.implementation,
        repeats=s.repeats,
        seed=s.seed,
        device=s.device,
        data=s.data,
        data_dir=s.data_dir,
        metric=config.study.objectives[0],
        heldout=heldout,
        proxies=proxies,
        needs=list(config.study.objectives),  # the kernel pass only when an objective reads it
        channels_last=s.channels_last,
    )
    budget = Budget(config.study.budget.max_params, config.study.budget.max_flops)
    return SearchParts(space, scorer, list(config.study.objectives), budget)


def open_study(
    config: Config,
    storage_url: str | None,
    study_name: str,
    *,
    create: bool = True,
    workers: int = 1,
) -> optuna.Study:
    """Create (or load) the screening study named ``study_name`` in ``storage_url``."""
    storage = create_storage(
        storage_url, workers=workers, heartbeat_interval=config.study.heartbeat_interval
    )
    objectives = list(config.study.objectives)
    budget = Budget(config.study.budget.max_params, config.study.budget.max_flops)
    sampler = create_sampler(
        config.study.sampler,
        seed=config.study.seed,
        n_objectives=len(objectives),
        constraints=bool(budget),
    )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            if not create:
                study = optuna.load_study(study_name=study_name, storage=storage, sampler=sampler)
                stored = study.user_attrs.get("ntknas:objectives")
                if stored and stored != objectives:
                    raise StorageError(
                        f"study {study_name!r} optimizes {stored}, the config asks for {objectives}"
                    )
                return study
            study = optuna.create_study(
                study_name=study_name,
                storage=storage,
                sampler=sampler,
                directions=objective_directions(objectives),
                load_if_exists=True,
            )
    except KeyError:
        raise StorageError(f"study {study_name!r} does not exist in {storage_url}") from None
    except ValueError as error:
        if "directions" in str(error).lower() or "direction" in str(error).lower():
            raise StorageError(f"study {study_name!r}: {error}") from None
        raise
    if "ntknas:objectives" not in study.user_attrs:
        study.set_user_attr("ntknas:objectives", objectives)
        study.set_user_attr("ntknas:space", config.space.name)
        study.set_user_attr("ntknas:space_options", config.space.options)
        if config.study.n_trials > 0:  # 0 creates the study; workers bring their count
            study.set_user_attr("ntknas:n_trials", config.study.n_trials)
    return study


def enqueue_architectures(study: optuna.Study, space: SearchSpace, archs: list[str]) -> int:
    """Enqueue known architectures (their text forms) so they are scored first."""
    for arch in archs:
        study.enqueue_trial(space.trial_params(space.parse(arch)), skip_if_exists=True)
    return len(archs)


def run_search(
    config: Config,
    *,
    storage: str | None = None,
    study_name: str | None = None,
    output_dir: str | Path | None = None,
    progress: bool = True,
    log: Any = print,
) -> dict[str, Any]:
    """Screen ``config.study.n_trials`` architectures and write ``results/<study>/``; then, when
    ``train.top_k > 0``, train the best in a linked training study. Returns the summary.

    With ``study.workers`` > 1, that many processes on this machine screen the study together
    (an in-memory study is kept in a temporary Journal file for the run)."""
    storage = storage if storage is not None else config.study.storage
    with shared_storage(storage, config.study.workers) as shared:
        return _run_search(config, shared, study_name, output_dir, progress, log)


def screen_worker(
    config: Config, storage: str, name: str, n_trials: int, objectives: list[str]
) -> None:
    """The body of one extra screening process (``study.workers`` > 1)."""
    parts = build_parts(config)
    study = open_study(config, storage, name, create=False, workers=config.study.workers)
    screen(
        study,
        parts.space,
        parts.scorer,
        n_trials=n_trials,
        objectives=objectives,
        batch=config.study.batch,
        budget=parts.budget,
    )


def screen_in_workers(
    config: Config,
    study: optuna.Study,
    parts: SearchParts,
    storage: str | None,
    name: str,
    n_trials: int,
    *,
    objectives: list[str] | None = None,
    progress: bool = False,
    cache: ScoreCache | None = None,
    on_trial: Any = None,
    log: Any = print,
) -> int:
    """Screen ``study`` to ``n_trials`` here and, with ``study.workers`` > 1, in that many
    processes in all (this one included; they split the threads). A worker that dies is
    reported and its running trial retried here. Returns the trials this process finished in
    its first pass."""
    objectives = list(objectives or parts.objectives)
    options = dict(
        n_trials=n_trials,
        objectives=objectives,
        batch=config.study.batch,
        budget=parts.budget,
        cache=cache,
        on_trial=on_trial,
    )
    if config.study.workers > 1:
        parts.scorer.check_computes(objectives)  # a bad scorer fails here, not in each worker
    return alongside_workers(
        config.study.workers,
        screen_worker,
        (config, storage, name, n_trials, objectives),
        lambda: screen(study, parts.space, parts.scorer, progress=progress, **options),
        lambda: screen(study, parts.space, parts.scorer, **options),  # a dead worker's trial
        log,
    )


def _run_search(
    config: Config,
    storage: str | None,
    study_name: str | None,
    output_dir: str | Path | None,
    progress: bool,
    log: Any,
) -> dict[str, Any]:
    parts = build_parts(config)
    name = study_name or config.study.name
    workers = config.study.workers
    study = open_study(config, storage, name, workers=workers)
    if config.study.n_trials == 0:
        log(
            f"study {name!r} created in {storage or 'memory'} with no trials; join it with "
            f"ntknas worker --storage ... --study-name {name} --n-trials N"
        )
        return {"study": name, "created": True, "complete": 0, "folder": None}
    log(
        f"study {name!r}: {config.study.n_trials} architectures from {parts.space!r}"
        + (f", {workers} worker processes" if workers > 1 else "")
    )
    log(
        f"probe data: {describe(config.scorer.data, config.scorer.data_dir)}, "
        f"batch {config.scorer.batch_size}, kernel={config.scorer.kernel}, bn={config.scorer.bn}, "
        f"device={parts.scorer.device}"
        + (
            f", + {parts.scorer.heldout} held-out test images for NTK kernel regression"
            if parts.scorer.heldout
            else ""
        )
    )
    log(
        f"score: {parts.objectives[0]}"
        + (
            " (ranked among the scored architectures)"
            if parts.objectives[0] in list_scores()
            else ""
        )
    )
    train_data = None
    if config.train.top_k > 0:  # a training setup that cannot work fails before any scoring
        from ntknas.data import load_dataset
        from ntknas.study._train import check_trained_copy

        t = config.train
        train_data = load_dataset(t.data, split="train", data_dir=t.data_dir, synthetic_size=2000)
        sample = parts.space.sample(config.study.seed).arch
        check_trained_copy(parts.space, sample, train_data, t.options())
    if config.study.enqueue:
        enqueue_architectures(study, parts.space, config.study.enqueue)
    cache = ScoreCache()
    start = time.perf_counter()
    screen_in_workers(
        config,
        study,
        parts,
        storage,
        name,
        config.study.n_trials,
        progress=progress,
        cache=cache,
        log=log,
    )
    seconds = time.perf_counter() - start
    folder = Path(output_dir or config.output_dir) / name
    extra: dict[str, Any] = {
        "seconds": round(seconds, 2),
        "data": describe(config.scorer.data, config.scorer.data_dir),
        "workers": workers,
    }
    if workers == 1:  # the cache counts this process's scoring only
        extra.update(cache_hits=cache.hits, scored=cache.misses)
    finalists = config.study.top_k or 10
    if not parts.scorer.kernel_needed():
        t0 = time.perf_counter()
        computed = finalist_spectra(study, parts.space, parts.scorer, finalists)
        extra["finalist_spectra"] = {
            "finalists": computed,
            "seconds": round(time.perf_counter() - t0, 2),
        }
        log(f"NTK spectrum of the top {computed} finalists: {time.perf_counter() - t0:.1f} s")
    if config.train.top_k > 0:
        extra["training"] = run_training(
            config, study, parts.space, storage, log=log, train_data=train_data
        )
    summary = write_results(study, folder, config=config.to_dict(), extra=extra)
    summary["folder"] = str(folder)
    return summary


def finalist_spectra(study: optuna.Study, space: SearchSpace, scorer: NTKScorer, k: int) -> int:
    """The NTK spectrum (log κ, λmin, effective rank, ...) of the ranking's top ``k``, computed
    once per finalist when the screening score did not need the kernel; kept in the study
    (user attribute ``ntknas:finalists``, by architecture hash) so ``ranking.csv`` and
    ``ntknas report`` show it. Returns how many finalists it computed."""
    import copy
    import json

    from ntknas.study._report import FINALISTS_ATTR, ranking_rows

    full = copy.copy(scorer)
    full.needs = tuple(list_metrics())  # the kernel pass and its spectrum, nothing else
    known = json.loads(study.user_attrs.get(FINALISTS_ATTR, "{}"))
    done = 0
    for row in [r for r in ranking_rows(study) if r["rank"] is not None][:k]:
        if row["hash"] in known:
            continue
        result = full.score(space, row["arch"])
        known[row["hash"]] = {
            name: value
            for name, value in result.metrics.items()
            if name in list_metrics() and value is not None
        }
        done += 1
    study.set_user_attr(FINALISTS_ATTR, json.dumps(known))
    return done


def run_training(
    config: Config,
    screen_study: optuna.Study,
    space: SearchSpace,
    storage: str | None,
    *,
    log: Any = print,
    train_data: Any = None,
) -> dict[str, Any]:
    """Enqueue the top ``train.top_k`` screened architectures into ``<study>-train`` and train
    each briefly; returns {arch: final accuracy}. ``train_data``: the training split when the
    caller already loaded it (``run_search`` does, to check the trained copy before scoring)."""
    from ntknas.data import load_dataset
    from ntknas.study._train import (
        check_trained_copy,
        create_pruner,
        enqueue_top_k,
        make_train_objective,
        top_trials,
    )

    t = config.train
    train_study = optuna.create_study(
        study_name=f"{screen_study.study_name}-train",
        storage=screen_study._storage,
        direction="maximize",
        pruner=create_pruner(t.pruner),
        load_if_exists=True,
    )
    if train_data is None:
        train_data = load_dataset(t.data, split="train", data_dir=t.data_dir, synthetic_size=2000)
    test_data = load_dataset(t.data, split="test", data_dir=t.data_dir, synthetic_size=500)
    top = top_trials(screen_study, 1)
    if top:  # a trained copy or resolution that cannot work fails before anything is enqueued
        check_trained_copy(space, top[0].user_attrs["ntknas:arch"], train_data, t.options())
    enqueued = enqueue_top_k(screen_study, train_study, t.top_k)
    log(
        f"training the top {t.top_k} architectures on {describe(t.data, t.data_dir)} "
        f"({t.epochs} epochs each)"
    )
    objective = make_train_objective(space, train_data, test_data, **t.options())
    waiting = len(train_study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,)))
    if waiting:
        train_study.optimize(objective, n_trials=waiting, catch=(RuntimeError,))
    results = {}
    for trial in train_study.get_trials(deepcopy=False):
        if trial.state == optuna.trial.TrialState.COMPLETE:
            results[trial.user_attrs["ntknas:arch"]] = trial.value
    log(f"trained {len(results)} architectures ({len(enqueued)} newly enqueued)")
    return {"study": train_study.study_name, "accuracy": results}
