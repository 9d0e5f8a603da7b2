"""How medical monitoring runs: the `[monitoring]` table of the status rules file
(`rules.default.toml`), which the ministry edits with the rest.

Every key is optional; a missing one keeps the default below. Unknown keys and values out of
range stop start-up with a message naming the key, like a mistake in a rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from declarations.rule_values import whole


@dataclass(frozen=True)
class MonitoringPolicy:
    # Days of follow-up by the episode's reason, when an officer names none.
    days_contact: int = 14
    days_entry: int = 14
    days_case: int = 14
    days_other: int = 14
    # A report at or above this temperature (°C) flags fever.
    fever_celsius: float = 38.0
    # Days without a report before an episode needs attention (`no_report`).
    no_report_days: int = 1
    # From this local hour (Vietnam), people who have not reported today are reminded.
    remind_from_hour: int = 18

    def days_for(self, reason: str) -> int:
        days: int = getattr(self, f"days_{reason}", self.days_other)
        return days


_WHOLE: Mapping[str, tuple[int, int]] = {
    "days_contact": (1, 60),
    "days_entry": (1, 60),
    "days_case": (1, 60),
    "days_other": (1, 60),
    "no_report_days": (1, 14),
    "remind_from_hour": (0, 23),
}


def parse_monitoring(table: Any) -> MonitoringPolicy:
    """A MonitoringPolicy from the `[monitoring]` table; ValueError names what is wrong."""
    if not isinstance(table, dict):
        raise ValueError("[monitoring] must be a table")
    known = {"fever_celsius", *_WHOLE}
    unknown = sorted(set(table) - known)
    if unknown:
        raise ValueError(f"[monitoring]: unknown keys {unknown}; known: {', '.join(sorted(known))}")
    values: dict[str, Any] = {}
    for name, (low, high) in _WHOLE.items():
        if name not in table:
            continue
        try:
            values[name] = whole(table[name], low, high)
        except ValueError as exc:
            raise ValueError(f"[monitoring]: `{name}` {exc}") from None
    if "fever_celsius" in table:
        fever = table["fever_celsius"]
        if isinstance(fever, bool) or not isinstance(fever, int | float) or not 37 <= fever <= 40:
            raise ValueError("[monitoring]: `fever_celsius` must be a number from 37 to 40")
        values["fever_celsius"] = float(fever)
    return MonitoringPolicy(**values)
