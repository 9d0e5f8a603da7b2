"""Every byte the active backend holds for an app, for tests that personal data is never
stored in clear, whichever database is in use."""

from __future__ import annotations

import bson
from pymongo import MongoClient

from core.context import Context


async def raw_storage(ctx: Context) -> bytes:
    """The SQLite file with its WAL and shared memory as they are on disk (free pages, old
    page versions and the text index's tables included), or every document of every
    collection of the MongoDB database, read straight through pymongo as BSON."""
    settings = ctx.settings
    if not settings.is_mongodb:
        path = settings.sqlite_path
        files = sorted(path.parent.glob(path.name + "*"))
        return b"".join(f.read_bytes() for f in files if f.is_file())
    name = ctx.store.database.name  # type: ignore[attr-defined]
    client: MongoClient[dict[str, object]] = MongoClient(settings.database_url)
    try:
        database = client[name]
        return b"".join(
            bson.encode(document)
            for collection in database.list_collection_names()
            for document in database[collection].find({})
        )
    finally:
        client.close()
