"""Whether a staff access token still speaks for its account: not disabled, and issued at
the account's current token version (a disable, a password reset, a new role or area bumps
it). Checked on every staff request, against a per-process cache that lives
`KHAIBAO_STAFF_CHECK_SECONDS`, so a busy scanner costs one read per account per interval.

Citizens' tokens are not checked on every request: no operator action changes a citizen
account, and the declaration path is the one a surge is made of. Only where a citizen's
write would create a new record for the account (a person's first declaration, a question)
is the account read (`ensure_account_exists`): a token outlives `DELETE /v1/me` by its
minutes, and must not store data under an erased id that nobody can see, export or erase.
That read can be made just before an erasure takes the account, so the write itself carries
`account_held`: it commits only while the account is there. A returning person's
declaration carries neither (the surge's path): it writes the person, whose own erasure
comes after the account's and deletes their declarations by person."""

from __future__ import annotations

import time

from accounts import repository
from core.context import Context
from core.errors import Unauthenticated
from core.i18n import Text, problem_more
from core.principals import Principal, Role
from core.storage import Update

_CACHE_MAX = 10_000

_ENDED = Text(
    "This session has ended: the account was changed or disabled. Sign in again.",
    "Phiên đăng nhập đã kết thúc: tài khoản đã thay đổi hoặc bị khóa. Vui lòng đăng nhập lại.",
)


class AccountErased(Unauthenticated):
    """A citizen's access token that outlived its account (`DELETE /v1/me`), on a write that
    would create a record for the account. A 401 like any token that no longer speaks for
    an account (the app signs in again); its own code tells the app to drop what it queued
    for the erased account rather than send it again."""

    code = "account_erased"
    title = Text("Account erased", "Tài khoản đã bị xoá", more=problem_more("account_erased", 0))
    detail = Text(
        "This account was erased, so nothing was saved. Sign in again to start a new one.",
        "Tài khoản này đã bị xoá nên chưa có gì được lưu. Hãy đăng nhập lại để bắt đầu lại.",
        more=problem_more("account_erased", 1),
    )


class StaffStandings(dict[str, tuple[tuple[int, Role] | None, float]]):
    """Per process (in the context's caches): account id -> (token version and role of the
    live account, or None when it cannot sign in; when that was read)."""


def forget(ctx: Context, subject: str) -> None:
    """Reread this account on its next request (it was just changed in this process)."""
    ctx.caches.of(StaffStandings).pop(subject, None)


async def ensure_current(ctx: Context, principal: Principal) -> None:
    """401 when a staff token's account is disabled, gone, or changed since it was issued.
    The runtime hangs this on the context (`Context.sessions`), where the web kit calls it."""
    if principal.role == "citizen":
        return
    cache = ctx.caches.of(StaffStandings)
    now = time.monotonic()
    hit = cache.get(principal.subject)
    if hit is None or now - hit[1] >= ctx.settings.staff_check_seconds:
        user = await repository.staff_by_id(ctx.store, principal.subject)
        live = None
        if user is not None and not user.get("disabled"):
            live = (int(user.get("token_version", 0)), user["role"])
        if len(cache) >= _CACHE_MAX:
            cache.pop(next(iter(cache)))
        hit = cache[principal.subject] = (live, now)
    if hit[0] != (principal.version, principal.role):
        raise Unauthenticated(_ENDED)


async def ensure_account_exists(ctx: Context, citizen: Principal) -> None:
    """401 `account_erased` when the citizen's account is gone: one read by primary key,
    called only where a write would create a new record for the account (see the module
    doc). The write carries `account_held` too, for an erasure that takes the account after
    this read."""
    if await repository.account(ctx.store, citizen.subject) is None:
        raise AccountErased()


def account_held(account_id: str) -> Update:
    """A precondition for a batch that creates a record under a citizen's account (a
    person's first declaration, a question): it matches only while the account exists, so a
    batch committed after `DELETE /v1/me` took the account rolls back whole
    (`PreconditionFailed` on "accounts", which the caller answers with `AccountErased`).
    Erasure takes the account first, in a write of its own, then reads what the account
    holds, so whatever committed before it is found and erased.

    It counts, rather than only looks: on MongoDB a transaction that merely read the
    account would not conflict with the erasure's delete of it (snapshot isolation checks
    writes against writes) and could commit after the erasure read its list. Writing the
    account document makes the two meet; SQLite commits one batch at a time anyway. The
    count is never shown (the export lists the account's fields by name)."""
    return Update("accounts", account_id, inc={"holds": 1}, must_match=True)
