"""The `policy` check: does this certificate satisfy the ministry's acceptance policy
(`[certificates]` in the status rules) at this moment? Both formats are judged alike, from
the `Facts` their decoders read."""

from __future__ import annotations

from datetime import datetime, timedelta

from certificates.checks import OK, Check, Facts, failed
from declarations.acceptance import AcceptancePolicy

# A test sampled a little "in the future" is a scanner's or a lab's clock, not a forgery.
_CLOCK_SKEW = timedelta(minutes=5)


def judge(facts: Facts, policy: AcceptancePolicy, *, now: datetime) -> Check:
    if facts.type is None:
        return failed("unknown_type")
    if facts.type not in policy.accept:
        return failed("type_not_accepted")
    today = now.date()
    if facts.type == "vaccination":
        if facts.doses < policy.vaccination_min_doses or facts.last_dose is None:
            return failed("too_few_doses")
        if policy.vaccination_complete_series and facts.series and facts.doses < facts.series:
            return failed("too_few_doses")
        days = (today - facts.last_dose).days
        if days < policy.vaccination_min_days:
            return failed("too_soon_after_dose")
        if policy.vaccination_max_days and days > policy.vaccination_max_days:
            return failed("too_long_after_dose")
        return OK
    if facts.type == "test":
        # The kind first: a result of a test the policy does not know is not "positive".
        if facts.test_kind not in ("pcr", "rapid") or facts.sampled_at is None:
            return failed("test_kind")
        if not facts.test_negative:
            return failed("test_positive")
        hours = (
            policy.test_max_hours_pcr if facts.test_kind == "pcr" else policy.test_max_hours_rapid
        )
        if facts.sampled_at > now + _CLOCK_SKEW:
            return failed("not_yet_valid")
        if now - facts.sampled_at > timedelta(hours=hours):
            return failed("test_too_old")
        return OK
    if facts.first_positive is None:
        return failed("recovery_not_valid")
    if (today - facts.first_positive).days > policy.recovery_max_days:
        return failed("recovery_not_valid")
    if facts.valid_from is not None and today < facts.valid_from:
        return failed("recovery_not_valid")
    if facts.valid_until is not None and today > facts.valid_until:
        return failed("recovery_not_valid")
    return OK
