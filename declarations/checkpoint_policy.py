"""Whom a checkpoint lets in: the `[checkpoints]` table of the status rules file
(`rules.default.toml`), which the ministry edits with the rest.

`allow` lists the statuses a scan admits; every other is denied. Green is always admitted
(a checkpoint that turns away the healthy is a mistake in the file), and a missing table
admits green only. A mistake stops start-up with a message naming the key.
"""

from __future__ import annotations

from typing import Any

from declarations.rule_values import words
from people.repository import STATUSES, Status


def parse_checkpoints(table: Any) -> frozenset[Status]:
    """`[checkpoints] allow = [...]`, checked; ValueError says what is wrong."""
    if not isinstance(table, dict):
        raise ValueError("[checkpoints] must be a table")
    unknown = sorted(set(table) - {"allow"})
    if unknown:
        raise ValueError(f"[checkpoints]: unknown keys {unknown}; known: allow")
    try:
        allow = words(table.get("allow", ["green"]), STATUSES, "statuses")
    except ValueError as exc:
        raise ValueError(f"[checkpoints]: `allow` {exc}") from None
    if "green" not in allow:
        raise ValueError("[checkpoints]: `allow` must include green")
    return frozenset(status for status in STATUSES if status in allow)
