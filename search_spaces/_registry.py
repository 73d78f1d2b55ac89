"""The search-space registry: names → space classes or factories, entry points, import paths."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any, TypeVar

from search_spaces.base import SearchSpace
from search_spaces.builder import from_builder

ENTRY_POINT_GROUP = "ntknas.search_spaces"

_REGISTRY: dict[str, Callable[..., SearchSpace]] = {}
_entry_points_loaded = False

T = TypeVar("T", bound=Callable[..., SearchSpace])


def register_search_space(name: str) -> Callable[[T], T]:
    """Register a search space class or factory under ``name``; a second registration raises.

    Example:
        >>> @register_search_space("my_space")  # doctest: +SKIP
        ... class MySpace(SearchSpace): ...
    """

    def decorator(factory: T) -> T:
        if name in _REGISTRY:
            raise ValueError(f"a search space named {name!r} is already registered")
        _REGISTRY[name] = factory
        return factory

    return decorator


def unregister_search_space(name: str) -> None:
    """Remove a registered search space (tests and examples register temporary ones).

    Raises:
        KeyError: no space of that name.
    """
    if name not in _REGISTRY:
        raise KeyError(f"no search space named {name!r} is registered")
    del _REGISTRY[name]


def _load_entry_points() -> None:
    """Import third-party spaces from the ``ntknas.search_spaces`` entry-point group once."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in _REGISTRY:
            continue
        loaded = ep.load()
        if ep.name not in _REGISTRY and callable(loaded):
            _REGISTRY[ep.name] = loaded


def list_search_spaces(pattern: str = "*") -> list[str]:
    """Registered search space names matching a glob ``pattern``, sorted."""
    _load_entry_points()
    return sorted(n for n in _REGISTRY if fnmatch.fnmatch(n, pattern))


def create_search_space(name: str, **options: Any) -> SearchSpace:
    """Create the search space ``name`` with its options (ranges); see each space's docstring.
    ``module:function`` imports a SearchSpace class, or a define-by-run ``build(trial)``
    function that :func:`from_builder` wraps.

    Raises:
        ValueError: unknown name (the message lists the known ones) or a bad option.
    """
    _load_entry_points()
    if name not in _REGISTRY and ":" in name:
        return _from_import_path(name, **options)
    if name not in _REGISTRY:
        raise ValueError(
            f"unknown search space {name!r}; known: {', '.join(sorted(_REGISTRY))}, "
            "or module:function naming a SearchSpace class or a build(trial) function"
        )
    return _REGISTRY[name](**options)


def _from_import_path(path: str, **options: Any) -> SearchSpace:
    """``package.module:attr``: a SearchSpace class / factory, or a define-by-run
    ``build(trial)`` function (wrapped with :func:`from_builder`, named by the path)."""
    import importlib
    import inspect

    module_name, _, attr = path.partition(":")
    try:
        target = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"search space {path!r} cannot be imported: {error}") from None
    if inspect.isclass(target) and issubclass(target, SearchSpace):
        return target(**options)
    if callable(target):
        shape = options.pop("input_shape", (3, 32, 32))
        if options:
            raise ValueError(
                f"unknown option {next(iter(options))!r} for builder space {path!r}; "
                "allowed: input_shape"
            )
        return from_builder(target, name=path, input_shape=tuple(shape))
    raise ValueError(f"search space {path!r} is neither a SearchSpace class nor a builder")
