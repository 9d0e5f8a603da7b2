"""`khaibao db migrate` and the start-up check (issue 26, finding 6): collections and
indexes are made once, by the command, not by every process; a process on a database the
command has not prepared refuses to start in one line that says what to run."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sqlite3
import subprocess
import sys
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from core.clock import utcnow
from core.storage import Document, Index, Insert
from core.storage.factory import migrate, open_store
from reports.counters import COUNTERS
from reports.repository import AUDIT_LOG
from runtime.collections import COLLECTIONS, DATA_STEPS
from tests.conftest import make_settings

ROOT = Path(__file__).resolve().parents[2]


def khaibao(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KHAIBAO_")}
    env.update(KHAIBAO_ENV="test", KHAIBAO_DATABASE_URL=database_url)
    return subprocess.run(
        [str(Path(sys.executable).parent / "khaibao"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
        cwd=ROOT,
    )


def _fresh(mongo_url: str) -> str:
    head, _, query = mongo_url.partition("?")
    head = head.rstrip("/")
    if head.count("/") > 2:
        head = head.rsplit("/", 1)[0]
    return f"{head}/migrate_{uuid.uuid4().hex[:10]}" + (f"?{query}" if query else "")


class TestMigrateOnce:
    def test_serve_refuses_an_unmigrated_database_then_migrate_prepares_it(
        self, mongo_url: str
    ) -> None:
        url = _fresh(mongo_url)
        refused = khaibao("serve", "--port", "8099", database_url=url)
        assert refused.returncode == 2
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1, refused.stderr
        assert "khaibao db migrate" in lines[0]
        assert "collection people" in lines[0]

        migrated = khaibao("db", "migrate", database_url=url)
        assert migrated.returncode == 0, migrated.stderr
        assert "created collection people" in migrated.stdout
        assert "created index people.ttl_expires_at" in migrated.stdout

        again = khaibao("db", "migrate", database_url=url)
        assert again.returncode == 0, again.stderr
        assert again.stdout.splitlines()[0].startswith("database ready")

    def test_on_sqlite_migrate_is_optional_and_harmless(self, tmp_path: Path) -> None:
        url = f"sqlite:///{tmp_path}/k.sqlite3"
        for _ in range(2):
            migrated = khaibao("db", "migrate", database_url=url)
            assert migrated.returncode == 0, migrated.stderr


# audit_log as an older version declared it: two indexes besides today's that this one no
# longer declares. (Before issue 26's finding 8 they were by user and by report; those
# serve `khaibao audit` now, so two others stand in for them.)
OLDER = tuple(
    dataclasses.replace(
        spec, indexes=(Index(("role", "at")), Index(("subject_id", "at")), *spec.indexes)
    )
    if spec is AUDIT_LOG
    else spec
    for spec in COLLECTIONS
)


def _mongo(url: str) -> MongoClient[dict[str, Any]]:
    return MongoClient(url)


def _audit_log_indexes(url: str) -> set[str]:
    """The indexes of audit_log, as the database lists them."""
    settings = make_settings(url)
    if settings.is_mongodb:
        with _mongo(url) as client:
            audit_log = client.get_default_database()["audit_log"]
            return {index["name"] for index in audit_log.list_indexes()}
    conn = sqlite3.connect(settings.sqlite_path)
    try:
        rows = conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'audit_log'"
        ).fetchall()
    finally:
        conn.close()
    return {name for (name,) in rows}


def _index_by_hand(url: str) -> None:
    """An index an operator made on audit_log under a name of their own."""
    settings = make_settings(url)
    if settings.is_mongodb:
        with _mongo(url) as client:
            audit_log = client.get_default_database()["audit_log"]
            audit_log.create_index([("user", 1)], name="by_hand_user")
        return
    conn = sqlite3.connect(settings.sqlite_path)
    try:
        conn.execute("CREATE INDEX by_hand_user ON audit_log (json_extract(doc, '$.user'))")
    finally:
        conn.close()


@pytest.fixture(params=["sqlite", "mongo"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new database on each adapter, whichever KHAIBAO_TEST_BACKEND says."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/k.sqlite3"
    return _fresh(request.getfixturevalue("mongo_url"))


class TestRetiredIndexes:
    """An upgrade leaves behind the indexes the older version made: `db migrate` names
    them, `db migrate --drop-retired` drops them, and an index the service did not name
    stays whatever the flag."""

    def test_migrate_names_them_and_drops_them_when_told(self, url: str) -> None:
        asyncio.run(migrate(make_settings(url), OLDER))  # the older version's migration
        _index_by_hand(url)
        mongo = make_settings(url).is_mongodb
        ours = {"ix_role_at", "ix_subject_id_at"} if mongo else {
            "ix_audit_log_role_at", "ix_audit_log_subject_id_at"
        }  # fmt: skip
        before = _audit_log_indexes(url)
        assert ours | {"by_hand_user"} <= before

        named = khaibao("db", "migrate", database_url=url)
        assert named.returncode == 0, named.stderr
        lines = [line for line in named.stdout.splitlines() if "retired" in line]
        assert sorted(line.split(":")[0] for line in lines) == sorted(
            f"retired index audit_log.{name}" for name in ours
        )
        assert all("`khaibao db migrate --drop-retired` once no process" in x for x in lines)
        assert _audit_log_indexes(url) == before

        dropped = khaibao("db", "migrate", "--drop-retired", database_url=url)
        assert dropped.returncode == 0, dropped.stderr
        lines = [line for line in dropped.stdout.splitlines() if "retired" in line]
        assert sorted(lines) == sorted(f"dropped retired index audit_log.{n}" for n in ours)
        assert _audit_log_indexes(url) == before - ours

        again = khaibao("db", "migrate", database_url=url)
        assert again.returncode == 0, again.stderr
        assert "retired" not in again.stdout
        assert _audit_log_indexes(url) == before - ours


# report_counters as the version before partial indexes declared it: full indexes by
# checkpoint and by point of entry, which every counter's write kept up to date.
BEFORE_PARTIAL = tuple(
    dataclasses.replace(
        spec,
        indexes=(
            Index(("kind", "day")),
            Index(("kind", "province", "day")),
            Index(("kind", "checkpoint_id", "day")),
            Index(("kind", "point_of_entry", "day")),
        ),
    )
    if spec is COUNTERS
    else spec
    for spec in COLLECTIONS
)


def _counter_indexes(url: str) -> set[str]:
    """The indexes of report_counters, as the database lists them, without MongoDB's
    adapter-free `_id_` and SQLite's `ix_report_counters_` prefix."""
    settings = make_settings(url)
    if settings.is_mongodb:
        with _mongo(url) as client:
            counters = client.get_default_database()["report_counters"]
            names = {index["name"] for index in counters.list_indexes()} - {"_id_"}
            return {name.removeprefix("ix_") for name in names}
    conn = sqlite3.connect(settings.sqlite_path)
    try:
        rows = conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
            "AND name LIKE 'ix_%'",
            ("report_counters",),
        ).fetchall()
    finally:
        conn.close()
    return {name.removeprefix("ix_report_counters_") for (name,) in rows}


