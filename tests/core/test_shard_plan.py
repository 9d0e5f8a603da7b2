"""The shard plan can boot and run (issue 26, finding 2; docs/shard-plan.md).

On a stand-in `mongos` that refuses what a sharded cluster refuses (unique indexes not led
by the shard key, updates and upserts that do not name it, collections created inside a
transaction), `khaibao db migrate` shards every collection, and a citizen declares twice,
fetches a QR code and is scanned at a checkpoint, every write routed by its shard key.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from api.app import create_app
from core.context import Context
from core.storage.factory import migrate
from runtime.collections import COLLECTIONS
from tests.checkpoints.helpers import declare, new_checkpoint, person_token, scan, staff_for
from tests.conftest import make_settings, sign_in_citizen
from tests.mongo_standin import MongoStandin

Doc = dict[str, Any]
SPECS = {spec.name: spec for spec in COLLECTIONS}


def test_no_collection_has_a_unique_index_a_cluster_cannot_keep() -> None:
    refused = [reason for spec in COLLECTIONS for reason in spec.unshardable()]
    assert refused == []


def updates_in(log: list[Doc]) -> Iterator[tuple[str, Doc, bool]]:
    """(collection, filter, multi) of every update the stand-in received."""
    for command in log:
        if "update" in command and "updates" in command:
            for statement in command["updates"]:
                yield command["update"], statement.get("q") or {}, bool(statement.get("multi"))
        elif "bulkWrite" in command:
            namespaces = [ns["ns"].partition(".")[2] for ns in command.get("nsInfo", [])]
            for op in command.get("ops", []):
                if "update" in op:
                    yield namespaces[op["update"]], op.get("filter") or {}, bool(op.get("multi"))
        elif "findAndModify" in command:
            yield command["findAndModify"], command.get("query") or {}, False


@pytest.fixture
def cluster() -> Iterator[MongoStandin]:
    with MongoStandin(sharded=True) as standin:
        yield standin


async def test_a_citizen_declares_and_is_scanned_on_a_sharded_cluster(
    cluster: MongoStandin,
) -> None:
    settings = make_settings(
        f"mongodb://{cluster.host}:{cluster.port}/khaibao?directConnection=true"
    )
    await migrate(settings, COLLECTIONS)
    for spec in COLLECTIONS:
        expected = None if spec.shard_key is None else {spec.shard_key: "hashed"}
        assert cluster.backend.shard_key("khaibao", spec.name) == expected, spec.name
    cluster.backend.clear_log()

    app = create_app(settings)
    async with app.router.lifespan_context(app):
        ctx: Context = app.state.context
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            citizen = await sign_in_citizen(client)
            first = await declare(client, citizen, id_number="001190012345")
            again = await declare(client, citizen, id_number="001190012345")
            assert again["person_id"] == first["person_id"]
            token = await person_token(client, citizen, first["person_id"])
            checkpoint = await new_checkpoint(ctx, client)
            staff = await staff_for(ctx, client, checkpoint["id"])
            scanned = await scan(client, staff, checkpoint["id"], token)
            assert scanned["decision"] == "allow"

    seen = list(updates_in(list(cluster.backend.log)))
    assert seen  # the flow wrote through updates
    unrouted = [
        (collection, sorted(where))
        for collection, where, multi in seen
        if not multi
        and SPECS[collection].shard_key is not None
        and SPECS[collection].shard_key not in where
    ]
    assert unrouted == []
