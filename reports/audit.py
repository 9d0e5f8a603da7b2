"""Who pulled which report, or changed what the service trusts or what a citizen was told,
when: a log line and an `audit_log` document per request.

The document outlives log rotation (it expires after `AUDIT_RETENTION`). Neither holds any
row of the report, only the validated parameters, so the audit trail is not itself a copy
of the data it protects.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal, Protocol

from core.clock import VIETNAM, new_id, utcnow
from core.logging import log_event
from core.principals import Principal
from core.storage import Document, Insert, Store
from reports import repository

log = logging.getLogger(__name__)

AUDIT_RETENTION = timedelta(days=365)

ReportName = Literal["declarations", "checkpoints", "questions", "arrivals", "monitoring"]


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


def audited_change(
    principal: Principal,
    action: str,
    params: dict[str, Any],
    *,
    now: datetime,
    target: str | None = None,
) -> Insert:
    """The audit entry of an administrative change, to write in the same atomic batch as
    the change itself: no entry, no change. `params` name what changed (ids, countries),
    never a secret; `target` is the id of the thing changed (`qst_…`), when there is one.
    A citizen's own change names no account: the audit log answers for staff, and an
    account id kept there for a year would outlive the account's erasure (`DELETE /v1/me`
    finds entries by what they are about, not by who made them)."""
    user = None if principal.role == "citizen" else principal.subject
    return actor_change(user, principal.role, action, params, now=now, target=target)


def actor_change(
    user: str | None,
    role: str,
    action: str,
    params: dict[str, Any],
    *,
    now: datetime,
    target: str | None = None,
) -> Insert:
    """`audited_change` for an actor that is not a signed-in caller: an operator's command
    (`user` "cli:<OS user>", role "admin": `core.principals.shell_operator`) or the service
    itself (`user` None, role "system", as when repeated wrong passwords lock a sign-in)."""
    entry_id = new_id("aud")
    log_event(
        log, "change audited", audit_id=entry_id, user=user, role=role, action=action, params=params
    )
    return Insert(
        "audit_log",
        {
            "_id": entry_id,
            "user": user,
            "role": role,
            "action": action,
            **({"target": target} if target is not None else {}),
            "params": params,
            "at": now,
            "expires_at": now + AUDIT_RETENTION,
        },
    )


def access_entry(
    principal: Principal,
    action: str,
    *,
    person_id: str | None,
    subject_id: str,
    now: datetime,
    account_id: str | None = None,
) -> Insert:
    """The audit entry of a staff member seeing or acting on one person's record (an
    officer's worklist, a monitoring call), written in the same batch as what it records.
    It names the person by id only, so the citizen's access log can find it; an
    organisation's read also names the organisation, which the citizen is shown. What is
    the account's own rather than a person's (a question it asked) names the account
    instead (`account_id`), for the same log; erasing the account makes it anonymous."""
    return Insert(
        "audit_log",
        {
            "_id": new_id("aud"),
            "user": principal.subject,
            "role": principal.role,
            "action": action,
            **({"organisation": principal.organisation} if principal.organisation else {}),
            "person_id": person_id,
            **({"account_id": account_id} if account_id is not None else {}),
            "subject_id": subject_id,
            "at": now,
            "expires_at": now + AUDIT_RETENTION,
        },
    )


def erasure_entry(action: str, params: dict[str, Any], *, now: datetime) -> Insert:
    """The audit entry of an erasure a citizen asked for: that it happened and how much it
    erased, and nothing about whose data it was (neither the account nor the people: both
    are gone, and the entry must not become the one record of them that is left)."""
    entry_id = new_id("aud")
    log_event(log, "erasure audited", audit_id=entry_id, action=action, params=params)
    return Insert(
        "audit_log",
        {
            "_id": entry_id,
            "user": None,
            "role": "citizen",
            "action": action,
            "params": params,
            "at": now,
            "expires_at": now + AUDIT_RETENTION,
        },
    )


def audit_read_entry(
    principal: Principal, filters: dict[str, Any], *, person_id: str | None, now: datetime
) -> Insert:
    """The audit entry of reading the audit log itself (`khaibao audit`): it shows who
    looked at whom, so reading it is a read of personal data too. The filters go in
    `params`, except a person's id, which goes where erasure and the citizen's access log
    find it (`person_id`): erasing the person then leaves no trace of whom was looked up."""
    entry_id = new_id("aud")
    log_event(log, "audit log read", audit_id=entry_id, user=principal.subject, params=filters)
    return Insert(
        "audit_log",
        {
            "_id": entry_id,
            "user": principal.subject,
            "role": principal.role,
            "action": "audit.read",
            "params": filters,
            **({"person_id": person_id} if person_id is not None else {}),
            "at": now,
            "expires_at": now + AUDIT_RETENTION,
        },
    )


@dataclass(frozen=True)
class AuditQuery:
    """What an inspector asks of the audit log; days are Vietnam's, `until` included."""

    limit: int
    user: str | None = None
    action: str | None = None
    action_prefix: str | None = None
    report: str | None = None
    person_id: str | None = None
    since: date | None = None
    until: date | None = None

    def params(self) -> dict[str, Any]:
        """The filters for the read's own audit entry: all but the person's id, which the
        entry keeps apart (`audit_read_entry`), and a mark that one was given."""
        shown: dict[str, Any] = {
            "user": self.user,
            "action": self.action,
            "action_prefix": self.action_prefix,
            "report": self.report,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
        }
        params = {name: value for name, value in shown.items() if value is not None}
        if self.person_id is not None:
            params["person"] = True
        return {**params, "limit": self.limit}


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time(), VIETNAM)