class TestCountersByCheckpointBecomePartial:
    """Upgrading a database the previous version migrated: `db migrate` builds the partial
    index by checkpoint, names the full ones by checkpoint and by point of entry retired,
    and drops them when told."""

    def test_migrate_builds_the_partial_index_and_retires_the_full_ones(self, url: str) -> None:
        asyncio.run(migrate(make_settings(url), BEFORE_PARTIAL))
        full = {"kind_checkpoint_id_day", "kind_point_of_entry_day"}
        partial = "kind_checkpoint_id_day_with_checkpoint_id"
        assert _counter_indexes(url) == {"kind_day", "kind_province_day", *full}
        mongo = make_settings(url).is_mongodb
        prefix = "ix_" if mongo else "ix_report_counters_"

        named = khaibao("db", "migrate", database_url=url)
        assert named.returncode == 0, named.stderr
        lines = [line for line in named.stdout.splitlines() if "retired" in line]
        assert sorted(line.split(":")[0] for line in lines) == sorted(
            f"retired index report_counters.{prefix}{name}" for name in full
        )
        if mongo:
            assert f"created index report_counters.{prefix}{partial}" in named.stdout
        assert _counter_indexes(url) == {"kind_day", "kind_province_day", partial, *full}

        dropped = khaibao("db", "migrate", "--drop-retired", database_url=url)
        assert dropped.returncode == 0, dropped.stderr
        assert _counter_indexes(url) == {"kind_day", "kind_province_day", partial}
        assert "retired" not in khaibao("db", "migrate", database_url=url).stdout


