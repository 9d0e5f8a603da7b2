"""The acceptance policy for certificates from abroad: the `[certificates]` table of the
status rules file (`rules.default.toml`), which the ministry edits with the rest.

Every key is optional; a missing one keeps the default below. Unknown keys and values out of
range stop start-up with a message naming the key, like a mistake in a rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from declarations.rule_values import flag, whole

CertificateType = Literal["vaccination", "test", "recovery"]
CERTIFICATE_TYPES: tuple[CertificateType, ...] = get_args(CertificateType)


@dataclass(frozen=True)
class AcceptancePolicy:
    accept: frozenset[CertificateType] = frozenset(CERTIFICATE_TYPES)
    # Doses a vaccination certificate must show (EU: the dose number; SMART: the doses
    # listed), and whether an EU certificate must complete its series (dose n of n).
    vaccination_min_doses: int = 1
    vaccination_complete_series: bool = True
    vaccination_min_days: int = 14
    vaccination_max_days: int = 0  # 0: no limit
    test_max_hours_pcr: int = 72
    test_max_hours_rapid: int = 48
    recovery_max_days: int = 180


_LIMITS: Mapping[str, tuple[int, int]] = {
    "vaccination_min_doses": (1, 9),
    "vaccination_min_days": (0, 365),
    "vaccination_max_days": (0, 3650),
    "test_max_hours_pcr": (1, 24 * 14),
    "test_max_hours_rapid": (1, 24 * 14),
    "recovery_max_days": (1, 3650),
}


def parse_acceptance(table: Any) -> AcceptancePolicy:
    """An AcceptancePolicy from the `[certificates]` table; ValueError names what is wrong."""
    if not isinstance(table, dict):
        raise ValueError("[certificates] must be a table")
    known = {"accept", "vaccination_complete_series", *_LIMITS}
    unknown = sorted(set(table) - known)
    if unknown:
        raise ValueError(f"[certificates]: unknown keys {unknown}; known: {', '.join(known)}")
    values: dict[str, Any] = {}
    if "accept" in table:
        accept = table["accept"]
        if not isinstance(accept, list) or not all(a in CERTIFICATE_TYPES for a in accept):
            raise ValueError(
                "[certificates]: `accept` must be a list of " + ", ".join(CERTIFICATE_TYPES)
            )
        values["accept"] = frozenset(accept)
    if "vaccination_complete_series" in table:
        try:
            values["vaccination_complete_series"] = flag(table["vaccination_complete_series"])
        except ValueError as exc:
            raise ValueError(f"[certificates]: `vaccination_complete_series` {exc}") from None
    for name, (low, high) in _LIMITS.items():
        if name not in table:
            continue
        try:
            values[name] = whole(table[name], low, high)
        except ValueError as exc:
            raise ValueError(f"[certificates]: `{name}` {exc}") from None
    return AcceptancePolicy(**values)
