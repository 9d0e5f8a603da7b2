"""How other domains reach a citizen without keeping their phone number: they keep the
account id, and the phone is decrypted only to be handed to the notification outbox,
which encrypts it again."""

from __future__ import annotations

from accounts import repository
from core.context import Context


async def phone_of(ctx: Context, account_id: str) -> str | None:
    """The account's phone, or None when the account is gone."""
    account = await repository.account(ctx.store, account_id)
    if account is None or not account.get("phone_enc"):
        return None
    return ctx.cipher.decrypt(account["phone_enc"], context=repository.PHONE_CONTEXT)
