"""What each audit entry says, in words an inspector reads without the source at hand.

`khaibao audit` keeps the raw `action` for scripts and adds these phrases beside it. Every
action the service writes has one here: `tests/reports/test_audit_phrases.py` scans the
source for the calls that write audit entries and fails on an action without a phrase.
"""

from __future__ import annotations

from typing import get_args

from core.storage import Document
from reports.audit import ReportName

PHRASES: dict[str, str] = {
    "audit.read": "Read the audit log",
    "case_backdated": "Moved a case's confirmation to an earlier date",
    "case_confirmed": "Confirmed a person as a case",
    "case_record_shown": "Saw a person's masked record among those with one identity number",
    "checkpoint.create": "Created a checkpoint",
    "entry_point.put": "Created or changed an entry point",
    "entry_point.retire": "Retired an entry point",
    "monitoring_close": "Closed a person's medical monitoring",
    "monitoring_contact": "Saw a monitored person's name, phone and address to call or visit",
    "monitoring_open": "Opened a person's medical monitoring",
    "monitoring_report": "Recorded a medical monitoring report for a person",
    "monitoring_worklist": "Saw a person on the medical monitoring worklist",
    "organisation.create": "Created an organisation",
    "organisation_status_read": "Read a consenting person's health status colour",
    "qr.keys.remove": "Removed a QR code signing key",
    "qr.keys.rotate": "Rotated the QR code signing key",
    "question.answered": "Answered a citizen's question",
    "question.duplicate": "Marked a citizen's question as a duplicate of an answered one",
    "question.published": "Answered a citizen's question and published it in the FAQ",
    "question.received": "Asked a question",
    "question.rejected": "Rejected a citizen's question",
    "question_read": "Saw a citizen's question in the queue or a search",
    "questions.read": "Read the queue of citizens' questions",
    "rights.account_erased": "Erased their own account",
    "rights.faq_unpublished": "Took out of the FAQ the entries showing an erased asker's words",
    "rights.person_erased": "Erased a person's record",
    "scan": "Scanned the person's QR code at a checkpoint (the verdict in params)",
    "staff.create": "Created a staff account",
    "staff.disable": "Disabled a staff account",
    "staff.enable": "Enabled a staff account",
    "staff.reset_password": "Reset a staff account's password",
    "staff.sign_in.locked": "Locked a staff sign-in after repeated wrong passwords",
    "staff.update": "Changed a staff account's role, area, checkpoints or organisation",
    "trust.dcc_csca.delete": "Stopped trusting a country's certificate authority (EU DCC)",
    "trust.dcc_csca.put": "Trusted a country's certificate authority (EU DCC)",
    "trust.dcc_revocations.delete": "Removed a revocation list of EU DCC certificates",
    "trust.dcc_revocations.put": "Replaced a revocation list of EU DCC certificates",
    "trust.dcc_signer.delete": "Stopped trusting an EU DCC signing certificate",
    "trust.dcc_signer.put": "Trusted an EU DCC signing certificate",
    "trust.refresh": "Refreshed the trusted certificates from a published trust list",
    "trust.shc_issuer.delete": "Stopped trusting a SMART Health Card issuer",
    "trust.shc_issuer.put": "Trusted a SMART Health Card issuer",
}
# A report request is an entry with `report` and no `action` (`record_report_request`).
REPORT_PHRASES: dict[str, str] = {
    report: f"Requested the {report} report" for report in get_args(ReportName)
}


def describe(entry: Document) -> str:
    """The entry's phrase; an action without one (written by a newer version, or one this
    table missed) shows as its raw name, never as a blank."""
    action = entry.get("action")
    if isinstance(action, str):
        return PHRASES.get(action, action)
    report = entry.get("report")
    if isinstance(report, str):
        return REPORT_PHRASES.get(report, f"Requested the {report} report")
    return ""
