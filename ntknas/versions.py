"""The versions that produced a result, recorded next to every table and study folder."""

from __future__ import annotations

import importlib.metadata
import platform
from typing import Any


def versions() -> dict[str, Any]:
    """Versions of what produced a result: Python, torch, CUDA, optuna, ntknas, the device.

    Needs no Optuna: the benchmarks run where it is not installed (``optuna`` is then None).

    Example:
        >>> sorted(versions())[:3]
        ['cuda', 'cuda_available', 'gpu']
    """
    import numpy
    import torch

    import ntknas

    try:
        optuna_version: str | None = importlib.metadata.version("optuna")
    except importlib.metadata.PackageNotFoundError:
        optuna_version = None
    return {
        "ntknas": ntknas.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "optuna": optuna_version,
        "numpy": numpy.__version__,
        "platform": platform.platform(),
    }
