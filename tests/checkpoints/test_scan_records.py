"""What a scan leaves behind: every allow and deny stored and counted for the reports."""

from __future__ import annotations

from typing import Any

import httpx

from core.clock import local_day, utcnow
from core.context import Context
from core.storage import Store
from reports.folding import fold_pending
from tests.checkpoints.helpers import scan


async def _scans(store: Store, checkpoint_id: str) -> list[dict[str, Any]]:
    return await store.find("scans", {"checkpoint_id": checkpoint_id}, sort=[("at", 1)])


class TestEveryScanIsRecordedAndCounted:
    async def test_allow_and_deny_are_stored_and_counted(
        self, client: httpx.AsyncClient, ctx: Context, scene: dict[str, Any]
    ) -> None:
        checkpoint_id = scene["checkpoint_id"]
        await scan(client, scene["staff"], checkpoint_id, scene["token"])
        await scan(client, scene["staff"], checkpoint_id, "garbage")
        stored = await _scans(ctx.store, checkpoint_id)
        assert [(s["decision"], s["reason_code"]) for s in stored] == [
            ("allow", "ok"),
            ("deny", "malformed"),
        ]
        assert stored[0]["person_id"] == scene["person_id"]
        assert stored[1]["person_id"] is None
        assert stored[0]["staff_id"] == stored[1]["staff_id"]
        day = local_day(utcnow()).isoformat()
        await fold_pending(ctx.store)  # as a report does before it reads
        for decision in ("allow", "deny"):
            counter = await ctx.store.get(
                "report_counters", f"cp|{day}|{checkpoint_id}|scan|{decision}"
            )
            assert counter is not None
            assert counter["n"] == 1
