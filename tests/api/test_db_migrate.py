"""`khaibao db migrate` and the start-up check (issue 26, finding 6): collections and
indexes are made once, by the command, not by every process; a process on a database the
command has not prepared refuses to start in one line that says what to run."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

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
