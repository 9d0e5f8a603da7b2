"""What an entry declaration keeps in clear: nothing that names the traveller."""

from __future__ import annotations

import httpx

from core.context import Context
from core.settings import Settings
from tests.entry.conftest import family, submit
from tests.stored_bytes import raw_storage

PERSONAL = [
    "Kim Min-jun",
    "Kim Ji-woo",
    "M12345678",
    "M87654321",
    "+821012345678",
    "m@example.kr",
    "1 Tràng Tiền",
]
COLLECTIONS = [
    "entry_declarations",
    "idempotency",
    "monitoring_episodes",
    "monitoring_arrivals",
    "qr_tokens",
    "entry_scans",
]


async def test_no_personal_data_in_any_stored_document(
    ctx: Context, client: httpx.AsyncClient, settings: Settings
) -> None:
    declared = await submit(client, family())
    assert declared.status_code == 201
    stored = []
    for collection in COLLECTIONS:
        stored += await ctx.store.find(collection, {})
    assert any(doc.get("_id") == declared.json()["id"] for doc in stored)
    text = repr(stored)
    for value in PERSONAL:
        assert value not in text
    for value in PERSONAL:
        assert value not in declared.json()["token"]


async def test_no_byte_the_database_holds_is_personal_data(
    ctx: Context, client: httpx.AsyncClient
) -> None:
    """Beyond the entry collections above: every collection, and on SQLite every byte of
    the file and its WAL (free pages, the text index's tables)."""
    declared = await submit(client, family())
    assert declared.status_code == 201
    raw = await raw_storage(ctx)
    assert declared.json()["id"].encode() in raw  # the search sees what is stored
    for value in PERSONAL:
        assert value.encode() not in raw