def _question(question_id: str, *, received: datetime, moved: datetime) -> Document:
    """A question as the version before questions expired stored it: no `expires_at`."""
    return {
        "_id": question_id,
        "asker": "acc_" + question_id,
        "locale": "vi",
        "kind": "question",
        "category": "declaration",
        "title": "Khai báo hộ được không?",
        "body": "Tôi khai báo cho mẹ tôi được không?",
        "province": 1,
        "ward": 70,
        "status": "answered" if moved > received else "received",
        "version": 1 if moved > received else 0,
        "received_at": received,
        "updated_at": moved,
    }


async def _stored_questions(url: str, *new: Document) -> dict[str, Document]:
    """Insert `new` (as an older version would have) and read every question back."""
    store = open_store(make_settings(url))
    await store.start(COLLECTIONS)
    try:
        if new:
            await store.write([Insert("questions", doc) for doc in new])
        return {doc["_id"]: doc for doc in await store.find("questions", {})}
    finally:
        await store.close()


async def _purge(url: str, now: datetime) -> int:
    """The worker's sweep on SQLite; MongoDB's TTL monitor, which the stand-in lacks."""
    store = open_store(make_settings(url))
    await store.start(COLLECTIONS)
    try:
        return await store.purge_expired(now)
    finally:
        await store.close()


class TestQuestionsStoredBeforeTheyExpired:
    """Questions stored before they got an `expires_at` were never deleted: `db migrate`
    gives each one the expiry the service gives a question now (the retention from its last
    answer or rejection, or its receipt), once, and the purge then deletes the old ones."""

    async def test_migrate_gives_them_an_expiry_once_and_the_purge_removes_the_old(
        self, url: str
    ) -> None:
        await migrate(make_settings(url), COLLECTIONS)  # the older version's deployment
        kept = timedelta(days=make_settings(url).retention_days)
        now = utcnow().replace(microsecond=0)
        old = _question("qst_old", received=now - 3 * kept, moved=now - 3 * kept)
        answered = _question("qst_answered", received=now - 2 * kept, moved=now - kept / 2)
        recent = _question(
            "qst_recent", received=now - timedelta(days=1), moved=now - timedelta(days=1)
        )
        current = {**recent, "_id": "qst_current", "expires_at": now + timedelta(days=3)}
        await _stored_questions(url, old, answered, recent, current)

        migrated = khaibao("db", "migrate", database_url=url)
        assert migrated.returncode == 0, migrated.stderr
        assert f"brought 3 documents up to date: {DATA_STEPS[0].name}" in migrated.stdout
        stored = await _stored_questions(url)
        assert stored["qst_old"]["expires_at"] == old["updated_at"] + kept
        # Counted from the answer, so the asker keeps the whole retention to read it.
        assert stored["qst_answered"]["expires_at"] == answered["updated_at"] + kept
        assert stored["qst_recent"]["expires_at"] == recent["received_at"] + kept
        assert stored["qst_current"]["expires_at"] == current["expires_at"]  # left as it was

        again = khaibao("db", "migrate", database_url=url)
        assert again.returncode == 0, again.stderr
        assert "brought" not in again.stdout
        assert await _stored_questions(url) == stored

        assert await _purge(url, now) == 1
        assert sorted(await _stored_questions(url)) == ["qst_answered", "qst_current", "qst_recent"]
