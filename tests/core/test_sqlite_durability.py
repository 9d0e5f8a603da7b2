"""An acknowledged SQLite write survives `kill -9` of the process that made it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from core.storage.sqlite import SqliteStore
from tests.core.conftest import SPECS

WRITER = """
import asyncio, sys
from pathlib import Path
from core.storage import Insert
from core.storage.sqlite import SqliteStore
from tests.core.conftest import SPECS

async def main() -> None:
    store = SqliteStore(Path(sys.argv[1]))
    await store.start(SPECS)
    async def one(n: int) -> None:
        await store.write([Insert("counters", {"_id": f"w{n}", "n": n})])
        print(f"w{n}", flush=True)  # acknowledged: the write returned
    n = 0
    while True:  # many concurrent writers, so group commit is in play
        await asyncio.gather(*(one(n + i) for i in range(32)))
        n += 32

asyncio.run(main())
"""


def stored_counter_ids(database: Path) -> set[str]:
    """The ids in `counters`, read by a fresh store once the writing processes are gone."""

    async def read() -> set[str]:
        store = SqliteStore(database)
        await store.start(SPECS)
        try:
            return {d["_id"] for d in await store.find("counters", {})}
        finally:
            await store.close()

    return asyncio.run(read())


class TestKillNine:
    def test_every_acknowledged_write_is_there_after_sigkill(self, tmp_path: Path) -> None:
        database = tmp_path / "durable.sqlite3"
        process = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(database)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        assert process.stdout is not None
        acknowledged = []
        for line in process.stdout:
            acknowledged.append(line.strip())
            if len(acknowledged) >= 2000:
                break
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        acknowledged.extend(line.strip() for line in process.stdout)  # lines already printed

        stored = stored_counter_ids(database)
        assert process.returncode == -signal.SIGKILL
        assert len(acknowledged) >= 2000
        assert set(acknowledged) <= stored