class PersonScans(Protocol):
    """A person's checkpoint scans in a window, newest first
    (`checkpoints.repository.scans_of_person_between`). The checkpoints domain sits above
    reports, which may not import it: the app hands the query down."""

    def __call__(
        self,
        store: Store,
        person_id: str,
        *,
        since: datetime | None,
        until: datetime | None,
        limit: int,
    ) -> Awaitable[list[Document]]: ...


SCAN = "scan"  # the action a scan is shown as: staff saw the person's status at a checkpoint


def scan_entry(scan: Document) -> Document:
    """A scan as an audit entry reads: the staff account that scanned, the checkpoint as
    its target, the verdict in `params`. Scans are kept in their own collection (the
    citizen's access log reads them there too); this is how `--person` shows them."""
    return {
        "_id": scan["_id"],
        "user": scan.get("staff_id"),
        "role": "checkpoint_staff",
        "action": SCAN,
        "target": scan.get("checkpoint_id"),
        "person_id": scan.get("person_id"),
        "params": {"decision": scan.get("decision"), "reason_code": scan.get("reason_code")},
        "at": scan["at"],
    }


def _shows_scans(query: AuditQuery) -> bool:
    """Whether the query's filters admit a scan: asked about one person, and not about a
    report or an action other than `scan`."""
    if query.person_id is None or query.report is not None:
        return False
    if query.action is not None:
        return query.action == SCAN
    return query.action_prefix is None or SCAN.startswith(query.action_prefix)


async def read_audit_log(
    store: Store,
    reader: Principal,
    query: AuditQuery,
    *,
    fetch: int,
    person_scans: PersonScans | None = None,
    now: datetime | None = None,
) -> list[Document]:
    """The entries `query` asks for, newest first, at most `fetch`; the read's own entry is
    written first, as a report's is: no entry, no read. With `person_scans`, a query about
    one person also lists the checkpoint scans of their codes (`scan_entry`): who saw this
    record includes the staff who scanned it."""
    at = now or utcnow()
    await store.write([audit_read_entry(reader, query.params(), person_id=query.person_id, now=at)])
    since = _start_of(query.since) if query.since else None
    until = _start_of(query.until + timedelta(days=1)) if query.until else None
    entries = await repository.audit_entries(
        store,
        user=query.user,
        action=query.action,
        action_prefix=query.action_prefix,
        report=query.report,
        person_id=query.person_id,
        since=since,
        until=until,
        limit=fetch,
    )
    if person_scans is None or query.person_id is None or not _shows_scans(query):
        return entries
    scans = await person_scans(store, query.person_id, since=since, until=until, limit=fetch)
    entries += [
        scan_entry(scan)
        for scan in scans
        if query.user is None or scan.get("staff_id") == query.user
    ]
    entries.sort(key=lambda entry: entry["at"], reverse=True)
    return entries[:fetch]
