"""Expected outcomes of declaring, beyond the shared ones in `core.errors`."""

from __future__ import annotations

from core.errors import AppError, Overloaded
from core.i18n import Text, wait_more
from core.idempotency import IDEMPOTENCY_KEY_RULE


class IdempotencyKeyMissing(AppError):
    status = 400
    code = "idempotency_key_missing"
    title = Text("Idempotency-Key required", "Thiếu Idempotency-Key")
    detail = Text(
        "Send an Idempotency-Key header, unique per declaration, so a retry is not counted twice.",
        "Hãy gửi header Idempotency-Key, mỗi tờ khai một khóa, để gửi lại không bị tính hai lần.",
    )


class IdempotencyKeyInvalid(AppError):
    status = 400
    code = "idempotency_key_invalid"
    title = Text("Invalid Idempotency-Key", "Idempotency-Key không hợp lệ")
    detail = Text(
        "The Idempotency-Key may hold only {characters}, {min} to {max} characters.",
        "Idempotency-Key chỉ gồm các ký tự {characters}, dài {min} đến {max} ký tự.",
    ).fill(**IDEMPOTENCY_KEY_RULE)


class DeclarationContended(Overloaded):
    code = "declaration_contended"
    title = Text("Try again", "Vui lòng thử lại")
    detail = Text(
        "This person's record changed while saving. Nothing was saved; send it again.",
        "Hồ sơ của người này vừa thay đổi khi lưu. Chưa có gì được lưu; vui lòng gửi lại.",
    )


class TooManyPeople(AppError):
    status = 409
    code = "too_many_people"
    title = Text("Too many people on this account", "Tài khoản đã khai cho quá nhiều người")
    detail = Text(
        "This account already declares for as many people as allowed. Nothing was saved.",
        "Tài khoản này đã khai báo cho số người tối đa. Chưa có gì được lưu.",
    )


# Why a declaration was refused as too many (`RateLimited`), by whose limit it passed.
TOO_OFTEN = {
    "account": Text(
        "This account has sent too many declarations in the last hour. Try again {wait}.",
        "Tài khoản này đã gửi quá nhiều tờ khai trong một giờ qua. Vui lòng thử lại {wait}.",
        more=wait_more("declarations_account"),
    ),
    "person": Text(
        "Too many declarations for this person today. Try again {wait}.",
        "Người này đã được khai báo quá nhiều lần hôm nay. Vui lòng thử lại {wait}.",
        more=wait_more("declarations_person"),
    ),
}


class PersonBeingErased(AppError):
    """A declaration for the account's person whose erasure (`DELETE /v1/people/{id}`) began
    and was interrupted: the citizen asked for their data to go, so nothing is added to what
    is left, and no fresh person can stand beside the marked one (the same `_id`). Asking
    for the erasure again (`person_id`) finishes it; the declaration sent again then starts a
    new person."""

    status = 409
    code = "person_being_erased"
    title = Text("Erasure not finished", "Việc xoá dữ liệu chưa hoàn tất")
    detail = Text(
        "The erasure asked for this person (person_id) has not finished, so nothing was "
        "saved. Ask again to erase them, then send the declaration again.",
        "Việc xoá dữ liệu của người này (person_id) đã được yêu cầu nhưng chưa hoàn tất nên "
        "chưa có gì được lưu. Hãy yêu cầu xoá lại, rồi gửi lại tờ khai.",
    )

    def __init__(self, person_id: str) -> None:
        super().__init__(extra={"person_id": person_id})


class SecondAccountHolder(AppError):
    """A declaration with `person.relation` self (the default) and an identity number other
    than the account holder's: the holder is one person, so this one is most likely a family
    member sent without their relation. `person_id` names the holder's record."""

    status = 409
    code = "self_already_declared"
    title = Text(
        "The account holder is already declared",
        "Chủ tài khoản đã được khai báo",
    )
    detail = Text(
        "This account already declares its holder (person.relation self) with another "
        "identity number, so nothing was saved. To declare for a family member, set "
        "person.relation to child, parent or other.",
        "Tài khoản này đã khai báo cho chủ tài khoản (person.relation là self) với số giấy "
        "tờ khác nên chưa có gì được lưu. Để khai báo cho người thân, hãy đặt "
        "person.relation là child, parent hoặc other.",
    )

    def __init__(self, person_id: str) -> None:
        super().__init__(extra={"person_id": person_id})
