"""The SQLite writer alone, without HTTP: concurrent writers each saving a declaration-sized
batch (a ~1 KB document and two counter upserts, in one atomic write), with group commit on
and off. This isolates what group commit is for — sharing one fsync among many writes —
from the CPU cost of the HTTP and validation layers, which on a small machine can cap the
end-to-end rate below what the disk allows and hide the difference."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from pathlib import Path

from core.clock import new_id, utcnow
from core.storage import CollectionSpec, Index, Insert, Operation, Update
from core.storage.sqlite import SqliteStore
from load.outcomes import percentile

SPECS = (
    CollectionSpec(
        "bench_declarations",
        indexes=(Index(("person_id", "created_at")),),
        datetime_fields=frozenset({"created_at"}),
    ),
    CollectionSpec("bench_counters"),
)


@dataclass
class StorageResult:
    group_commit: bool
    writers: int
    writes_per_second: float
    p50_ms: float | None
    p99_ms: float | None


def _batch(index: int) -> list[Operation]:
    document = {
        "_id": new_id("dec"),
        "person_id": f"per_{index % 5000}",
        "created_at": utcnow(),
        "answers": {"symptoms": ["fever"], "street": "12 Tràng Tiền " + "x" * 900},
    }
    day = utcnow().date().isoformat()
    return [
        Insert("bench_declarations", document),
        Update("bench_counters", f"{day}|{index % 34}", inc={"n": 1}, upsert=True),
        Update("bench_counters", f"{day}|{index % 34}|green", inc={"n": 1}, upsert=True),
    ]


async def _run(path: Path, group_commit: bool, writers: int, seconds: float) -> StorageResult:
    store = SqliteStore(path, group_commit=group_commit)
    await store.start(SPECS)
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    counter = iter(range(10**9))

    async def writer() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await store.write(_batch(next(counter)))
            latencies.append((time.perf_counter() - started) * 1000)

    began = time.perf_counter()
    try:
        await asyncio.gather(*(writer() for _ in range(writers)))
    finally:
        await store.close()
    elapsed = time.perf_counter() - began
    return StorageResult(
        group_commit=group_commit,
        writers=writers,
        writes_per_second=len(latencies) / elapsed,
        p50_ms=percentile(latencies, 0.50),
        p99_ms=percentile(latencies, 0.99),
    )


def storage_bench(
    directory: Path, *, writers: int = 64, seconds: float = 5.0
) -> list[StorageResult]:
    results = []
    for group_commit in (True, False):
        path = directory / f"storage-{'on' if group_commit else 'off'}.sqlite3"
        results.append(asyncio.run(_run(path, group_commit, writers, seconds)))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    return results


def storage_table(results: list[StorageResult]) -> str:
    lines = [
        "| SQLite store alone | writers | atomic writes/s | p50 | p99 |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in results:
        label = "group commit on" if r.group_commit else "group commit off (one fsync each)"
        p50 = "—" if r.p50_ms is None else f"{r.p50_ms:.1f} ms"
        p99 = "—" if r.p99_ms is None else f"{r.p99_ms:.1f} ms"
        lines.append(f"| {label} | {r.writers} | {r.writes_per_second:,.0f} | {p50} | {p99} |")
    on = next((r for r in results if r.group_commit), None)
    off = next((r for r in results if not r.group_commit), None)
    if on and off and off.writes_per_second:
        ratio = on.writes_per_second / off.writes_per_second
        lines.append("")
        lines.append(f"Group commit at the storage layer: **{ratio:.1f}×** the writes per second.")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        print(storage_table(storage_bench(Path(tmp), seconds=float(os.environ.get("S", "5")))))
