"""Issue #18, seventh round: the effective dimension of each layer's channels (the participation
ratio of their correlation) as a component.

Fixed (and committed) before any candidate below was scored on any space or table:

* **Question.** Every default so far reads each layer through λmin of channel correlations
  (MeCo's signal, or its random groups of 8): how far the *least* independent direction is from
  0. The participation ratio (Σλ)² / Σλ² of the same correlation reads how many independent
  directions the layer's channels spread over (its log is the Rényi-2 entropy of the spectrum,
  the quantity behind AZ-NAS's expressivity): defined for any ratio of channels to
  observations (computed from the Gram matrix of the smaller side, no eigendecomposition), 0
  for one direction, ≈ log C for C independent channels, so width counts only where it adds
  directions. ``ntknas/proxies/dimension.py``; ``feature_effective_dimension`` (Σ over
  rectifier inputs) and ``backward_effective_dimension`` (Σ over weight-layer outputs of the
  back-propagated NTK signal), the first 8 images' positions pooled.
* **Default candidates** (``ROUND7.candidates``; unweighted rank aggregation Σ log(rank/N)): the
  incumbent ``groups-all+flops`` (``ntk-agg-v7``); ``dimensions+flops`` (both effective
  dimensions + FLOPs); ``dimensions`` (both, no FLOPs); ``groups-all+dimensions`` (the two group
  signals and the two dimensions, no FLOPs).
* **NTK-only candidates** (``ROUND7.all_ntk_only``; no size, FLOPs or forward-activation term): the
  incumbent ``ntk-only-v6`` (round 1's pilot figures); ``backward-dimension``;
  ``backward-all+dimension`` (backward groups over every channel + backward dimension). The
  report gives each dimension's Kendall τ with #params (``<name>~params``).
* **Pilot** (``--stage pilot``): round 1's pilot rows, as rounds 2–6. Selections as round 6:
  the highest minimum τ (default) and the highest minimum τ − τ(#params) (NTK-only), the
  incumbent within 0.005.
* **Judge** (``--stage judge``; after the selections are committed). Fresh: NAS-Bench-201 300
  dev cells after rounds 1–6's 1,400 (``skip=1400``). Seen (no rule of this round chosen
  there): NAS-Bench-Macro ``skip=1200``, NB101 ``shard 1/2``, AutoFormer kd and PiT round 1's
  evaluation part. Θ's trace is computed on NB201 and NAS-Bench-Macro only if the NTK-only
  selection is not the incumbent.
* **Decision** (as round 6): a default selection other than the incumbent replaces
  ``ntk-agg-v7`` (as ``ntk-agg-v8``) only if its minimum τ over all judge tables is above the
  incumbent's, its mean over them and over the fresh ones at least the incumbent's, and its
  cost ≤ 2× one training step. An NTK-only selection replaces ``ntk-only-v6`` only if its
  minimum τ − τ(#params) over the NB201 and NAS-Bench-Macro judge tables is above the
  incumbent's. Everything is reported whatever the outcome.

Run::

    cd experiments
    python cross_space_round7.py --stage pilot --tables nb201-c10,nb201-c100,nb201-in16,nb101 --output A.json &
    python cross_space_round7.py --stage pilot --tables nbmacro,autoformer-kd,pit-base,pit-kd --output B.json; wait
    python cross_space_round7.py --stage pilot --combine A.json B.json --output ../results/cross_space/round7_pilot.json
    # the same with --stage judge (--selected ../results/cross_space/round7_pilot.json on
    # each part and on --combine)
"""

from __future__ import annotations

from cross_space_round6 import INCUMBENT, MAX, Round, group_pair

_DIMENSIONS = {"feature_effective_dimension": MAX, "backward_effective_dimension": MAX}

#: Round 7: the effective dimensions.
ROUND7 = Round(
    candidates={
        INCUMBENT: {**group_pair("_all"), "flops": MAX},  # ntk-agg-v7
        "dimensions+flops": {**_DIMENSIONS, "flops": MAX},
        "dimensions": _DIMENSIONS,
        "groups-all+dimensions": {**group_pair("_all"), **_DIMENSIONS},
    },
    ntk_only={
        "backward-dimension": {"backward_effective_dimension": MAX},
        "backward-all+dimension": {
            "backward_group_all_decorrelation": MAX,
            "backward_effective_dimension": MAX,
        },
    },
    needs=[*group_pair("_all"), *_DIMENSIONS, "naswot", "flops", "params"],
    with_params=list(_DIMENSIONS),
    judge_skip=1400,
)


if __name__ == "__main__":
    ROUND7.main(__doc__)
