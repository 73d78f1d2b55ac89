"""``ntknas.optuna``: the Optuna plugin API under the name Optuna users look for.

It is :mod:`ntknas.study` (one implementation, re-exported).
"""

from __future__ import annotations

from ntknas.study import *  # noqa: F401,F403
from ntknas.study import __all__  # noqa: F401
