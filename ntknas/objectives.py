"""The objectives registry: every name that can be an objective or a score component, once.

Each name declares its direction (which way is better) and what computing it requires — the
passes of :class:`ntknas.scorer.NTKScorer`:

* :data:`KERNEL`: the empirical NTK Θ of the probe batch (the kernel pass);
* :data:`LAYER_KERNELS`: each weight layer's own kernel (same pass; sum or trace kernel);
* :data:`HELDOUT`: held-out test images inside the kernel pass (kernel regression);
* :data:`PROBE_FORWARD`: one no-grad forward of the probe batch (NASWOT, feature signals);
* :data:`BACKWARD_PROBE`: a forward and backward of 8 probe images (backward signals);
* :data:`SYNFLOW`: SynFlow's all-ones float64 forward and backward;
* :data:`ZICO`: ZiCo's cross-entropy gradients of the probe batch, split in two (one forward
  and backward of the probe batch);
* nothing: ``params`` and ``flops`` come from the built network alone.

Kinds: ``"spectral"`` (the spectrum registry of :mod:`ntknas.spectral`, read at lookup time, so
user metrics are included), ``"proxy"`` (signals beside the spectrum, computed with
``NTKScorer(proxies=True)``), ``"kernel_regression"``, ``"layer"`` (per-layer kernels),
``"cost"`` and ``"score"`` (the combined rules of :mod:`ntknas.combined_scores`, always maximized; they
require what their components require). One meaning per name: ``params`` and ``flops`` are
costs, minimized as objectives; a combined score that rewards size says so in its own rule
(``ScoreRule`` components carry their direction), and benchmark baselines that rank by size
say so where they correlate it.

Example:
    >>> get_objective("ntk-agg-v4").requires == {PROBE_FORWARD, BACKWARD_PROBE}
    True
    >>> metric_direction("log_cond"), metric_direction("params")
    ('minimize', 'minimize')
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ntknas.combined_scores import get_score, list_scores
from ntknas.spectral import get_metric, list_metrics

KERNEL = "kernel"
LAYER_KERNELS = "layer_kernels"
HELDOUT = "heldout"
PROBE_FORWARD = "probe_forward"
BACKWARD_PROBE = "backward_probe"
SYNFLOW = "synflow"
ZICO = "zico"

#: Every requirement, in the order the scorer runs the passes.
REQUIREMENTS: tuple[str, ...] = (
    KERNEL,
    LAYER_KERNELS,
    HELDOUT,
    PROBE_FORWARD,
    BACKWARD_PROBE,
    SYNFLOW,
    ZICO,
)

#: Requirements that mean running the kernel pass.
KERNEL_PASS: frozenset[str] = frozenset({KERNEL, LAYER_KERNELS, HELDOUT})

KINDS: tuple[str, ...] = ("spectral", "proxy", "kernel_regression", "layer", "cost", "score")


@dataclass(frozen=True)
class Objective:
    """One objective name: its direction, what it requires and what it is."""

    name: str
    direction: str
    requires: frozenset[str]
    kind: str
    description: str = ""


def _declare(
    name: str, direction: str, requires: Iterable[str], kind: str, description: str
) -> Objective:
    return Objective(name, direction, frozenset(requires), kind, description)


_FORWARD = (PROBE_FORWARD,)
_BACKWARD = (PROBE_FORWARD, BACKWARD_PROBE)  # the backward reuses the forward's BN statistics

_SIGNALS: dict[str, Objective] = {
    o.name: o
    for o in (
        _declare("naswot", "maximize", _FORWARD, "proxy", "activation-pattern log-determinant"),
        _declare(
            "feature_decorrelation",
            "maximize",
            _FORWARD,
            "proxy",
            "Σ over rectifiers of λmin of the channel correlation over positions (MeCo)",
        ),
        _declare(
            "feature_group_decorrelation",
            "maximize",
            _FORWARD,
            "proxy",
            "as feature_decorrelation, over random groups of 8 channels (any width)",
        ),
        _declare(
            "backward_decorrelation",
            "maximize",
            _BACKWARD,
            "proxy",
            "Σ over weight layers of λmin of the back-propagated NTK signal's channel correlation",
        ),
        _declare(
            "backward_group_decorrelation",
            "maximize",
            _BACKWARD,
            "proxy",
            "as backward_decorrelation, over random groups of 8 channels (any width)",
        ),
        *(
            _declare(
                f"{factor}_group{size}_decorrelation",
                "maximize",
                requires,
                "proxy",
                f"as {factor}_group_decorrelation, over random groups of {size} channels",
            )
            for size in (16, 32)
            for factor, requires in (("feature", _FORWARD), ("backward", _BACKWARD))
        ),
        *(
            _declare(
                f"{factor}_group_all_decorrelation",
                "maximize",
                requires,
                "proxy",
                f"as {factor}_group_decorrelation, over every channel (not at most 16 groups)",
            )
            for factor, requires in (("feature", _FORWARD), ("backward", _BACKWARD))
        ),
        *(
            _declare(
                f"{factor}_group{suffix}_decorrelation",
                "maximize",
                requires,
                "proxy",
                f"as {factor}_group_all_decorrelation, {how}",
            )
            for suffix, how in (
                ("_pooled", "the first images' positions pooled (each centred on its own)"),
                ("_pooled_null", "pooled, λmin over its value for independent channels"),
                ("32_pooled_null", "groups of 32, pooled, over its independent-channel value"),
                ("64_pooled_null", "groups of 64, pooled, over its independent-channel value"),
                ("_sum", "summed over the groups (not their mean): counts width"),
                ("_sum_positions", "summed over the groups and positions per image"),
            )
            for factor, requires in (("feature", _FORWARD), ("backward", _BACKWARD))
        ),
        _declare(
            "feature_effective_dimension",
            "maximize",
            _FORWARD,
            "proxy",
            "Σ over rectifiers of log of the participation ratio of the channel correlation",
        ),
        _declare(
            "backward_effective_dimension",
            "maximize",
            _BACKWARD,
            "proxy",
            "as feature_effective_dimension, of the back-propagated NTK signal at weight layers",
        ),
        _declare(
            "kernel_alignment",
            "maximize",
            (KERNEL,),
            "proxy",
            "alignment of the probe kernel with the label kernel",
        ),
        _declare("synflow", "maximize", (SYNFLOW,), "proxy", "SynFlow (Tanaka et al. 2020)"),
        _declare(
            "zico",
            "maximize",
            (ZICO,),
            "proxy",
            "ZiCo (Li et al. 2023): Σ over weight layers of log Σ mean|g| / σ(g), 2 probe halves",
        ),
        _declare(
            "krr_accuracy",
            "maximize",
            (KERNEL, HELDOUT),
            "kernel_regression",
            "NTK kernel regression accuracy on held-out images",
        ),
        _declare(
            "krr_loss",
            "minimize",
            (KERNEL, HELDOUT),
            "kernel_regression",
            "NTK kernel regression loss on held-out images",
        ),
        _declare(
            "layer_lambda_min_cosine",
            "maximize",
            (KERNEL, LAYER_KERNELS),
            "layer",
            "Σ over weight layers of λmin of the layer's cosine-normalized NTK (probe images)",
        ),
        _declare(
            "layer_lambda_min_cosine_all",
            "maximize",
            (KERNEL, LAYER_KERNELS),
            "layer",
            "layer_lambda_min_cosine over every image in the kernel (probe + held-out)",
        ),
        _declare(
            "lambda_min_cosine_all",
            "maximize",
            (KERNEL, LAYER_KERNELS),
            "layer",
            "λmin of the cosine-normalized Θ over every image in the kernel",
        ),
        _declare("params", "minimize", (), "cost", "parameter count"),
        _declare("flops", "minimize", (), "cost", "multiply-accumulates of one forward"),
    )
}


def get_objective(name: str) -> Objective:
    """The registered objective ``name``.

    Raises:
        ValueError: an unknown name (the message lists the known ones).

    Example:
        >>> get_objective("krr_loss").requires == {KERNEL, HELDOUT}
        True
    """
    if name in _SIGNALS:
        return _SIGNALS[name]
    if name in list_scores():
        rule = get_score(name)
        needed: frozenset[str] = frozenset()
        for component in rule.components:
            if component == name or component in list_scores():
                raise ValueError(f"score {name!r}: component {component!r} is a combined score")
            try:
                needed |= get_objective(component).requires
            except ValueError:
                known = ", ".join(list_metrics() + list(_SIGNALS))
                raise ValueError(
                    f"score {name!r} has an unknown component {component!r}; known: {known}"
                ) from None
        return Objective(name, "maximize", needed, "score", rule.description)
    if name in list_metrics():
        metric = get_metric(name)
        return Objective(
            name, metric.direction, frozenset({KERNEL}), "spectral", metric.description
        )
    known = list_scores() + list_metrics() + list(_SIGNALS)
    raise ValueError(f"unknown objective {name!r}; known: {', '.join(known)}")


def objective_names(kind: str | Iterable[str] | None = None) -> list[str]:
    """Every registered name (of one kind or several): scores, spectral metrics, signals, costs.

    Example:
        >>> "params" in objective_names("cost"), "naswot" in objective_names("spectral")
        (True, False)
    """
    kinds = (kind,) if isinstance(kind, str) else tuple(kind) if kind is not None else KINDS
    for k in kinds:
        if k not in KINDS:
            raise ValueError(f"unknown objective kind {k!r}; allowed: {', '.join(KINDS)}")
    names = list_scores() + list_metrics() + list(_SIGNALS)
    if kind is None:
        return names
    return [n for n in names if get_objective(n).kind in kinds]


def metric_direction(name: str) -> str:
    """``"minimize"`` or ``"maximize"`` for an objective name.

    Example:
        >>> metric_direction("log_cond"), metric_direction("ntk-agg-v4")
        ('minimize', 'maximize')
    """
    return get_objective(name).direction


def requirements(names: Iterable[str]) -> frozenset[str]:
    """What computing every one of ``names`` requires (the union).

    Example:
        >>> sorted(requirements(["ntk-agg-v4", "params"]))
        ['backward_probe', 'probe_forward']
    """
    needed: frozenset[str] = frozenset()
    for name in names:
        needed |= get_objective(name).requires
    return needed


def computed_by(requirement: str) -> tuple[str, ...]:
    """The signals (not spectral metrics or scores) whose requirements include ``requirement``
    and no kernel pass unless ``requirement`` is one: the names that pass produces.

    Example:
        >>> computed_by(HELDOUT)
        ('krr_accuracy', 'krr_loss')
    """
    if requirement not in REQUIREMENTS:
        raise ValueError(f"unknown requirement {requirement!r}; allowed: {', '.join(REQUIREMENTS)}")
    return tuple(
        o.name
        for o in _SIGNALS.values()
        if requirement in o.requires
        and (requirement in KERNEL_PASS or not o.requires & KERNEL_PASS)
    )


def signal_names() -> list[str]:
    """The per-architecture signals beside the spectrum: proxies, kernel regression and the
    per-layer kernel signals (not costs, spectral metrics or scores).

    Example:
        >>> "krr_loss" in signal_names(), "params" in signal_names()
        (True, False)
    """
    return objective_names(("proxy", "kernel_regression", "layer"))


def probe_signal_names() -> tuple[str, ...]:
    """The signals of one probe pass (:func:`ntknas.proxies.probe_signals`): no kernel.

    Example:
        >>> probe_signal_names()[:2]
        ('naswot', 'feature_decorrelation')
    """
    return tuple(
        o.name
        for o in _SIGNALS.values()
        if o.requires and o.requires <= {PROBE_FORWARD, BACKWARD_PROBE}
    )
