"""Whether a staff access token still speaks for its account: not disabled, and issued at
the account's current token version (a disable, a password reset, a new role or area bumps
it). Checked on every staff request, against a per-process cache that lives
`KHAIBAO_STAFF_CHECK_SECONDS`, so a busy scanner costs one read per account per interval.

Citizens' tokens are not checked: no operator action changes a citizen account, and the
declaration path is the one a surge is made of."""

from __future__ import annotations

import time
import weakref

from accounts import repository
from core.context import Context
from core.errors import Text, Unauthenticated
from core.principals import Principal, Role
from core.storage import Store

# subject -> (version and role of the live account, or None if it cannot sign in; when read)
_Standing = tuple[tuple[int, Role] | None, float]
_caches: weakref.WeakKeyDictionary[Store, dict[str, _Standing]] = weakref.WeakKeyDictionary()
_CACHE_MAX = 10_000

_ENDED = Text(
    "This session has ended: the account was changed or disabled. Sign in again.",
    "Phiên đăng nhập đã kết thúc: tài khoản đã thay đổi hoặc bị khóa. Vui lòng đăng nhập lại.",
)


def _cache_for(store: Store) -> dict[str, _Standing]:
    cache = _caches.get(store)
    if cache is None:
        cache = _caches[store] = {}
    return cache


def forget(store: Store, subject: str) -> None:
    """Reread this account on its next request (it was just changed in this process)."""
    _cache_for(store).pop(subject, None)


async def ensure_current(ctx: Context, principal: Principal) -> None:
    """401 when a staff token's account is disabled, gone, or changed since it was issued."""
    if principal.role == "citizen":
        return
    cache = _cache_for(ctx.store)
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
