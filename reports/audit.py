"""Who pulled which report, when: a log line and an `audit_log` document per request.

The document outlives log rotation (it expires after `AUDIT_RETENTION`). Neither holds any
row of the report, only the validated parameters, so the audit trail is not itself a copy
of the data it protects.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, Literal

from accounts.tokens import Principal
from core.clock import new_id
from core.logging import log_event
from core.storage import Store
from reports import repository

log = logging.getLogger(__name__)

AUDIT_RETENTION = timedelta(days=365)

ReportName = Literal["declarations", "checkpoints"]


async def record_report_request(
    store: Store,
    principal: Principal,
    report: ReportName,
    params: dict[str, Any],
    *,
    now: datetime,
) -> str:
    """Stored before the report is computed: no audit entry, no report (a write failure is a
    503, never an unrecorded read)."""
    entry_id = new_id("aud")
    await repository.insert_audit_entry(
        store,
        {
            "_id": entry_id,
            "user": principal.subject,
            "role": principal.role,
            "report": report,
            "params": params,
            "at": now,
            "expires_at": now + AUDIT_RETENTION,
        },
    )
    log_event(
        log,
        "report requested",
        audit_id=entry_id,
        user=principal.subject,
        role=principal.role,
        report=report,
        params=params,
    )
    return entry_id
