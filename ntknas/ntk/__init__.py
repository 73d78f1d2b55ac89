"""Empirical Neural Tangent Kernels: ``empirical_ntk`` and its implementations."""

from __future__ import annotations

from ntknas.ntk._engine import (
    BN_MODES,
    IMPLEMENTATIONS,
    KERNELS,
    PARAM_SETS,
    OutputSelector,
    batch_statistics,
    check_output_selector,
    contract_full,
    empirical_ntk,
    layerwise_ntk,
    logits_of,
    reinitialize,
    resolve_implementation,
    select_parameters,
    tf32_disabled,
)
from ntknas.ntk._hooks import hooks_support

__all__ = [
    "BN_MODES",
    "IMPLEMENTATIONS",
    "KERNELS",
    "OutputSelector",
    "PARAM_SETS",
    "batch_statistics",
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
]
