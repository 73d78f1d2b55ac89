"""Training-free signals beside the NTK spectrum, from the same probe images.

* :func:`activation_codes` / :func:`naswot`: the activation-pattern expressivity of NASWOT
  (Mellor et al. 2021): the log-determinant of the Hamming-similarity kernel of the binary
  patterns that a batch switches on in the network's rectifying activations.
* :func:`krr_metrics`: kernel ridge regression with the architecture's own empirical NTK — fit on
  labeled probe images, predict held-out ones — the label-aware use of the NTK's
  kernel-regression equivalence.
* :func:`kernel_target_alignment`: how well a kernel lines up with the label kernel Y Yᵀ.
* :func:`feature_decorrelation`: how far from redundant the channels entering each rectifier
  are — the smallest eigenvalue of their correlation matrix over spatial positions (tokens),
  summed over rectifiers (the signal of MeCo, Jiang et al. 2023, on rectifier inputs).
* :func:`rectifier_signals`: NASWOT and feature decorrelation from one shared forward;
  :func:`probe_signals`: those and backward decorrelation (one forward more, of 8 images).
* :func:`backward_decorrelation`: the backward twin of feature decorrelation, an NTK signal —
  how far from redundant the channels of the gradient that the NTK's output direction sends
  back to each weight layer's output are, summed over weight layers.
* :func:`synflow`: the SynFlow baseline (Tanaka et al. 2020) as the zero-cost-proxy
  literature computes it: absolute weights, an all-ones input, double precision.
* :func:`zico`: the ZiCo baseline (Li et al. 2023): per weight layer, the log of the summed
  mean-over-deviation of each weight's cross-entropy gradient over two halves of the probe
  batch, summed over layers.
* :func:`layer_gradient_decorrelation` (``layer_lambda_min_cosine``): an NTK signal — λmin of
  each weight layer's own cosine-normalized NTK, summed over layers (on the probe images);
  ``layer_lambda_min_cosine_all`` and ``lambda_min_cosine_all``: the per-layer and whole-kernel
  signals over every image in the kernel (probe + held-out), from the same pass.

Each signal's direction and the passes it needs are declared in :mod:`ntknas.objectives`.
"""

from __future__ import annotations

from ntknas.proxies._pass import RECTIFIERS, WEIGHT_LAYERS, BatchStatistics, probe_logits
from ntknas.proxies.activation import (
    activation_agreement,
    activation_codes,
    naswot,
    naswot_from_kernel,
)
from ntknas.proxies.baselines import (
    SYNFLOW_OF_ZERO,
    ZICO_OF_NONE,
    LabelRangeError,
    synflow,
    zico,
    zico_terms,
)
from ntknas.proxies.decorrelation import (
    GROUP_CHANNELS,
    MAX_GROUPS,
    GroupReading,
    backward_decorrelation,
    backward_signals,
    channel_correlation_min_eig,
    feature_decorrelation,
    probe_signals,
    rectifier_signals,
)
from ntknas.proxies.kernel import (
    kernel_target_alignment,
    krr_metrics,
    layer_gradient_decorrelation,
    one_hot_targets,
)

__all__ = [
    "BatchStatistics",
    "GROUP_CHANNELS",
    "MAX_GROUPS",
    "GroupReading",
    "LabelRangeError",
    "RECTIFIERS",
    "SYNFLOW_OF_ZERO",
    "WEIGHT_LAYERS",
    "ZICO_OF_NONE",
    "activation_agreement",
    "activation_codes",
    "backward_decorrelation",
    "channel_correlation_min_eig",
    "backward_signals",
    "feature_decorrelation",
    "kernel_target_alignment",
    "krr_metrics",
    "layer_gradient_decorrelation",
    "naswot",
    "naswot_from_kernel",
    "one_hot_targets",
    "probe_logits",
    "probe_signals",
    "rectifier_signals",
    "synflow",
    "zico",
    "zico_terms",
]
