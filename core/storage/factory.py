"""Choose the adapter from `KHAIBAO_DATABASE_URL`."""

from __future__ import annotations

from collections.abc import Sequence

from pymongo.uri_parser import parse_uri

from core.settings import DEFAULT_DATABASE_URL, Settings
from core.storage.port import CollectionSpec, DatabaseDirectoryMissing, DataStep, Store


def check_database_directory(settings: Settings) -> None:
    """Refuse a SQLite file in a directory that does not exist: a mistyped path would start
    the service on a new, empty database. The default's `var/` is the exception, since `make
    run` on a fresh clone starts there; `khaibao db migrate` creates what it is told to."""
    if settings.is_mongodb or settings.database_url == DEFAULT_DATABASE_URL:
        return
    directory = settings.sqlite_path.parent
    if not directory.is_dir():
        raise DatabaseDirectoryMissing(str(directory))


def open_store(settings: Settings) -> Store:
    if settings.is_mongodb:
        from core.storage.mongo import MongoStore

        # The database named in the URL (`mongodb://host/khaibao?...`), else `khaibao`.
        name = parse_uri(settings.database_url).get("database") or "khaibao"
        return MongoStore(
            settings.database_url,
            write_concern=settings.mongodb_write_concern,
            read_concern=settings.mongodb_read_concern,
            timeout_ms=settings.mongodb_timeout_ms,
            database=name,
        )
    from core.storage.sqlite import SqliteStore

    return SqliteStore(settings.sqlite_path, group_commit=settings.group_commit)


async def migrate(
    settings: Settings,
    specs: Sequence[CollectionSpec],
    *,
    steps: Sequence[DataStep] = (),
    drop_retired: bool = False,
) -> list[str]:
    """`khaibao db migrate`: create the collections and indexes `specs` declare (and, on a
    sharded cluster, shard them), and name the indexes of an older version that they no
    longer declare, or with `drop_retired` drop them; then run each data `step` on what an
    older version stored. What was done, one line each: a step that changed nothing (a
    second run) says nothing."""
    store = open_store(settings)
    try:
        done = await store.migrate(specs, drop_retired=drop_retired)
        if steps:
            await store.start(specs)  # the schema is there now: start only checks it
            for step in steps:
                changed = await step.run(store, settings)
                if changed:
                    done.append(f"brought {changed} documents up to date: {step.name}")
        return done
    finally:
        await store.close()


async def missing(settings: Settings, specs: Sequence[CollectionSpec]) -> list[str]:
    """What `khaibao db migrate` has yet to create (always nothing on SQLite, where the
    service creates it at start-up)."""
    if not settings.is_mongodb:
        return []
    from core.storage.mongo import MongoStore

    store = open_store(settings)
    assert isinstance(store, MongoStore)
    try:
        return await store.missing(specs)
    finally:
        await store.close()
