"""The checks the rules file's tables make of a value: each returns the value as the
service keeps it, or raises ValueError saying what it must be (the caller adds where)."""

from __future__ import annotations

from typing import Any


def words(value: Any, allowed: tuple[str, ...], what: str) -> frozenset[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ValueError(f"must be a non-empty list of {what}")
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise ValueError(f"unknown {what} {unknown}; known: {', '.join(allowed)}")
    return frozenset(value)


def whole(value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"must be a whole number from {low} to {high}")
    return value


def flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value
