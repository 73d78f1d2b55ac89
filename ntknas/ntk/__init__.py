"""Empirical Neural Tangent Kernels: ``empirical_ntk`` and its implementations."""

from __future__ import annotations

from ntknas.ntk._batchnorm import (
    RecordedStatistics,
    batch_statistics,
    constant_statistics,
    from_recorded,
    pass_modes,
    recorded_statistics,
)
from ntknas.ntk._engine import contract_full, empirical_ntk, layerwise_ntk, resolve_implementation
from ntknas.ntk._hooks import hooks_support
from ntknas.ntk._layout import weights_in_layout
from ntknas.ntk._options import (
    BN_MODES,
    IMPLEMENTATIONS,
    KERNELS,
    PARAM_SETS,
    NTKOptions,
    OutputSelector,
    check_choice,
    check_output_selector,
    logits_of,
)
from ntknas.ntk._prepare import reinitialize, select_parameters, tf32_disabled

__all__ = [
    "BN_MODES",
    "IMPLEMENTATIONS",
    "KERNELS",
    "NTKOptions",
    "OutputSelector",
    "PARAM_SETS",
    "batch_statistics",
    "constant_statistics",
    "from_recorded",
    "pass_modes",
    "recorded_statistics",
    "RecordedStatistics",
    "check_choice",
    "check_output_selector",
    "contract_full",
    "empirical_ntk",
    "hooks_support",
    "layerwise_ntk",
    "logits_of",
    "reinitialize",
    "resolve_implementation",
    "select_parameters",
    "tf32_disabled",
    "weights_in_layout",
]
