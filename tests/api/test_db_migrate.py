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
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from core.storage import Index
from core.storage.factory import migrate
from reports.repository import AUDIT_LOG
from runtime.collections import COLLECTIONS
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


class TestRetiredIndexes:
    """An upgrade leaves behind the indexes the older version made: `db migrate` names
    them, `db migrate --drop-retired` drops them, and an index the service did not name
    stays whatever the flag."""

    @pytest.fixture(params=["sqlite", "mongo"])
    def url(self, request: pytest.FixtureRequest, tmp_path: Path) -> str:
        if request.param == "sqlite":
            return f"sqlite:///{tmp_path}/k.sqlite3"
        return _fresh(request.getfixturevalue("mongo_url"))

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
