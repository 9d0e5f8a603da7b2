"""`GET /v1/me/access-log`: who looked at the account's people, when, and what they did.

Derived from records that exist anyway, so no read path writes anything for it:
* scans of a person's code, from `scans` by `person_id` (the scan path is unchanged: its
  one write already names the person, the checkpoint and the time);
* staff's reads of a person's record (an officer's monitoring view or call, a health
  officer confirming the person as a case, or seeing their record masked among those with
  the same identity number) and an organisation's reads of a consenting person's colour,
  from the audit entries those reads and acts write in their own batch
  (`reports.audit.access_entry`), by `person_id`;
* an operator's look-up of who did so (`khaibao audit --person`), from the entry that
  read writes (`reports.audit.audit_read_entry`);
* responders' reads of the account's questions (the queue and its search), from the entry
  each page shown writes per question, by `account_id` (`questions.service.queue`).
Who is a role and a checkpoint or an organisation, never a staff member's name or id.
"""

from __future__ import annotations

from checkpoints import repository as checkpoints_repository
from core.context import Context
from core.i18n import Text
from core.principals import Principal
from people.repository import people_of_account
from reports import repository as reports_repository
from rights import repository
from rights.schemas import AccessEntry, AccessLog

PER_PERSON = 200
ENTRIES = 500

_WHAT: dict[str, Text] = {
    "scan": Text("Scanned the QR code at a checkpoint", "Quét mã QR tại chốt kiểm soát"),
    "monitoring_worklist": Text(
        "Saw the person on a medical monitoring worklist",
        "Xem người này trong danh sách theo dõi y tế",
    ),
    "monitoring_open": Text(
        "Opened a medical monitoring of the person", "Mở đợt theo dõi y tế cho người này"
    ),
    "monitoring_contact": Text(
        "Saw the name, phone and address to call or visit for medical monitoring",
        "Xem họ tên, số điện thoại và địa chỉ để gọi điện hoặc đến thăm khi theo dõi y tế",
    ),
    "monitoring_report": Text(
        "Recorded a medical monitoring report", "Ghi nhận báo cáo theo dõi y tế"
    ),
    "monitoring_close": Text("Closed the medical monitoring", "Kết thúc theo dõi y tế"),
    "case_confirmed": Text(
        "Confirmed as a case (status red)", "Xác nhận là ca bệnh (trạng thái đỏ)"
    ),
    "case_backdated": Text(
        "Moved the case's confirmation to an earlier date",
        "Chuyển ngày xác nhận ca bệnh về ngày sớm hơn",
    ),
    "case_record_shown": Text(
        "Saw the record masked (initials, birth year, area) among those with this identity "
        "number, while confirming a case",
        "Xem hồ sơ đã che (chữ cái đầu, năm sinh, khu vực) trong các hồ sơ mang số định danh "
        "này, khi xác nhận ca bệnh",
    ),
    "audit.read": Text(
        "Looked up in the audit log who saw or acted on the person's record",
        "Tra cứu nhật ký kiểm toán xem ai đã xem hoặc xử lý hồ sơ của người này",
    ),
    "question_read": Text(
        "A responder saw your question in their work queue",
        "Cán bộ trả lời đã xem câu hỏi của bạn trong danh sách cần xử lý",
    ),
    "organisation_status_read": Text(
        "Read the health status colour (with your consent)",
        "Xem màu trạng thái sức khoẻ (theo sự đồng ý của bạn)",
    ),
}
_VIEWED = Text("Viewed the record", "Xem hồ sơ")


async def access_log(ctx: Context, citizen: Principal, *, lang: str) -> AccessLog:
    entries: list[AccessEntry] = []
    checkpoint_names: dict[str, str | None] = {}
    organisation_names: dict[str, str | None] = {}
    for person in await people_of_account(ctx.store, citizen.subject):
        person_id = str(person["_id"])
        for scan in await checkpoints_repository.all_scans_of_person(
            ctx.store, person_id, limit=PER_PERSON
        ):
            checkpoint_id = str(scan["checkpoint_id"])
            if checkpoint_id not in checkpoint_names:
                found = await checkpoints_repository.checkpoint(ctx.store, checkpoint_id)
                checkpoint_names[checkpoint_id] = str(found["name"]) if found else None
            entries.append(
                AccessEntry(
                    at=scan["at"],
                    person_id=person_id,
                    action="scan",
                    what=_WHAT["scan"].pick(lang),
                    role="checkpoint_staff",
                    checkpoint_id=checkpoint_id,
                    checkpoint_name=checkpoint_names[checkpoint_id],
                    decision=str(scan["decision"]),
                )
            )
        for read in await reports_repository.access_entries(ctx.store, person_id, limit=PER_PERSON):
            organisation_id = read.get("organisation")
            if isinstance(organisation_id, str) and organisation_id not in organisation_names:
                found = await repository.organisation(ctx.store, organisation_id)
                organisation_names[organisation_id] = str(found["name"]) if found else None
            action = str(read.get("action"))
            entries.append(
                AccessEntry(
                    at=read["at"],
                    person_id=person_id,
                    action=action,
                    what=_WHAT.get(action, _VIEWED).pick(lang),
                    role=str(read.get("role")),
                    organisation_id=organisation_id if isinstance(organisation_id, str) else None,
                    organisation_name=organisation_names.get(str(organisation_id)),
                )
            )
    for read in await reports_repository.account_access_entries(
        ctx.store, citizen.subject, limit=ENTRIES
    ):
        action = str(read.get("action"))
        entries.append(
            AccessEntry(
                at=read["at"],
                person_id=None,
                question_id=read.get("subject_id"),
                action=action,
                what=_WHAT.get(action, _VIEWED).pick(lang),
                role=str(read.get("role")),
            )
        )
    entries.sort(key=lambda entry: entry.at, reverse=True)
    return AccessLog(items=entries[:ENTRIES])
