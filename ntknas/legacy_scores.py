"""The earlier combined-score rules, kept so that published tables can be recomputed.

They left the main registry when ``ntk-agg-v4`` and then ``ntk-agg-v6`` replaced them; the
benchmarks load them with ``--legacy-scores`` (``ntknas --legacy-scores bench ...``), Python with
:func:`register_legacy_scores`. How each was chosen (see results/nb201/README.md for what was
known from the dev table at each time):

* ``ntk-agg-v1``: NTK trainability (``log_cond`` ↓ of the sum kernel), NTK kernel
  regression on held-out probe images (``krr_loss`` ↓), activation-pattern expressivity
  (``naswot`` ↑), and complexity (``flops`` ↑).
* ``ntk-only-v1``: the NTK alone: ``log_cond`` ↓, ``krr_loss`` ↓ and the kernel's trace ↑ (the
  summed squared gradient norm).
* ``ntk-agg-v2`` (the default before ``ntk-agg-v4``): ``ntk-agg-v1`` plus feature decorrelation
  (``feature_decorrelation`` ↑, MeCo's signal, from the same no-grad forward as NASWOT).
  Fixed before it was measured on any architecture; the reason to add it is MeCo's published
  Spearman ρ 0.89 on NAS-Bench-201 CIFAR-10, not our dev table. It became the default
  *after* it was measured (NAS-Bench-201 dev table τ 0.700 vs 0.661 for v1; ResNet/ViT short
  training: not better, see results/nb201/README.md).
* ``ntk-only-v2``: ``ntk-only-v1`` plus the per-layer NTK signal ``layer_lambda_min_cosine`` ↑
  (λmin of each weight layer's cosine-normalized NTK, summed over layers).
* ``ntk-agg-v3``: ``ntk-agg-v2`` plus ``layer_lambda_min_cosine`` ↑.

  Both were fixed (and committed) before ``layer_lambda_min_cosine`` was computed for any
  architecture of the dev table; the reason to add it is the per-layer sums of ZiCo and MeCo
  (every layer that separates the probe images counts, not only the layers with the largest
  gradients), not a measurement.
* ``ntk-only-v3``: the per-layer NTK signal alone, over every image in the kernel
  (``layer_lambda_min_cosine_all`` ↑: the 64 probe and 64 held-out images of the default
  setting instead of the probe block). Fixed (and committed) before it was computed for any
  architecture, but *informed by the dev table*: the split-half search found the per-layer
  signal alone the best NTK-only rule (adding weaker NTK terms diluted it), and every NTK
  metric ranked better with a bigger probe batch (B = 10 → 16 → 64). Written down in
  results/nb201/README.md.
* ``ntk-agg-v5``: ``ntk-agg-v4`` plus the kernel's own per-layer spectrum
  (``layer_lambda_min_cosine_all`` ↑), so that an eigenvalue of Θ itself stays in the score.
  Fixed after the same pilot (τ 0.737 there, below ``ntk-agg-v4``) and before any held-out
  evaluation.

Example:
    >>> from ntknas.combined_scores import list_scores
    >>> "ntk-agg-v2" in list_scores()
    False
    >>> names = register_legacy_scores()
    >>> "ntk-agg-v2" in list_scores() and register_legacy_scores() == []  # idempotent
    True
    >>> unregister_legacy_scores()  # leave the registry as it was
"""

from __future__ import annotations

from ntknas.combined_scores import ScoreRule, list_scores, register_score, unregister_score

LEGACY_RULES: tuple[ScoreRule, ...] = (
    ScoreRule(
        "ntk-agg-v1",
        {"log_cond": "minimize", "krr_loss": "minimize", "naswot": "maximize", "flops": "maximize"},
        "NTK trainability + NTK kernel regression + activation-pattern expressivity + FLOPs",
    ),
    ScoreRule(
        "ntk-only-v1",
        {"log_cond": "minimize", "krr_loss": "minimize", "trace": "maximize"},
        "NTK only: condition number, kernel regression on held-out images, trace",
    ),
    ScoreRule(
        "ntk-only-v2",
        {
            "log_cond": "minimize",
            "krr_loss": "minimize",
            "trace": "maximize",
            "layer_lambda_min_cosine": "maximize",
        },
        "ntk-only-v1 + λmin of each weight layer's cosine-normalized NTK, summed over layers",
    ),
    ScoreRule(
        "ntk-only-v3",
        {"layer_lambda_min_cosine_all": "maximize"},
        "NTK only: λmin of each weight layer's cosine-normalized NTK over probe and held-out "
        "images, summed over layers",
    ),
    ScoreRule(
        "ntk-agg-v2",
        {
            "log_cond": "minimize",
            "krr_loss": "minimize",
            "naswot": "maximize",
            "feature_decorrelation": "maximize",
            "flops": "maximize",
        },
        "ntk-agg-v1 + feature decorrelation at the rectifiers (MeCo's signal)",
    ),
    ScoreRule(
        "ntk-agg-v5",
        {
            "feature_decorrelation": "maximize",
            "backward_decorrelation": "maximize",
            "layer_lambda_min_cosine_all": "maximize",
        },
        "ntk-agg-v4 + λmin of each weight layer's cosine-normalized NTK over probe and held-out "
        "images, summed over layers",
    ),
    ScoreRule(
        "ntk-agg-v3",
        {
            "log_cond": "minimize",
            "krr_loss": "minimize",
            "naswot": "maximize",
            "feature_decorrelation": "maximize",
            "flops": "maximize",
            "layer_lambda_min_cosine": "maximize",
        },
        "ntk-agg-v2 + λmin of each weight layer's cosine-normalized NTK, summed over layers",
    ),
)


def register_legacy_scores() -> list[str]:
    """Register the earlier rules that are not registered yet; returns their names."""
    added = []
    for rule in LEGACY_RULES:
        if rule.name not in list_scores():
            register_score(rule)
            added.append(rule.name)
    return added


def unregister_legacy_scores() -> None:
    """Remove the earlier rules from the registry (those registered)."""
    for rule in LEGACY_RULES:
        if rule.name in list_scores():
            unregister_score(rule.name)
