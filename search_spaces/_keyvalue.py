"""Shared text form and option checks for the macro spaces (cnn, resnet, vit).

A spec reads ``key=value;key=value;...`` in a fixed key order; per-stage lists are joined with
``-`` (``width=16-32-64``). Parsing checks every key, type and range and names the culprit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def check_int_range(key: str, value: Any, *, minimum: int = 1) -> tuple[int, int]:
    """An option ``[low, high]`` of integers with ``minimum <= low <= high``."""
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        raise ValueError(f"option {key!r} must be a [low, high] pair of integers, got {value!r}")
    low, high = value
    if low < minimum or high < low:
        raise ValueError(f"option {key!r} must satisfy {minimum} <= low <= high, got {value!r}")
    return int(low), int(high)


def check_float_range(key: str, value: Any, *, minimum: float = 0.0) -> tuple[float, float]:
    """An option ``[low, high]`` of numbers with ``minimum <= low <= high``."""
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 2
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    ):
        raise ValueError(f"option {key!r} must be a [low, high] pair of numbers, got {value!r}")
    low, high = float(value[0]), float(value[1])
    if low < minimum or high < low:
        raise ValueError(f"option {key!r} must satisfy {minimum} <= low <= high, got {value!r}")
    return low, high


def check_positive_int(key: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"option {key!r} must be a positive integer, got {value!r}")
    return value


def check_choices(key: str, value: Any, allowed: Sequence[str]) -> tuple[str, ...]:
    """An option listing a non-empty subset of ``allowed`` strings."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError(f"option {key!r} must be a non-empty list from {list(allowed)}")
    for v in value:
        if v not in allowed:
            raise ValueError(f"option {key!r}: unknown value {v!r}; allowed: {', '.join(allowed)}")
    return tuple(dict.fromkeys(value))


def check_unknown_options(space: str, given: dict[str, Any], known: Sequence[str]) -> None:
    for key in given:
        if key not in known:
            raise ValueError(
                f"unknown option {key!r} for search space {space!r}; allowed: {', '.join(known)}"
            )


def format_fields(fields: Sequence[tuple[str, Any]]) -> str:
    """``[("a", 1), ("b", (2, 3))]`` → ``"a=1;b=2-3"``."""
    parts = []
    for key, value in fields:
        if isinstance(value, (list, tuple)):
            value = "-".join(str(v) for v in value)
        elif isinstance(value, float):
            value = repr(round(value, 6))
        parts.append(f"{key}={value}")
    return ";".join(parts)


def split_fields(space: str, text: str, keys: Sequence[str]) -> dict[str, str]:
    """Split ``text`` into its fields, requiring exactly ``keys`` in that order."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{space}: empty architecture string; expected {'=...;'.join(keys)}=...")
    parts = text.strip().split(";")
    found: dict[str, str] = {}
    for position, part in enumerate(parts):
        if "=" not in part:
            raise ValueError(f"{space}: field {position} {part!r} is not key=value")
        key, value = part.split("=", 1)
        key = key.strip()
        if key not in keys:
            raise ValueError(
                f"{space}: unknown key {key!r} at field {position}; allowed: {', '.join(keys)}"
            )
        if key in found:
            raise ValueError(f"{space}: key {key!r} given twice")
        found[key] = value.strip()
    missing = [k for k in keys if k not in found]
    if missing:
        raise ValueError(f"{space}: missing key {missing[0]!r} in {text!r}")
    return found


def parse_int(space: str, key: str, value: str, low: int, high: int, step: int = 1) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"{space}: {key}={value!r} is not an integer") from None
    if not low <= number <= high or (number - low) % step:
        allowed = f"{low}..{high}" + (f" in steps of {step}" if step > 1 else "")
        raise ValueError(f"{space}: {key}={number} out of range; allowed: {allowed}")
    return number


def parse_int_list(
    space: str, key: str, value: str, length: int, low: int, high: int, step: int = 1
) -> tuple[int, ...]:
    items = value.split("-")
    if len(items) != length:
        raise ValueError(
            f"{space}: {key} has {len(items)} entries, expected {length} (one per stage)"
        )
    return tuple(
        parse_int(space, f"{key}[{i}]", item, low, high, step) for i, item in enumerate(items)
    )


def parse_float(space: str, key: str, value: str, low: float, high: float, step: float) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{space}: {key}={value!r} is not a number") from None
    off = (number - low) / step
    if not low - 1e-9 <= number <= high + 1e-9 or abs(off - round(off)) > 1e-6:
        raise ValueError(
            f"{space}: {key}={number} out of range; allowed: {low}..{high} in steps of {step}"
        )
    return round(number, 6)


def parse_choice(space: str, key: str, value: str, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ValueError(f"{space}: unknown {key} {value!r}; allowed: {', '.join(allowed)}")
    return value
