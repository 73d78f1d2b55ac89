"""Optuna integration: the training-free objective, batched screening, screen → train,
storages, and rankings rebuilt from any storage. (The ``ntknas search`` / ``worker`` plumbing
is in ``ntknas.study._run``.)

Example:
    >>> import optuna, search_spaces
    >>> from ntknas.scorer import NTKScorer
    >>> from ntknas.study import make_objective, DegenerateKernelError
    >>> space = search_spaces.create_search_space("nb201")
    >>> study = optuna.create_study(direction="minimize")
    >>> study.optimize(make_objective(space, NTKScorer(batch_size=8)), n_trials=2,
    ...                catch=(DegenerateKernelError,))
"""

from __future__ import annotations

from ntknas.study._objective import (
    ATTR_PREFIX,
    Budget,
    DegenerateKernelError,
    ScoreCache,
    evaluate_spec,
    make_objective,
    objective_directions,
    record_result,
)
from ntknas.study._report import ranking_rows, summary_table, write_results
from ntknas.study._samplers import SAMPLERS, create_sampler
from ntknas.study._screen import accounted_trials, screen
from ntknas.study._storage import StorageError, create_storage
from ntknas.study._train import (
    NotEnqueuedError,
    build_trained_model,
    create_pruner,
    enqueue_for_training,
    enqueue_top_k,
    make_train_objective,
    top_trials,
    trained_copy,
)

__all__ = [
    "ATTR_PREFIX",
    "Budget",
    "DegenerateKernelError",
    "NotEnqueuedError",
    "SAMPLERS",
    "ScoreCache",
    "StorageError",
    "accounted_trials",
    "build_trained_model",
    "create_pruner",
    "create_sampler",
    "create_storage",
    "enqueue_for_training",
    "enqueue_top_k",
    "evaluate_spec",
    "make_objective",
    "make_train_objective",
    "objective_directions",
    "ranking_rows",
    "record_result",
    "screen",
    "summary_table",
    "top_trials",
    "trained_copy",
    "write_results",
]
