"""Search spaces: a registry of architecture families (timm-style).

Example:
    >>> import search_spaces
    >>> space = search_spaces.create_search_space("nb201")
    >>> spec = space.sample(0)
    >>> space.parse(spec.to_string()) == spec
    True
"""

from __future__ import annotations

# Built-in spaces register themselves on import.
from search_spaces import autoformer, cnn, nb101, nb201, nbmacro, pit, resnet, vit  # noqa: F401
from search_spaces._registry import (
    ENTRY_POINT_GROUP,
    create_search_space,
    list_search_spaces,
    register_search_space,
    unregister_search_space,
)
from search_spaces.base import ArchSpec, Cost, SearchSpace, count_flops, count_parameters
from search_spaces.builder import BuilderError, BuilderSpace, from_builder

__all__ = [
    "ENTRY_POINT_GROUP",
    "ArchSpec",
    "BuilderError",
    "BuilderSpace",
    "Cost",
    "SearchSpace",
    "count_flops",
    "count_parameters",
    "create_search_space",
    "from_builder",
    "list_search_spaces",
    "register_search_space",
    "unregister_search_space",
]
