"""What an entry declaration keeps in clear: nothing that names the traveller."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from core.context import Context
from core.settings import Settings
from tests.entry.conftest import family, submit

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


@pytest.mark.skipif(os.environ.get("KHAIBAO_TEST_BACKEND") == "mongo", reason="SQLite file")
async def test_the_database_file_holds_no_personal_data(
    ctx: Context, client: httpx.AsyncClient, settings: Settings
) -> None:
    assert (await submit(client, family())).status_code == 201
    path = Path(str(settings.sqlite_path))
    raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    for value in PERSONAL:
        assert value.encode() not in raw
